"""Answer figures beside retrieval: SQuAD's official exact match and F1, split into HasAns and
NoAns as the official SQuAD 2.0 script splits them, and the answer figures by question word and
by how many content words the question shares with its answer sentence.

The official scorer (SQuAD 2.0's ``evaluate-v2.0.py``), re-stated here:

- an answer is normalised: lower case, punctuation removed, the articles a/an/the removed,
  whitespace collapsed;
- exact match: 1 when the normalised prediction equals a normalised gold answer;
- F1 over the normalised tokens (a multiset), the best over the gold answers;
- a question without gold answers (SQuAD 2.0's ``is_impossible``) has the one gold answer "":
  1 when the prediction is "" (qa abstained), else 0.

qa's prediction is the exact answer (``answer.span.text``) when it gives one; "" when it
abstains; otherwise the whole answer sentence. A sentence is scored as it stands, so its EM is
almost always 0 and its F1 low: the figures say how many predictions were spans.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol, TypeVar

from qa.eval.gold import Gold
from qa.eval.questions import Question
from qa.search.answer import question_terms
from qa.text.terms import analyze
from qa.types import Article, Chunk, Result

ARTICLES_RE = re.compile(r"\b(a|an|the)\b", re.UNICODE)
PUNCTUATION = frozenset(string.punctuation)
OFFICIAL_METRICS = ("exact", "f1", "has_ans_exact", "has_ans_f1", "no_ans_exact", "no_ans_f1")
# question words, longest first: a question's kind is the one that occurs first in it
QUESTION_WORDS = (
    "how many", "how much", "how long", "how old", "what year", "which year",
    "who", "whom", "whose", "when", "where", "why", "which", "what", "how",
)
QUESTION_WORD_RE = re.compile(r"\b(" + "|".join(w.replace(" ", r"\s+") for w in QUESTION_WORDS) + r")\b", re.I)
OVERLAP_BUCKETS = ((0, 1, "0-1"), (2, 3, "2-3"), (4, None, "4+"))  # content words shared with the sentence
OFFICIAL_NOTE = (
    "exact / f1: SQuAD's official exact match and F1 (normalised; the best over the gold answers), over all,"
    " answerable (has_ans_) and unanswerable (no_ans_: right when qa abstains) questions. The prediction is the"
    " exact answer span when qa gives one (span_predictions), \"\" when it abstains, else the whole answer"
    " sentence (sentence_predictions): sentence figures are not span figures. unsure_answers / sure_answers count"
    " the answers shown as \"Not sure\" (Result.unsure) and the others, unsure_right / sure_right the share of"
    " each that is right (an answer to an unanswerable question never is). By question word, n counts every"
    " question and hit@1 / answer_accuracy its answerable ones; by words shared with the answer sentence (the"
    " question's content terms, analysed as for BM25, in the sentence holding the gold span): answerable only."
)
GROUP_METRICS = ("n", "hit@1", "answer_accuracy", "abstained", "exact", "f1")


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in PUNCTUATION)
    return " ".join(ARTICLES_RE.sub(" ", text).split())


def answer_tokens(text: str) -> list[str]:
    return normalize_answer(text).split() if text else []


def exact_match(gold: str, prediction: str) -> float:
    return float(normalize_answer(gold) == normalize_answer(prediction))


def token_f1(gold: str, prediction: str) -> float:
    """F1 over the normalised tokens; two empty answers agree (1), one empty one does not (0)."""
    gold_tokens, predicted = answer_tokens(gold), answer_tokens(prediction)
    if not gold_tokens or not predicted:
        return float(gold_tokens == predicted)
    same = sum((Counter(gold_tokens) & Counter(predicted)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def official_scores(golds: Sequence[str], prediction: str) -> tuple[float, float]:
    """(exact match, F1) of a prediction, the best over the gold answers; no gold answer that
    survives normalisation means the question is unanswerable (gold "")."""
    answers = [gold for gold in golds if normalize_answer(gold)] or [""]
    return max(exact_match(gold, prediction) for gold in answers), max(token_f1(gold, prediction) for gold in answers)


def prediction(result: Result) -> tuple[str, bool]:
    """(what qa predicts, whether it is an exact answer span): the span when there is one, ""
    when qa abstains, else the answer sentence."""
    answer = result.answer
    if result.abstained or answer is None:
        return "", False
    if answer.span is not None:
        return answer.span.text, True
    return answer.text, False


def question_word(question: str) -> str:
    """The question word that occurs first ("how many", "when", "who"; "whom"/"whose" count as
    "who", "which year" as "what year"), or "other"."""
    match = QUESTION_WORD_RE.search(question)
    if not match:
        return "other"
    word = " ".join(match.group(1).lower().split())
    return {"whom": "who", "whose": "who", "which year": "what year"}.get(word, word)


def shared_words(question: str, sentence: str) -> int:
    """How many of the question's content terms (analysed as for BM25, question words left out)
    its answer sentence contains."""
    return len(question_terms(question) & set(analyze(sentence)))


def overlap_bucket(shared: int | None) -> str | None:
    if shared is None:
        return None
    return next(label for low, high, label in OVERLAP_BUCKETS if shared >= low and (high is None or shared <= high))


def gold_sentence(occurrences: Iterable[tuple[str, int, int]], sentences: Mapping[str, Sequence[tuple[int, int]]],
                  texts: Mapping[str, str]) -> str | None:
    """The text of the sentences holding the first gold occurrence (all those it overlaps), or
    None when there is none; ``sentences``: each article's sentence offsets."""
    for article, start, end in occurrences:
        spans = [(s, e) for s, e in sentences.get(article, ()) if s < end and start < e]
        if spans:
            return texts[article][min(s for s, _ in spans) : max(e for _, e in spans)]
    return None


