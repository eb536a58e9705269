"""Answer types: what a question asks for, and whether a sentence holds it."""

from __future__ import annotations

import pytest

from qa.search.answer_type import AnswerType, expected_type, holds_type


@pytest.mark.parametrize(
    "question, wanted",
    [
        ("How many ships took part in the exercises?", AnswerType("count", "ship")),
        ("How many of the delegates spoke?", AnswerType("count", "deleg")),
        ("How old is Mohammad Baqeri?", AnswerType("age")),
        ("At what age did she retire?", AnswerType("age")),
        ("On what exact date will the exercises take place?", AnswerType("date")),
        ("How long did the visit last?", AnswerType("number")),
        ("What percentage of voters turned out?", AnswerType("number")),
        ("In which year did Iran join the organization?", AnswerType("year")),
        ("What year was the treaty signed?", AnswerType("year")),
        ("On what date did the visit begin?", AnswerType("date")),
        ("When was the first official visit?", AnswerType("time")),
        ("Who is Pakistan's army chief?", None),
        ("Where will the exercises be held?", None),
        ("What did the general say about ISIS?", None),
        ("Why did they meet?", None),
    ],
)
def test_expected_type(question: str, wanted: AnswerType | None) -> None:
    assert expected_type(question) == wanted


@pytest.mark.parametrize(
    "text, wanted, holds",
    [
        ("Twelve ships took part.", AnswerType("count", "ship"), True),
        ("Some 40 Iranian ships took part.", AnswerType("count", "ship"), True),
        # names the ships but counts something else
        ("Pakistani ships joined the exercises, which began two years ago.", AnswerType("count", "ship"), False),
        # counts under another name: the number stands
        ("A 20-member delegation arrived.", AnswerType("count", "peopl"), True),
        ("The four-day trip ended.", AnswerType("count", "day"), True),
        ("Coordination will take place immediately.", AnswerType("time"), True),
        ("The delegation arrived.", AnswerType("count", "peopl"), False),
        # a count of a unit of measure needs a unit of that measure, any unit of it
        ("The four-day trip ended.", AnswerType("count", "kilometr"), False),
        ("The border runs for 959 km.", AnswerType("count", "kilometr"), True),
        ("The border is about 600 miles long.", AnswerType("count", "kilometr"), True),
        ("Turnout rose 5 per cent.", AnswerType("count", "percent"), True),
        ("Turnout rose by five points.", AnswerType("count", "percent"), False),
        ("The four-day trip ended on Friday.", AnswerType("number"), True),
        ("He led the delegation.", AnswerType("number"), False),
        ("The 63-year-old general spoke.", AnswerType("age"), True),
        ("He retired aged 70.", AnswerType("age"), True),
        ("He is 58 years old.", AnswerType("age"), True),
        ("The four-day trip of the general ended.", AnswerType("age"), False),
        # news style: the age in apposition after a name; not a number after any comma
        ("Anil, 45, has stepped down as director.", AnswerType("age"), True),
        ("Mr Ebbers, 63, has always insisted he is innocent.", AnswerType("age"), True),
        ("The report, 12, was late.", AnswerType("age"), False),
        ("In 2003, 12 firms, 1,000, failed.", AnswerType("age"), False),
        ("Sales reached Spain, 1,200, and France.", AnswerType("age"), False),
        ("Iran joined in 2023.", AnswerType("year"), True),
        ("Iran joined in the 1990s.", AnswerType("year"), True),
        ("Iran's membership will strengthen ties.", AnswerType("year"), False),
        ("The talks ended on 12 March.", AnswerType("date"), True),
        ("The talks ended on Friday.", AnswerType("date"), True),
        ("The talks ended well.", AnswerType("date"), False),
        ("The Normans conquered England in 1066.", AnswerType("time"), True),
        ("It began two years ago.", AnswerType("time"), True),
        ("It began with a speech.", AnswerType("time"), False),
        ("Anything at all.", None, True),
    ],
)
def test_holds_type(text: str, wanted: AnswerType | None, holds: bool) -> None:
    assert holds_type(text, wanted) is holds
