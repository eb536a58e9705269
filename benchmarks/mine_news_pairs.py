"""Questions answered in other words, mined from news: one fact told by two articles.

    python benchmarks/mine_news_pairs.py --out /tmp/mined.jsonl [--min-cosine 0.76] [--max-overlap 0.35]

SQuAD's questions were written with their paragraph in view and share its words, so a reader
trained on them learns to trust shared words; people asking about news they have not read use
their own ("Which Pakistani premier ..." for "Prime Minister"). BBC News (2,225 articles, in
../shared/datasets) often tells one fact in several articles, in different words. Two sentences
of different articles that the model finds close (cosine at least ``--min-cosine``) but that
share few terms (Jaccard overlap of their BM25 terms at most ``--max-overlap``) are taken as
paraphrases. A name or number both hold is the answer: put in the first sentence's place as
"what" (or "how many"), it turns that sentence into a cloze question that the second answers in
other words. These are the cloze questions of unsupervised QA (Lewis et al., 2019), with the
answer sentence taken from another article. The sentences around the second one in its article
that do not hold the answer are the negatives.

Each line of the output: ``{"question", "positive", "answer", "negatives", "cosine", "overlap"}``.
``benchmarks/train_reader.py --mined FILE`` trains on them besides SQuAD. Training only: asking
never needs this.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.index.keyword import analyze
from qa.text.sentences import split_sentences

ROOT = Path(__file__).resolve().parents[1]
BBC = ROOT.parent / "shared" / "datasets" / "bbc-news" / "bbc-fulltext.tar.gz"
# A name (capitalised words, "of"/"de" inside: "Bank of England") or a whole number ("800,000",
# "4.75%"; not the "14" of "$14.5bn")
ANSWER = re.compile(
    r"(?<![\w-])(?:[A-Z][\w'’.-]*(?:\s+(?:of\s+|de\s+)?[A-Z][\w'’.-]*)*|\d(?:[\d,.]*\d)?%?)(?![\w-]|[.,]\d)"
)
QUOTES = "\"'‘“"
NEGATIVES = 7  # sentences around the answer sentence, at most this many
AROUND = 6  # how far from it they may be


@dataclass(frozen=True)
class Sentence:
    article: int
    position: int  # in its article
    text: str


def read_articles(tarball: Path = BBC) -> list[str]:
    """The articles' texts without their title line, in id order, read as ``qa index`` reads
    them (:func:`qa.eval.bench.bbc_corpus`, :func:`qa.ingest.corpus.read_corpus`): an article repeating an
    earlier one is stored once (the BBC set has 98 such copies)."""
    from qa.eval.bench import bbc_corpus
    from qa.ingest.corpus import read_corpus

    with tempfile.TemporaryDirectory() as work:
        articles = read_corpus(bbc_corpus(Path(work), tarball)).articles
    return [article.text.split("\n", 1)[1] if "\n" in article.text else article.text for article in articles]


def sentences_of(texts: Sequence[str]) -> list[Sentence]:
    """Every sentence of every article, split as qa splits them at indexing."""
    return [
        Sentence(article, position, text[start:end].strip())
        for article, text in enumerate(texts)
        for position, (start, end) in enumerate(split_sentences(text))
    ]


def overlap(a: str, b: str) -> float:
    """Jaccard overlap of two texts' BM25 terms."""
    terms_a, terms_b = set(analyze(a)), set(analyze(b))
    return len(terms_a & terms_b) / len(terms_a | terms_b) if terms_a | terms_b else 0.0


def cloze(sentence: str, answer_sentence: str) -> tuple[str, str] | None:
    """(question, answer): the first name or number of ``sentence`` that ``answer_sentence``
    holds too, replaced by "what" ("how many" for a number); None when there is none. The
    sentence's first word and words just after a quotation mark are not taken (capitalised for
    another reason)."""
    for match in ANSWER.finditer(sentence):
        if match.start() == 0 or sentence[match.start() - 1] in QUOTES:
            continue
        answer = match.group(0).rstrip(".")
        if re.search(rf"(?<![\w-]){re.escape(answer)}(?![\w-])", answer_sentence):
            asked = "how many" if answer[0].isdigit() else "what"
            question = sentence[: match.start()] + asked + sentence[match.start() + len(answer) :]
            return question.rstrip(". ") + "?", answer
    return None


def mine(
    sentences: Sequence[Sentence], vectors: np.ndarray, candidates: Sequence[int],
    min_cosine: float, max_overlap: float, neighbours: int = 8,
) -> list[dict]:
    """At most one question for each (asking article, answering article): for each candidate
    sentence, in order, its nearest sentence of another article that is close enough, shares few
    enough terms and holds one of its names or numbers. ``vectors``: one normalised row per
    candidate."""
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    cosines, rows = index.search(vectors, min(neighbours, len(candidates)))
    by_article: dict[int, list[Sentence]] = {}
    for sentence in sentences:
        by_article.setdefault(sentence.article, []).append(sentence)
    found, pairs_seen = [], set()
    for row, (near_cosines, near_rows) in enumerate(zip(cosines, rows)):
        first = sentences[candidates[row]]
        for cosine, other in zip(near_cosines, near_rows):
            if other < 0 or cosine < min_cosine:
                continue
            second = sentences[candidates[other]]
            if second.article == first.article:
                continue
            if (first.article, second.article) in pairs_seen:
                continue
            shared = overlap(first.text, second.text)
            made = cloze(first.text, second.text) if shared <= max_overlap else None
            if made is None:
                continue
            pairs_seen.add((first.article, second.article))
            question, answer = made
            around = [
                s.text for s in by_article[second.article]
                if s.position != second.position and abs(s.position - second.position) <= AROUND
                and answer not in s.text and len(s.text.split()) >= 5
            ]
            found.append({
                "question": question, "positive": second.text, "answer": answer, "negatives": around[:NEGATIVES],
                "cosine": round(float(cosine), 4), "overlap": round(shared, 4),
            })
            break
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bbc", type=Path, default=BBC, help="the BBC News tarball")
    parser.add_argument("--out", type=Path, required=True, help="where to write the questions (JSONL)")
    parser.add_argument("--min-cosine", type=float, default=0.76)
    parser.add_argument("--max-overlap", type=float, default=0.35)
    parser.add_argument("--words", default="8-40", help="sentence lengths considered, in words (default 8-40)")
    args = parser.parse_args()

    from qa.config import settings_from_env
    from qa.embed.backends import make_embedder

    shortest, longest = (int(n) for n in args.words.split("-"))
    sentences = sentences_of(read_articles(args.bbc))
    candidates = [i for i, s in enumerate(sentences) if shortest <= len(s.text.split()) <= longest]
    started = time.time()
    vectors = np.asarray(make_embedder(settings_from_env()).encode([sentences[i].text for i in candidates]))
    print(f"{len(sentences)} sentences, {len(candidates)} of {args.words} words embedded in"
          f" {time.time() - started:.0f} s", file=sys.stderr)
    found = mine(sentences, vectors, candidates, args.min_cosine, args.max_overlap)
    with args.out.open("w") as out:
        out.writelines(json.dumps(item, ensure_ascii=False) + "\n" for item in found)
    print(f"{len(found)} questions written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
