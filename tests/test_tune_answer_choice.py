"""The replay behind ANSWER_PASSAGE_WEIGHT and ANSWER_READING_WEIGHT (benchmarks/tune_answer_choice.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from tune_answer_choice import right_share  # noqa: E402

from qa.search.answer import ScoredSentence
from qa.types import Chunk, Hit


def passage(n: int) -> Hit:
    chunk = Chunk(f"a#{n}", "a", n, 10 * n, 10 * n + 5, "text", ((10 * n, 10 * n + 5),))
    return Hit(rank=n + 1, score=0.0, chunk=chunk, title="a")


def test_the_replay_weighs_each_sentences_passage_as_the_reader_does() -> None:
    # Scores without the passage's term: the second passage's sentence reads better (3.0 against
    # 2.5); the first passage is far ahead in the re-rank (6 against 2), its best logit lower (1
    # against 1.5). Only the second passage's sentence holds the gold span.
    sentences = [
        ScoredSentence(0, 0, 5, "first", 0.5, 0.5, False, True, 2.5, reader=1.0),
        ScoredSentence(1, 10, 15, "second", 0.5, 0.5, False, True, 3.0, reader=1.5),
    ]
    terms = {0: (6.0, 1.0), 1: (2.0, 1.5)}
    case = (sentences, [0, 1], 2, terms, {0: passage(0), 1: passage(1)}, [("a", 11, 14)])

    assert right_share([case], 0.0, 0.0) == 1.0  # second 3.0 + 0.1 / 2 against first 2.5 + 0.1 / 1
    assert right_share([case], 0.25, 0.0) == 0.0  # the first gains 1.5, the second 0.5
    assert right_share([case], 0.25, 2.0) == 1.0  # each gains 3.5: the better reading wins again
    assert right_share([case, None], 0.0, 0.0) == 0.5  # a question that got no passage is wrong
