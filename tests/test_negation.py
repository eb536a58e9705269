"""The negation check (qa/search/negation.py): a question that negates wants an answer sentence
that says something negative too; without one qa abstains and says why."""

from __future__ import annotations

import pytest

from qa.config import Settings
from qa.search.answer import NEGATION_CHECK, Abstainer, abstention_reason, refusing_check
from qa.search.negation import negation, states_negation
from qa.types import Signals


@pytest.mark.parametrize(
    "question, word",
    [
        ("What did the pharmacists not sell?", "not"),
        ("Which team never won the cup?", "never"),
        ("Who didn't sign the treaty?", "didn't"),
        ("Who didn’t sign the treaty?", "didn’t"),  # a typographic apostrophe
        ("Which country has no coast?", "no"),
        ("Who can't vote?", "can't"),
        ("In which year did the election not end quickly?", "not"),
        ("Bats are not what?", "not"),  # a question word at the end ends the main clause after "not"
        ("Who heads Iran's military?", None),
        ("What was built without a permit?", None),  # "without" mostly names a thing
        ("Which club dropped the striker even though he never missed training?", None),  # another clause
        ("Which trainer did he blame for not telling him?", None),
        ("Other than Paris, which city has no metro?", None),  # the main clause ends at the first comma
        ("Who decides whether or not the bridge reopens?", None),  # asks about the decision
        ("Who is not only a singer but an actor?", None),
        ("Which firm no longer makes cameras?", None),
        ("Who noted the knot in the rope?", None),  # "not" inside words does not count
    ],
)
def test_the_word_that_negates_a_question(question: str, word: str | None) -> None:
    assert negation(question) == word


@pytest.mark.parametrize(
    "sentence, negative",
    [
        ("He did not sign the treaty.", True),
        ("It wasn’t built in time.", True),
        ("Nobody came to the launch.", True),
        ("He was held without trial.", True),
        ("He refused to sign the treaty.", True),
        ("Every member except Poland signed.", True),
        ("The club lacked a striker all season.", True),
        ("The council was unable to agree.", True),
        ("The bridge reopened on Monday after six months of repairs.", False),
        ("The unknown soldier was buried in Arlington.", False),  # a negative prefix is not a negation
        ("She noted that the knot held.", False),
    ],
)
def test_what_counts_as_saying_something_negative(sentence: str, negative: bool) -> None:
    assert states_negation(sentence) is negative


def test_a_negation_the_answer_lacks_always_abstains_and_says_which_word() -> None:
    confident = Abstainer(("dense_top",), (10.0,), 0.0, 0.5)
    lacking = Signals(dense_top=0.9, sentence=0.9, coverage=1.0, agreement=1.0, negation=1.0)
    assert confident.probability(lacking) > 0.99
    assert refusing_check(lacking) == NEGATION_CHECK
    assert confident.abstains(lacking) and confident.no_answer(lacking) == 1.0
    assert abstention_reason(lacking, (), None, "never") == (
        "The question asks what is not so (“never”), but the best sentence of the closest passages"
        " says nothing negative."
    )
    assert refusing_check(Signals(dense_top=0.9, sentence=0.9, coverage=1.0, agreement=1.0)) is None


def test_a_negated_question_over_the_seed_article_is_refused_and_its_plain_form_answered(
    seed_index: Settings, embedder
) -> None:
    # The seed article says nothing negative about the visit: "who did not visit?" is a near miss
    # of "who visited?", which it answers.
    from qa.indexing.faiss_store import FaissStore
    from qa.search.reader import reader_for
    from qa.search.searcher import Searcher

    searcher = Searcher(FaissStore.load(seed_index.index_dir), embedder, reader=reader_for(seed_index))
    plain = searcher.ask("Who visited Pakistan?", 3)
    assert not plain.abstained and plain.answer is not None
    negated = searcher.ask("Who did not visit Pakistan?", 3)
    assert negated.abstained and negated.answer is None
    assert negated.reason is not None and "“not”" in negated.reason
    assert negated.signals is not None and refusing_check(negated.signals) == NEGATION_CHECK
