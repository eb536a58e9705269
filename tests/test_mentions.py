"""The question's numbers (and names), and those the closest passages never mention."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import FakeEmbedder

from qa.config import Settings
from qa.indexing.faiss_store import FaissStore
from qa.indexing.indexer import update_index
from qa.search.answer import NEGATION_CHECK, OFF_TOPIC_CHECK, READER_DOUBT, Abstainer, abstention_reason
from qa.search.answer_type import AnswerType
from qa.search.mentions import named, unmentioned
from qa.search.searcher import Searcher
from qa.text.terms import analyze
from qa.types import Signals

PASSAGE = set(analyze(
    "Major General Mohammad Baqeri, chief of staff of Iran's armed forces, met Pakistan's army chief "
    "in Islamabad in 2019; the two sides agreed on joint naval exercises, the first since 1965."
))


@pytest.mark.parametrize(
    "question, names",
    [
        ("Who heads Iran's military?", ["Iran's"]),
        ("What did Baqeri say in Islamabad in 2019?", ["Baqeri", "Islamabad", "2019"]),
        ("Where did Baqeri meet Baqeri's host?", ["Baqeri", "Baqeri's"]),
        # the first word is capitalised by position, an ordinal may be spelt out, "U.S." is too short
        ("Pakistan hosted what 2nd round of talks with the U.S.?", []),
        # title case and capitals say nothing; numbers still count
        ("Who Heads Iran's Military In 2019?", ["2019"]),
        ("WHO HEADS IRAN'S MILITARY?", []),
        ("what is the nato summit about", []),
        ("What is NATO?", ["NATO"]),
        ("Is NP-complete the same as NQ-complete?", ["NP", "NQ"]),  # the capitalised parts
        ("Did the Russia-backed Al-Qaeda-linked group act?", ["Russia", "Al-Qaeda"]),
    ],
)
def test_named_words_are_capitalised_words_after_the_first_and_numbers(question: str, names: list[str]) -> None:
    assert [word for word, _ in named(question)] == names


def test_a_name_is_mentioned_when_all_its_terms_are_there() -> None:
    def absent(question: str, terms: set[str] = PASSAGE) -> tuple[str, ...]:
        return unmentioned(question, terms, names=True)

    assert absent("Who heads Iran's military?") == ()
    assert absent("When did Baqeri visit Islamabad?") == ()
    assert absent("Who is Pakistan's deputy army chief?") == ()  # no name missing: not this check
    assert absent("What did Baqeri say in Karachi in 2019?") == ("Karachi",)
    assert absent("What happened in 1971 and 2019?") == ("1971",)
    assert absent("Did Bakeri visit Islamabad?") == ("Bakeri",)  # misspelt: not mentioned
    assert absent("When did Iran and India hold exercises?") == ("India",)
    assert absent("What did the Alpha-Beta group decide?", set(analyze("the Alpha group"))) == ("Alpha-Beta",)
    # a name shares its first letters with a form of it
    assert absent("Who leads the Iranian army?") == ()  # "iranian" / "iran"
    assert absent("Which Pakistani chief did he meet?") == ()
    assert absent("Did the Chinese navy take part?", set(analyze("China's navy took part"))) == ()
    # a swapped name keeps fewer letters: a near miss of SQuAD 2.0 ("Ladner's theorem")
    assert absent("What is Ladder's theorem?", set(analyze("Ladner's theorem"))) == ("Ladder's",)
    assert absent("Is NQ-complete hard?", set(analyze("NP-complete problems"))) == ("NQ",)


def test_only_numbers_are_checked_unless_names_are_asked_for_and_a_number_must_be_there_as_written() -> None:
    assert unmentioned("What did Baqeri say in Karachi in 2019?", PASSAGE) == ()  # 2019 is there
    assert unmentioned("What did Baqeri say in Karachi in 2018?", PASSAGE) == ("2018",)
    assert unmentioned("What happened in 2018?", set(analyze("in 2019 and 2015"))) == ("2018",)
    assert unmentioned("Which squadron flew the F-16?", set(analyze("the F-15 squadron"))) == ("F-16",)
    assert unmentioned("Which squadron flew the F-15?", set(analyze("the F-15 squadron"))) == ()
    assert unmentioned("Who came 2nd in the race?", set(analyze("he came second"))) == ()  # an ordinal
    # digits of another script are the same number
    assert unmentioned("What happened in ２０１９?", set(analyze("in 2019"))) == ()
    assert unmentioned("What happened in 2019?", set(analyze("في ٢٠١٩"))) == ()
    assert unmentioned("What happened in ٢٠١٨?", set(analyze("in 2019"))) == ("٢٠١٨",)


@pytest.mark.parametrize(
    "question, passage, absent",
    [
        ("What did Baran develop in the late 1950's?", "in the late 1950s", ()),
        ("What happened in the 1950s?", "in the '50s", ()),
        ("What happened in the 1950s?", "in 1955 he left", ()),  # a year in the decade
        ("What happened in the 70's?", "in the 1970s", ()),
        ("What happened in the 50s?", "in 1854", ()),  # no century given: any
        ("How many fled by the 1700s?", "in the 18th century", ()),
        ("What happened in the 1950s?", "in 1965 he left", ("1950s",)),
        ("What happened in the 1950s?", "in 1850", ("1950s",)),  # another century
        ("What happened in the 1950s?", "50 people", ("1950s",)),  # a count, not a decade
        ("How many fled by the 1700s?", "in the 17th century", ("1700s",)),
        ("Who was in their 70s?", "aged 75", ("70s",)),  # an age in the 70s is not a decade's year
        ("What happened in 1950?", "in the 1950s", ("1950",)),  # a year is not its decade
    ],
)
def test_a_decade_is_mentioned_however_it_is_written_and_by_its_years(
    question: str, passage: str, absent: tuple[str, ...]
) -> None:
    assert unmentioned(question, set(analyze(passage))) == absent


@pytest.mark.parametrize(
    "question, passage, absent",
    [
        ("gm europe q4 losses", "GM lost $345m in Europe in the fourth quarter.", ()),
        ("What were Q4 sales?", "Fourth-quarter sales rose 5%.", ()),
        ("What were the H1 profits?", "Profits in the first half of 2004 fell.", ()),
        ("What were Q4 sales?", "Sales rose 5% in 2004.", ("Q4",)),  # no quarter spoken of
        ("What were H1 profits?", "Profits in the fourth quarter fell.", ("H1",)),  # a quarter is not a half
        ("What were Q5 sales?", "Sales in the fourth quarter rose.", ("Q5",)),  # no such quarter
    ],
)
def test_a_quarter_or_half_of_a_year_is_mentioned_when_the_text_spells_it_out(
    question: str, passage: str, absent: tuple[str, ...]
) -> None:
    assert unmentioned(question, set(analyze(passage))) == absent


def test_a_number_no_passage_mentions_always_abstains_and_says_which() -> None:
    confident = Abstainer(("dense_top",), (10.0,), 0.0, 0.5)
    named_absent = Signals(dense_top=0.9, sentence=0.9, coverage=1.0, agreement=1.0, typed=1.0, unmentioned=1.0)
    assert confident.probability(named_absent) > 0.99
    assert confident.abstains(named_absent) and confident.no_answer(named_absent) == 1.0
    assert not confident.abstains(Signals(dense_top=0.9, sentence=0.9, coverage=1.0, agreement=1.0))
    assert abstention_reason(named_absent, ("2018", "1971"), None) == (
        "None of the closest passages mentions “2018”, “1971”."
    )


def test_the_off_topic_model_refuses_as_a_check_after_the_others_and_says_so() -> None:
    near = Abstainer(("reader",), (1.0,), 0.0, 0.2)  # doubts a logit under -1.39
    both = replace(near, off_topic=Abstainer(("dense_top",), (20.0,), -6.0, 0.5))  # refuses dense_top under 0.3
    on_topic = Signals(dense_top=0.6, sentence=0.5, coverage=0.4, agreement=1.0, reader=0.0)
    far = replace(on_topic, dense_top=0.1)
    assert not near.abstains(far)  # the near-miss model alone answers it
    assert both.abstains(far) and both.refusal(far) == OFF_TOPIC_CHECK and both.no_answer(far) == 1.0
    assert both.doubt(far) == "The closest passages are not about what it asks."
    assert not both.abstains(on_topic) and both.refusal(on_topic) is None
    assert both.no_answer(on_topic) == pytest.approx(0.5)
    unread = replace(on_topic, reader=-3.0)
    assert both.abstains(unread) and both.refusal(unread) is None and both.doubt(unread) == READER_DOUBT
    assert both.refusal(replace(far, negation=1.0)) == NEGATION_CHECK  # the checks come first
    data = {"features": ["reader"], "coefficients": [1.0], "bias": 0.0, "threshold": 0.2,
            "off_topic": {"features": ["dense_top"], "coefficients": [20.0], "bias": -6.0, "threshold": 0.5}}
    assert Abstainer.from_json(data) == both
    assert Abstainer.from_json({**data, "off_topic": None}) == near


def test_the_reason_for_the_wrong_kind_names_the_kind_and_a_reading_models_doubt_says_so() -> None:
    untyped = Signals(dense_top=0.9, sentence=0.9, coverage=1.0, agreement=1.0, typed=0.0)
    assert abstention_reason(untyped, (), AnswerType("year")) == (
        "No sentence of the closest passages that reads as an answer gives a year."
    )
    assert abstention_reason(untyped, (), AnswerType("count", "ship")).endswith("gives a number.")
    doubt = Signals(dense_top=0.1, sentence=0.1, coverage=0.0, agreement=0.0)
    assert abstention_reason(doubt, (), None) is None
    # a model over retrieval signals gives no reason; one that reads the reader's logit says so
    reading = Abstainer(("reader", "typed"), (0.3, 0.3), -0.4, 0.3)
    unread = Signals(dense_top=0.9, sentence=0.9, coverage=1.0, agreement=1.0, reader=-6.0)
    assert Abstainer(("dense_top",), (10.0,), 0.0, 0.5).doubt(unread) is None
    assert reading.abstains(unread) and not reading.abstains(replace(unread, reader=2.0))
    assert reading.doubt(unread) == "The best sentence of the closest passages does not read as an answer to it."
    # the passage's coverage weighs the reading; coverage alone is no reading
    weighed = Abstainer(("reader", "typed", "coverage"), (0.5, 0.1, -2.9), 1.8, 0.2)
    assert weighed.doubt(unread) == reading.doubt(unread)
    assert Abstainer(("coverage",), (-2.9,), 1.8, 0.2).doubt(unread) is None


def test_a_number_in_the_title_of_a_passages_article_is_mentioned(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    article = {"id": "sb50", "title": "Super Bowl 50 host committee",
               "text": "The game's host committee pledged 40 percent of its money to local charities. "
                       "The committee raised the money from companies in the Bay Area."}
    (corpus / "news.jsonl").write_text(json.dumps(article) + "\n", encoding="utf-8")
    settings = Settings(index_dir=tmp_path / "index", corpus=(corpus,))
    update_index(settings, fake_embedder)
    searcher = Searcher(FaissStore.load(settings.index_dir), fake_embedder)

    result = searcher.ask("What did the Super Bowl 50 host committee pledge to charities?")
    assert result.signals is not None and result.signals.unmentioned == 0  # "50" is in the title
    other = searcher.ask("What did the Super Bowl 51 host committee pledge to charities?")
    assert other.signals is not None and other.signals.unmentioned == 1
    assert other.abstained and other.reason == "None of the closest passages mentions “51”."
