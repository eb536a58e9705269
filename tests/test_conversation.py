"""Follow-up questions take their subject from the previous question."""

import pytest

from qa.text.conversation import contextualize, is_follow_up

PREVIOUS = "What kind of exercises did Iran and Pakistan agree to hold?"


@pytest.mark.parametrize(
    "question",
    ["Where will they be held?", "When did it end?", "Who else attended his meeting?", "Why?", "And there?"],
)
def test_questions_leaning_on_the_conversation_are_follow_ups(question: str) -> None:
    assert is_follow_up(question)


@pytest.mark.parametrize(
    "question",
    ["Where will the naval exercises be held?", "Who is the chief of staff of the Iranian armed forces?"],
)
def test_questions_naming_their_subject_are_not(question: str) -> None:
    assert not is_follow_up(question)


def test_follow_up_is_searched_with_the_previous_question() -> None:
    assert contextualize("Where will they be held?", [PREVIOUS]) == f"Where will they be held? {PREVIOUS}"


def test_only_the_last_previous_question_is_used() -> None:
    assert contextualize("Where?", ["Who is Baqeri?", PREVIOUS]) == f"Where? {PREVIOUS}"


def test_a_new_subject_or_no_history_is_searched_alone() -> None:
    question = "Who is the Prime Minister of Pakistan?"
    assert contextualize(question, [PREVIOUS]) == question
    assert contextualize("Where will they be held?", []) == "Where will they be held?"
    assert contextualize("Where will they be held?", ["  "]) == "Where will they be held?"
