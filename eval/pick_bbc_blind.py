"""Pick the articles of the blind BBC question set (eval/bbc-blind.jsonl): 30, seeded.

    python eval/pick_bbc_blind.py [--tarball ../shared/datasets/bbc-news/bbc-fulltext.tar.gz]

    python eval/pick_bbc_blind.py --seed 16_2027 --exclude eval/bbc-blind.jsonl

    python eval/pick_bbc_blind.py --check eval/bbc-tuning.jsonl

Prints the article ids (as `qa index` names them over the five category folders, e.g.
``business/001.txt``) in the order drawn. The draw is random.Random(SEED) over the sorted ids
of the articles left once these are taken out, so the set was chosen before anyone read them:

- articles the project has already queried: named in its tests (``EXCLUDED_IDS``);
- articles on the topics of the ten news questions `qa bench` and the load test ask
  (``qa.eval.bench.QUESTIONS``; ``EXCLUDED_TOPICS``, matched in the headline and body);
- articles whose text another article repeats exactly (`qa index` keeps one copy of each and
  drops the other, so its id would depend on which came first).

``--seed``, ``--count`` and ``--exclude JSONL`` (repeatable) draw another set the same way
(eval/bbc-tuning.jsonl): ``--exclude`` also takes out every article named in that set's answers
and every article whose headline (first line) is one of theirs, so no near-copy is drawn again.
With no options the draw is the blind set's, as it was.

``--check`` checks a question set in this format (any of them) against the articles instead,
without an index or model: ids unique, kinds known, every gold span in its article (at its
``start`` when given) and in an article `qa index` keeps, follow-ups with a history,
unanswerable questions with no answers, and no article mentioning the real-world answer
(``real_answers``, as a whole word, case aside) of an off-topic question (eval/bbc-offtopic.jsonl).
Both read the tarball as `qa index` reads the unpacked
files (:func:`qa.ingest.readers.decode`).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tarfile
from collections import Counter
from pathlib import Path

from qa.ingest.readers import decode

SEED = 16_2026  # issue 16, the year; fixed before the draw
COUNT = 30
TARBALL = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "bbc-news" / "bbc-fulltext.tar.gz"
CATEGORIES = ("business", "entertainment", "politics", "sport", "tech")
# Named in tests/test_ingest.py (and in benchmarks/mine_news_pairs.py, removed since: commit 8985231)
EXCLUDED_IDS = frozenset({"sport/199.txt", "sport/001.txt", "sport/003.txt", "tech/001.txt", "tech/002.txt"})
# One pattern set per question of qa.eval.bench.QUESTIONS: an article matching all of a set's
# patterns (case-insensitive) is about that question's topic. "jobs ... cut" is matched within
# one sentence, since "jobs" and "cut" apart are everywhere.
EXCLUDED_TOPICS = (
    (r"australian open",),
    (r"bank of england", r"interest rate"),
    (r"oscar", r"best (picture|film)"),
    (r"\bjobs?\b[^.]*\b(cut|cuts|axe|axed|shed|lose|lost|go)\b"
     r"|\b(cut|cuts|cutting|axe|axing|shed|shedding)\b[^.]*\bjobs?\b",),
    (r"\bbrown\b", r"\bbudget\b"),
    (r"yukos",),
    (r"console",),
    (r"\bblair\b", r"\belection\b"),
    (r"six nations",),
    (r"broadband", r"survey"),
)


def read_articles(tarball: Path) -> dict[str, str]:
    """id -> text, for every .txt of the five category folders, decoded as qa decodes it."""
    articles = {}
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            parts = member.name.split("/")
            if member.isfile() and len(parts) == 3 and parts[1] in CATEGORIES and parts[2].endswith(".txt"):
                articles[f"{parts[1]}/{parts[2]}"] = decode(archive.extractfile(member).read())
    return articles


def on_excluded_topic(text: str) -> bool:
    return any(all(re.search(pattern, text, re.IGNORECASE) for pattern in topic) for topic in EXCLUDED_TOPICS)


def headline(text: str) -> str:
    return text.split("\n", 1)[0].strip()


def answered_in(sets: list[Path], articles: dict[str, str]) -> set[str]:
    """The articles named in the answers of these question sets, and those with the same headline."""
    named = {
        answer["article"]
        for path in sets
        for line in path.read_text(encoding="utf-8").splitlines()
        for answer in json.loads(line)["answers"]
    }
    headlines = {headline(articles[article_id]) for article_id in named}
    return named | {article_id for article_id, text in articles.items() if headline(text) in headlines}


def eligible(articles: dict[str, str], also_excluded: frozenset[str] = frozenset()) -> list[str]:
    """Sorted ids of the articles that may be drawn."""
    copies = Counter(articles.values())
    return sorted(
        article_id for article_id, text in articles.items()
        if article_id not in EXCLUDED_IDS | also_excluded and copies[text] == 1 and not on_excluded_topic(text)
    )


# eval/bbc-nearmiss.jsonl names each near miss by how it was made from its answerable twin
NEAR_MISS_KINDS = ("negation", "antonym", "entity-swap", "exclusion", "condition")
# eval/bbc-offtopic.jsonl: questions off the corpus's topics or outside its time
UNANSWERABLE_KINDS = ("unanswerable", "off-topic", *NEAR_MISS_KINDS)
KINDS = ("fact", "paraphrase", "terse", "when", "how-many", "follow-up", *UNANSWERABLE_KINDS)


def kept_ids(articles: dict[str, str]) -> set[str]:
    """The ids `qa index` keeps: of articles with the same text, the first in id order."""
    first: dict[str, str] = {}
    for article_id in sorted(articles):
        first.setdefault(articles[article_id], article_id)
    return set(first.values())


def check(path: Path, articles: dict[str, str]) -> list[str]:
    """What is wrong with the question set at ``path`` (empty when nothing is)."""
    problems, seen, kept = [], set(), kept_ids(articles)
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        record = json.loads(line)
        where = f"{path}:{number} ({record.get('id')})"
        if record["id"] in seen:
            problems.append(f"{where}: id used twice")
        seen.add(record["id"])
        if record["kind"] not in KINDS:
            problems.append(f"{where}: kind {record['kind']!r} is not one of {KINDS}")
        if (record["kind"] in UNANSWERABLE_KINDS) != (record["answers"] == []):
            problems.append(f"{where}: unanswerable questions, and only they, have no answers")
        if (record["kind"] == "follow-up") != bool(record.get("history")):
            problems.append(f"{where}: follow-ups, and only they, have a history")
        for answer in record["answers"]:
            text, start = articles.get(answer["article"]), answer.get("start")
            if answer["article"] not in kept:
                problems.append(f"{where}: {answer['article']!r} is not an article `qa index` keeps")
            elif start is None and answer["text"] not in text:
                problems.append(f"{where}: {answer['text']!r} is not in {answer['article']}")
            elif start is not None and text[start : start + len(answer["text"])] != answer["text"]:
                problems.append(f"{where}: {answer['text']!r} is not at {start} in {answer['article']}")
        for answer in record.get("real_answers", []):
            pattern = re.compile(rf"(?<!\w){re.escape(answer)}(?!\w)", re.IGNORECASE)
            if found := next((name for name, text in articles.items() if pattern.search(text)), None):
                problems.append(f"{where}: its real answer {answer!r} is in {found}, so the corpus may answer it")
    return problems


def draw(
    articles: dict[str, str], seed: int = SEED, count: int = COUNT, excluded: frozenset[str] = frozenset()
) -> list[str]:
    """The ids drawn, in order: ``count`` of the eligible articles less ``excluded``, seeded."""
    return random.Random(seed).sample(eligible(articles, excluded), count)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tarball", type=Path, default=TARBALL)
    parser.add_argument("--check", type=Path, metavar="JSONL", help="check this question set instead")
    parser.add_argument("--seed", type=int, default=SEED, help=f"seed of the draw (default {SEED})")
    parser.add_argument("--count", type=int, default=COUNT, help=f"articles to draw (default {COUNT})")
    parser.add_argument(
        "--exclude", type=Path, action="append", default=[], metavar="JSONL",
        help="leave out this question set's articles and their near-copies (repeatable)",
    )
    args = parser.parse_args()
    articles = read_articles(args.tarball)
    if args.check:
        problems = check(args.check, articles)
        print("\n".join(problems) or f"{args.check}: every id unique, every answer found in its article")
        raise SystemExit(1 if problems else 0)
    excluded = frozenset(answered_in(args.exclude, articles))
    left_out = f", {len(excluded)} left out by --exclude" if args.exclude else ""
    print(f"# {len(articles)} articles, {len(eligible(articles, excluded))} eligible, seed {args.seed}{left_out}")
    for article_id in draw(articles, args.seed, args.count, excluded):
        print(article_id)


if __name__ == "__main__":
    main()
