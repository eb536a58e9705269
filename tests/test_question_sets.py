"""The hand-written BBC News question sets (eval/): every gold span is where the set says, and
the seeded draws that picked their articles still give the articles each README lists."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
from conftest import DATASETS

ROOT = Path(__file__).resolve().parents[1]
TARBALL = DATASETS / "bbc-news" / "bbc-fulltext.tar.gz"
pytestmark = pytest.mark.skipif(not TARBALL.is_file(), reason="the shared BBC News corpus is not present")


@pytest.fixture(scope="module")
def pick():
    spec = importlib.util.spec_from_file_location("pick_bbc_blind", ROOT / "eval" / "pick_bbc_blind.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def articles(pick) -> dict[str, str]:
    return pick.read_articles(TARBALL)


def listed_draw(readme: Path) -> list[str]:
    """The article ids a README lists after "Drawn, in order:", in that order."""
    text = readme.read_text(encoding="utf-8").split("Drawn, in order:", 1)[1].split("(all `.txt`)", 1)[0]
    return [f"{name}.txt" for name in re.findall(r"\b[a-z]+/\d{3}\b", text)]


@pytest.mark.parametrize(
    "name", ["bbc-blind.jsonl", "bbc-tuning.jsonl", "bbc-tuning-2.jsonl", "bbc-nearmiss.jsonl", "bbc-offtopic.jsonl"]
)
def test_every_answer_is_in_its_article(pick, articles, name: str) -> None:
    assert pick.check(ROOT / "eval" / name, articles) == []


def test_the_check_finds_an_off_topic_question_the_corpus_answers(pick, articles, tmp_path: Path) -> None:
    line = {"id": "off-x", "question": "Who was president in 2005?", "kind": "off-topic", "answers": [],
            "real_answers": ["George W Bush"]}
    path = tmp_path / "set.jsonl"
    path.write_text(json.dumps(line) + "\n")
    [problem] = pick.check(path, articles)
    assert "'George W Bush' is in" in problem


@pytest.mark.parametrize(
    "readme, seed, count, exclude",
    [
        ("README-bbc-blind.md", None, 30, []),
        ("README-bbc-tuning.md", 16_2027, 30, ["bbc-blind.jsonl"]),
        ("README-bbc-nearmiss.md", 16_2028, 24, ["bbc-blind.jsonl", "bbc-tuning.jsonl", "bbc-tuning-2.jsonl"]),
    ],
)
def test_the_seeded_draw_gives_the_articles_the_readme_lists(
    pick, articles, readme: str, seed: int | None, count: int, exclude: list[str]
) -> None:
    excluded = frozenset(pick.answered_in([ROOT / "eval" / path for path in exclude], articles))
    drawn = pick.draw(articles, pick.SEED if seed is None else seed, count, excluded=excluded)
    assert drawn == listed_draw(ROOT / "eval" / readme)
    assert not set(drawn) & excluded  # the tuning set draws none of the blind set's articles
