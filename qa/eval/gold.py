"""Relevance by span, never by chunk id, so a question set survives a change of chunking: a
retrieved passage is relevant when it contains a whole occurrence of a gold span, and the answer
sentence is correct when it contains one."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from qa.eval.questions import Question, occurrence_starts
from qa.types import Answer, Article, Chunk, Hit

BEIR_DOCS = 100  # documents scored per BEIR query
NO_PASSAGE = "(no passage holds a gold span)"  # the qrels of such a question: never retrieved

Span = tuple[str, int, int]  # (article id, start, end), character offsets into Article.text


# -- relevance by span -------------------------------------------------------------------------


def gold_occurrences(question: Question, articles: Mapping[str, Article]) -> list[Span]:
    """Every (article, start, end) a gold span of the question stands for, sorted."""
    spans: set[Span] = set()
    for gold in question.answers:
        text = articles[gold.article].text
        starts = [gold.start] if gold.start is not None else occurrence_starts(text, gold.text)
        spans.update((gold.article, start, start + len(gold.text)) for start in starts)
    return sorted(spans)


def holds_gold(span: Span, occurrences: Iterable[Span]) -> bool:
    """Does ``span`` (a passage or a sentence) contain a whole gold occurrence?"""
    article, start, end = span
    return any(gold_article == article and start <= s and e <= end for gold_article, s, e in occurrences)


def chunk_span(chunk: Chunk) -> Span:
    return chunk.article_id, chunk.start, chunk.end


def answer_span(answer: Answer) -> Span:
    return answer.article_id, answer.start, answer.end


@dataclass(frozen=True)
class Gold:
    """What retrieval is judged against for one question."""

    occurrences: tuple[Span, ...]
    relevant: frozenset[str]  # ids of the chunks holding a whole gold span (may be none)


def gold_for(
    question: Question, articles: Mapping[str, Article], chunks: Mapping[str, Sequence[Chunk]]
) -> Gold:
    """The question's gold occurrences and the chunks holding one, ``chunks`` grouped by article."""
    occurrences = gold_occurrences(question, articles)
    relevant = frozenset(
        chunk.id
        for article in {article for article, _, _ in occurrences}
        for chunk in chunks.get(article, ())
        if holds_gold(chunk_span(chunk), occurrences)
    )
    return Gold(tuple(occurrences), relevant)


def chunks_by_article(chunks: Iterable[Chunk]) -> dict[str, list[Chunk]]:
    grouped: dict[str, list[Chunk]] = {}
    for chunk in chunks:
        grouped.setdefault(chunk.article_id, []).append(chunk)
    return grouped


def span_qrels(golds: Mapping[str, Gold]) -> dict[str, dict[str, int]]:
    """ranx relevance judgements: every chunk holding a gold span. A question whose span no
    chunk holds gets a placeholder nothing retrieves, so it counts as a miss, not as absent."""
    return {qid: dict.fromkeys(sorted(gold.relevant) or [NO_PASSAGE], 1) for qid, gold in golds.items()}


def document_ranking(hits: Sequence[Hit], limit: int = BEIR_DOCS) -> list[str]:
    """Article ids in order of their best passage: a document scores as its best chunk."""
    return list(dict.fromkeys(hit.chunk.article_id for hit in hits))[:limit]