class Scored(Protocol):
    """What the answer figures read of an outcome (qa.eval.run.Outcome)."""

    answerable: bool
    abstained: bool | None
    answer_correct: bool | None
    exact: float | None
    f1: float | None
    span: bool
    unsure: bool
    hits: dict[str, bool]


S = TypeVar("S", bound=Scored)


def official_figures(outcomes: Sequence[Scored]) -> dict[str, float | None]:
    """exact and F1 over all, HasAns (answerable) and NoAns (unanswerable) questions, and how
    many predictions were exact answer spans (``span_predictions``) or sentences."""
    scored = [o for o in outcomes if o.exact is not None and o.f1 is not None]
    figures: dict[str, float | None] = {}
    for prefix, group in (("", scored), ("has_ans_", [o for o in scored if o.answerable]),
                          ("no_ans_", [o for o in scored if not o.answerable])):
        figures[f"{prefix}exact"] = _mean([o.exact for o in group])
        figures[f"{prefix}f1"] = _mean([o.f1 for o in group])
    answered = [o for o in scored if not o.abstained]
    figures["span_predictions"] = sum(1 for o in answered if o.span)
    figures["sentence_predictions"] = sum(1 for o in answered if not o.span)
    # answers marked unsure (Result.unsure) and how often those and the others were right: an
    # answer to an unanswerable question is never right
    for name, group in (("unsure", [o for o in answered if o.unsure]), ("sure", [o for o in answered if not o.unsure])):
        figures[f"{name}_answers"] = len(group)
        figures[f"{name}_right"] = _mean([float(bool(o.answer_correct)) for o in group])
    return figures


def group_figures(
    outcomes: Sequence[S], group_of: Callable[[S], str | None]
) -> dict[str, dict[str, float | None]]:
    """:data:`GROUP_METRICS` per group (``group_of`` an outcome; None: in no group), largest group
    first. hit@1 and answer accuracy are over the group's answerable questions."""
    by_group: dict[str, list[S]] = {}
    for outcome in outcomes:
        group = group_of(outcome)
        if group is not None:
            by_group.setdefault(group, []).append(outcome)
    table = {}
    for group in sorted(by_group, key=lambda g: (-len(by_group[g]), g)):
        members = by_group[group]
        answerable = [o for o in members if o.answerable]
        table[group] = {
            "n": float(len(members)),
            "hit@1": _mean([float(o.hits["hit@1"]) for o in answerable if "hit@1" in o.hits]),
            "answer_accuracy": _mean([float(bool(o.answer_correct)) for o in answerable]),
            "abstained": _mean([float(bool(o.abstained)) for o in members if o.abstained is not None]),
            "exact": _mean([o.exact for o in members if o.exact is not None]),
            "f1": _mean([o.f1 for o in members if o.f1 is not None]),
        }
    return table


def answer_metrics(outcomes: Sequence[Scored]) -> dict[str, float | None]:
    """Answer accuracy and abstention quality (positive class: abstained)."""
    answerable = [o for o in outcomes if o.answerable]
    unanswerable = [o for o in outcomes if not o.answerable]
    abstained = [o for o in outcomes if o.abstained]
    return {
        "answer_accuracy": share(o.answer_correct for o in answerable),
        "abstain_precision": share(not o.answerable for o in abstained),
        "abstain_recall": share(o.abstained for o in unanswerable),
        "wrongly_abstained": share(o.abstained for o in answerable),
        **official_figures(outcomes),
    }


def gold_overlaps(
    questions: Sequence[Question], golds: Mapping[str, Gold], articles: Mapping[str, Article], chunks: Iterable[Chunk]
) -> dict[str, int]:
    """For each answerable question, how many content words it shares with the sentence that
    holds its (first) gold span."""
    sentences: dict[str, set[tuple[int, int]]] = {}
    for chunk in chunks:
        sentences.setdefault(chunk.article_id, set()).update(chunk.sentences)
    ordered = {article: sorted(spans) for article, spans in sentences.items()}
    texts = {article: articles[article].text for article in ordered}
    shared = {}
    for question in questions:
        sentence = gold_sentence(golds[question.id].occurrences, ordered, texts)
        if sentence is not None:
            shared[question.id] = shared_words(question.question, sentence)
    return shared


def share(flags: Iterable[bool | None]) -> float | None:
    values = [bool(flag) for flag in flags]
    return sum(values) / len(values) if values else None


def _mean(values: Sequence[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return sum(present) / len(present) if present else None
