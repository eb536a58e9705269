"""Also reported by: the other articles whose passages give the same answer.

News is reported many times over. When the answer comes from one article, the other articles
among the passages read for the question that say the same are listed with it, so the user sees
that the answer is corroborated (or that nobody else says it) without reading every card.

A sentence of another article gives *the same answer* when the reader reads it as answering
the question (a logit above :data:`~qa.search.answer.READER_ANSWERS`, the floor chosen on SQuAD
2.0's tuning half for the answer type's steering) and

- with a short answer (``Answer.span``): it holds that answer, after SQuAD's normalisation
  (lower case, no punctuation, no a/an/the), as a run of its words;
- without one: it holds the same figures (every number the answer sentence states beyond the
  question's own), and shares at least :data:`SHARED` of the answer sentence's other content
  terms beyond the question's.

A sentence the reader reads as answering that also holds at least :data:`COVERS` of the
question's weighted content terms (so it is about the same thing, not a stray figure nearby)
and states other figures ("14 million" against "9 million") is *reported differently*: those
articles are listed apart (``Answer.differs``), never as corroboration.

An article and its exact duplicates (the same text) count once, and a copy of the answering
article is not listed. The list is sorted by date (undated last), then by article id. Without a
reader nothing is listed: the sentence score alone cannot tell answering from mentioning.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Iterable, Mapping, Sequence

from qa.search.answer import READER_ANSWERS, ScoredSentence, question_terms
from qa.text.terms import analyze
from qa.types import Answer, Article, Corroboration, Hit

COVERS = 0.5  # share of the question's weighted content terms a sentence must hold to count as "differs"
SHARED = 0.5  # share of the answer sentence's own content terms another must hold (no span)
ARTICLES = re.compile(r"\b(a|an|the)\b")
PUNCTUATION = str.maketrans("", "", string.punctuation)
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def normalize(text: str) -> list[str]:
    """SQuAD's answer normalisation, as words: lower case, punctuation and articles removed."""
    return ARTICLES.sub(" ", text.lower().translate(PUNCTUATION)).split()


def holds_words(sentence: str, words: Sequence[str]) -> bool:
    """Does the sentence hold ``words`` (normalised) as a contiguous run of its own words?"""
    own = normalize(sentence)
    n = len(words)
    return n > 0 and any(own[i : i + n] == list(words) for i in range(len(own) - n + 1))


def figures(text: str) -> set[str]:
    """The numbers a text states, digits only ("4.2", "1,000" -> "1000")."""
    return {match.replace(",", "") for match in NUMBER.findall(text)}


def other_figures(question: str, answer: Answer, candidate: str) -> bool:
    """Do the answer and ``candidate`` both state figures beyond the question's, and not the same?"""
    asked = figures(question)
    stated, other = figures(answer.span.text if answer.span else answer.text) - asked, figures(candidate) - asked
    return bool(stated) and bool(other) and not stated <= other


def same_answer(question: str, answer: Answer, candidate: str) -> bool:
    """Does ``candidate`` (another article's sentence) give the same answer? (module docstring)"""
    if answer.span is not None:
        return holds_words(candidate, normalize(answer.span.text))
    stated = figures(answer.text) - figures(question)
    if stated and not stated <= figures(candidate):
        return False
    asked = question_terms(question)
    own = set(analyze(answer.text)) - asked
    return not own or len(own & set(analyze(candidate))) / len(own) >= SHARED


def corroborations(
    question: str,
    answer: Answer,
    chosen: ScoredSentence,
    sentences: Sequence[ScoredSentence],
    hits: Sequence[Hit],
    articles: Mapping[str, Article],
) -> tuple[tuple[Corroboration, ...], tuple[Corroboration, ...]]:
    """(also_in, differs): the other articles that give ``answer`` (chosen from ``chosen``), and
    those that answer with other figures. ``sentences`` are the scored sentences of ``hits``
    (``ScoredSentence.passage`` indexes ``hits``)."""
    if chosen.reader is None:
        return (), ()
    seen_texts = {articles[answer.article_id].text}
    agree: dict[str, Corroboration] = {}
    differ: dict[str, Corroboration] = {}
    for sentence in sorted(sentences, key=lambda s: -(s.reader if s.reader is not None else -math.inf)):
        if sentence.reader is None or sentence.reader <= READER_ANSWERS:
            break
        hit = hits[sentence.passage]
        article_id = hit.chunk.article_id
        text = articles[article_id].text
        if article_id in agree or article_id in differ or text in seen_texts:
            continue
        entry = Corroboration(article_id, hit.title, hit.date, hit.source, sentence.text, sentence.start, sentence.end)
        if same_answer(question, answer, sentence.text):
            agree[article_id] = entry
        elif sentence.coverage >= COVERS and other_figures(question, answer, sentence.text):
            differ[article_id] = entry
        else:
            continue
        seen_texts.add(text)
    return by_date(agree.values()), by_date(differ.values())


def by_date(entries: Iterable[Corroboration]) -> tuple[Corroboration, ...]:
    return tuple(sorted(entries, key=lambda c: (c.date is None, c.date or "", c.article_id)))
