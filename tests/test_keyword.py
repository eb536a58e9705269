"""The BM25 leg: analysis, ranking, persistence."""

from pathlib import Path

import numpy as np

from qa.indexing.keyword import KeywordIndex
from qa.text.terms import analyze

TEXTS = [
    "Iran and Pakistan will hold joint naval exercises in the southern waters.",
    "The border between the two countries is much safer than in the past.",
    "Pilots are being trained and counter-terrorism training is held in Iran.",
]


def test_analyze_lowercases_drops_stopwords_and_stems() -> None:
    assert analyze("The Naval Exercises were HELD in Iran's waters") == [
        "naval",
        "exercis",
        "were",
        "held",
        "iran",
        "water",
    ]
    assert analyze("the and of") == []


def test_search_ranks_by_bm25_and_leaves_out_non_matching_rows() -> None:
    index = KeywordIndex.build(TEXTS)
    scores, rows = index.search("naval exercises", 10)
    assert rows.tolist() == [0]
    assert scores[0] > 0
    scores, rows = index.search("training held in Iran", 10)
    assert rows.tolist()[0] == 2 and set(rows.tolist()) == {0, 2}
    assert list(scores) == sorted(scores, reverse=True)


def test_unknown_words_and_empty_queries_find_nothing() -> None:
    index = KeywordIndex.build(TEXTS)
    assert index.search("zeppelin", 5)[1].tolist() == []
    assert index.search("", 5)[1].tolist() == []


def test_save_and_load_give_the_same_scores(tmp_path: Path) -> None:
    index = KeywordIndex.build(TEXTS)
    index.save(tmp_path / "bm25")
    loaded = KeywordIndex.load(tmp_path / "bm25", mmap=True)
    np.testing.assert_allclose(loaded.scores("border safer past"), index.scores("border safer past"))
    assert all(not p.read_bytes().startswith(b"\x80") for p in (tmp_path / "bm25").iterdir())


def test_an_empty_index_saves_loads_and_finds_nothing(tmp_path: Path) -> None:
    KeywordIndex.build([]).save(tmp_path / "bm25")
    loaded = KeywordIndex.load(tmp_path / "bm25")
    assert loaded.n_docs == 0 and loaded.search("iran", 5)[1].tolist() == []
