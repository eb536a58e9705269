"""How benchmarks/mine_news_pairs.py makes questions from two articles telling one fact."""

from __future__ import annotations

import io
import json
import sys
import tarfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from mine_news_pairs import Sentence, cloze, mine, overlap, read_articles  # noqa: E402
from train_reader import mined_pairs  # noqa: E402

SUSPENDED = "The duo had been provisionally suspended by the IAAF for missing three drugs tests."
BANNED = "They were given provisional bans by athletics' ruling body the IAAF in December."


def test_cloze_asks_for_a_name_both_sentences_hold() -> None:
    assert cloze(SUSPENDED, BANNED) == (
        "The duo had been provisionally suspended by the what for missing three drugs tests?", "IAAF"
    )


def test_cloze_takes_whole_names_and_numbers_and_skips_first_words_and_quotes() -> None:
    question, answer = cloze(
        "Rates stay at 4.75% said the Bank of England on Thursday.", "The Bank of England kept 4.75%."
    )
    assert (question, answer) == ("Rates stay at how many said the Bank of England on Thursday?", "4.75%")
    # "Rates" opens the sentence and "We" follows a quotation mark: capitalised for another reason
    assert cloze('Rates rose. "We expected it", he said.', "Rates rose and We know") is None
    # a name the other sentence does not hold is no answer
    assert cloze("Shares in Yukos fell.", "The oil firm's shares fell.") is None
    # "Bank of England" is one name: the other sentence must hold all of it
    assert cloze("Rates are set by the Bank of England.", "The Bank decided.") is None


def test_cloze_takes_a_number_whole_or_not_at_all() -> None:
    # "$14.5bn" holds no whole number: its "14" is not one
    assert cloze("They owe $14.5bn in taxes.", "The bill is 14 pages long.") is None
    assert cloze("Profits reached 2,500 in 2004.", "Some 2,500 were sold.") == (
        "Profits reached how many in 2004?",
        "2,500",
    )


def test_overlap_is_the_jaccard_overlap_of_bm25_terms() -> None:
    assert overlap("ships sailed", "ship sails") == 1.0  # stemmed alike
    assert overlap("the ships sailed", "ships docked") == 1 / 3  # ship / ship, sail, dock
    assert overlap("", "") == 0.0


def test_mine_pairs_close_sentences_of_other_articles_that_share_few_words() -> None:
    sentences = [
        Sentence(0, 0, "Athletes were warned."),
        Sentence(0, 1, SUSPENDED),
        Sentence(0, 2, "The duo had been provisionally suspended by the IAAF for missing tests again."),  # same article
        Sentence(1, 0, "Another sentence about the IAAF and its tests."),
        Sentence(1, 1, BANNED),
        Sentence(1, 2, "The hearing is set for Athens next week."),
        Sentence(2, 0, SUSPENDED),  # a copy in a third article
    ]
    vectors = np.array([[1, 0, 0], [0, 1, 0], [0, 1, 0], [1, 0, 0], [0, 0.8, 0.6], [1, 0, 0], [0, 1, 0]], np.float32)
    candidates = [1, 2, 4, 6]
    found = mine(sentences, vectors[candidates], candidates, min_cosine=0.76, max_overlap=0.35)
    # each candidate's nearest sentence of another article that words it otherwise: never one of
    # its own article, never a copy (cosine 1.0, but every word shared); the second sentence of
    # article 0 pairs with nothing, as articles 0 and 1 are paired already
    assert [(item["question"].split()[0], item["positive"]) for item in found] == [
        ("The", BANNED), ("They", SUSPENDED), ("The", BANNED)
    ]
    assert all(item["answer"] == "IAAF" and item["cosine"] == 0.8 and item["overlap"] <= 0.35 for item in found)
    # the negatives: the sentences around the answer sentence that do not hold the answer (nor are
    # shorter than five words)
    assert found[0]["negatives"] == ["The hearing is set for Athens next week."]
    assert found[1]["negatives"] == []
    assert mine(sentences, vectors[candidates], candidates, min_cosine=0.9, max_overlap=0.35) == []


def test_read_articles_drops_titles_and_repeated_articles(tmp_path: Path) -> None:
    tarball = tmp_path / "bbc.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        for name, text in (
            ("bbc/tech/002.txt", "Title two\n\nBody two."),
            ("bbc/tech/001.txt", "Title one\n\nBody one."),
            ("bbc/sport/003.txt", "Title one\n\nBody one."),
        ):
            data = text.encode("latin-1")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    # name order: sport/003 first, and tech/001 repeats it
    assert read_articles(tarball) == ["\nBody one.", "\nBody two."]


def test_mined_pairs_give_the_answer_sentence_and_each_negative(tmp_path: Path) -> None:
    path = tmp_path / "mined.jsonl"
    path.write_text(json.dumps({"question": "q?", "positive": "yes", "negatives": ["no1", "no2"]}) + "\n")
    assert mined_pairs(path) == [("q?", "yes", 1.0), ("q?", "no1", 0.0), ("q?", "no2", 0.0)]
