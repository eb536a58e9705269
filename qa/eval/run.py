"""Measuring qa on labelled questions: does it find the passage, mark the sentence, and abstain
when the corpus holds no answer? Used by `qa eval`.


What is measured, per retrieval mode (hybrid, dense, bm25), from one ``Searcher.ask`` with
k = 100 per question, so the passages are ranked as a user sees them (re-ranking included) and
the answer comes from the same call:

- Retrieval (ranx, through :mod:`qa.eval.metrics`), over the answerable questions only:
  hit@1/3/5/10, mrr@10, ndcg@10, recall@100, and hit@k for k = 1..10, 20, 50, 100. The
  relevant documents of a question are all the chunks of the index that hold a gold span
  (a span in the sentence two neighbouring chunks share makes both relevant).
- Answers: answer accuracy over the answerable questions
  (an abstention is a wrong answer); abstention precision and recall with "abstained" as the
  positive class; the share of answerable questions wrongly abstained on; SQuAD's official
  exact match and F1, over all, HasAns and NoAns questions (:mod:`qa.eval.answers`); the same
  answer figures by question word and by the content words a question shares with its answer
  sentence; and, when the set holds unanswerable questions, the abstention trade-off curve
  (:mod:`qa.eval.tradeoff`).
- top1_chars: the mean length in characters of the top passage.

A question fails (listed first in the results) when the answer is wrong, no relevant passage is
in the top k (``-k``, default 10), or qa answers where the corpus holds no answer.

Two public benchmarks are converted on the fly and indexed into their own index directory:
BEIR datasets (:func:`evaluate_beir`: retrieval only, at document level, a document ranking by
its best passage in ``Searcher.retrieve``) and SQuAD v1.1 (:func:`evaluate_squad`: each article
one document, its paragraphs joined by a blank line, scored like a question set).
"""


from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.config import MODES, Settings
from qa.embed.protocol import Embedder
from qa.errors import ConfigError
from qa.eval.answers import (
    OFFICIAL_METRICS,
    OFFICIAL_NOTE,
    answer_metrics,
    gold_overlaps,
    group_figures,
    overlap_bucket,
    share,
)
from qa.eval.datasets import BeirSet, load_beir, load_squad, squad_questions
from qa.eval.gold import (
    BEIR_DOCS,
    Gold,
    chunks_by_article,
    document_ranking,
    gold_for,
    span_qrels,
)
from qa.eval.indexes import Notify, default_embedder, index_benchmark, index_summary, make_searcher, prime
from qa.eval.metrics import HIT_CURVE, RETRIEVAL_METRICS, evaluate_rankings, mean
from qa.eval.outcome import Outcome, span_outcome
from qa.eval.questions import SAMPLE_SEED, Question, load_question_set, sample_questions, validate_questions
from qa.eval.tradeoff import CurvePoint, operating_point, tradeoff_curve
from qa.indexing.stores import open_store
from qa.text.conversation import contextualize

if TYPE_CHECKING:
    from qa.search.searcher import Searcher

RETRIEVE_K = 100  # passages asked for per question (Searcher.ask): ranking and answer from one call
FAILURE_K = 10  # default cut-off: no relevant passage in the top k makes a question a failure
BEIR_CHUNKS = 300  # passages retrieved per BEIR query, enough for 100 distinct documents
ANSWER_METRICS = (
    "answer_accuracy", "abstain_precision", "abstain_recall", "wrongly_abstained", *OFFICIAL_METRICS,
    "span_predictions", "sentence_predictions", "unsure_answers", "unsure_right", "sure_answers", "sure_right",
)
KIND_RETRIEVAL = ("hit@1", "hit@3", "mrr@10")  # per kind, over its answerable questions
KIND_METRICS = (*KIND_RETRIEVAL, "answer_accuracy", "abstained")


def _quiet(message: str) -> None:
    """The default ``notify``: say nothing."""


# -- running and scoring -----------------------------------------------------------------------


def ask_questions(
    searcher: Searcher, questions: Sequence[Question], golds: Mapping[str, Gold], mode: str, progress: bool
) -> tuple[list[Outcome], dict[str, list[str]]]:
    """Ask every question in one mode for its top 100 passages: the ranking the user sees
    (re-ranking included) and the answer sentence come from the same call."""
    outcomes, rankings = [], {}
    for question in _progress(questions, mode, progress):
        result = searcher.ask(question.question, RETRIEVE_K, mode=mode, history=question.history)
        gold = golds[question.id]
        relevant = [hit.chunk.id in gold.relevant for hit in result.hits]
        rankings[question.id] = [hit.chunk.id for hit in result.hits]
        abstainer = searcher.abstainer
        no_answer = None if abstainer is None else abstainer.no_answer(result.signals) if result.signals else 1.0
        outcomes.append(span_outcome(question, gold, result, relevant, no_answer, abstainer))
    return outcomes, rankings


def search_beir(
    searcher: Searcher, dataset: BeirSet, mode: str, progress: bool
) -> tuple[list[Outcome], dict[str, list[str]]]:
    """The top 100 documents of every query in one mode."""
    outcomes, rankings = [], {}
    for qid in _progress(list(dataset.queries), mode, progress):
        hits = searcher.retrieve(dataset.queries[qid], BEIR_CHUNKS, mode=mode).hits
        documents = document_ranking(hits)
        relevant = dataset.qrels[qid]
        first = next((rank for rank, doc in enumerate(documents, start=1) if doc in relevant), None)
        rankings[qid] = documents
        outcomes.append(
            Outcome(
                id=qid,
                question=dataset.queries[qid],
                kind="query",
                answerable=True,
                first_relevant_rank=first,
                top1_chars=len(hits[0].chunk.text) if hits else None,
                gold=sorted(relevant),
            )
        )
    return outcomes, rankings


def _progress(items: Sequence[Any], mode: str, enabled: bool) -> Iterable[Any]:
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=f"qa eval {mode}", unit="q", file=sys.stderr)


@dataclass
class ModeReport:
    """Every figure for one retrieval mode."""

    mode: str
    metrics: dict[str, float | None]
    by_kind: dict[str, dict[str, float | None]]
    hit_curve: dict[int, float | None]  # None: no answerable question
    outcomes: list[Outcome]
    seconds: float  # searching and asking
    metric_seconds: float  # ranx (the first call of a process loads or compiles numba kernels)
    by_question: dict[str, dict[str, dict[str, float | None]]] = field(default_factory=dict)  # see score_mode
    curve: list[CurvePoint] = field(default_factory=list)  # abstention trade-off (qa.eval.tradeoff)
    operating: tuple[float, float] | None = None  # (unanswerable caught, answerable refused)


def score_mode(
    mode: str,
    outcomes: list[Outcome],
    qrels: Mapping[str, Mapping[str, int]],
    rankings: Mapping[str, Sequence[str]],
    k: int,
    seconds: float,
) -> ModeReport:
    """Compute the metrics of one mode and mark each outcome's hit flags and failure."""
    cut = sorted(set(HIT_CURVE) | {1, 3, 5, 10, k})
    started = time.perf_counter()
    others = [name for name in RETRIEVAL_METRICS if not name.startswith("hit@")]
    per_query = evaluate_rankings(qrels, rankings, [f"hit@{n}" for n in cut] + others)
    metric_seconds = time.perf_counter() - started
    flags = sorted({1, 3, 5, 10, k})
    for outcome in outcomes:
        if outcome.answerable:
            outcome.hits = {f"hit@{n}": per_query[f"hit@{n}"][outcome.id] > 0 for n in flags}
        outcome.failed = is_failure(outcome, k)
    answerable = [outcome.id for outcome in outcomes if outcome.answerable]
    metrics = {name: mean(per_query[name], answerable) for name in RETRIEVAL_METRICS}
    if any(outcome.abstained is not None for outcome in outcomes):
        metrics.update(answer_metrics(outcomes))
    metrics["top1_chars"] = _average([o.top1_chars for o in outcomes if o.top1_chars is not None])
    curve = {n: mean(per_query[f"hit@{n}"], answerable) for n in HIT_CURVE}
    report = ModeReport(mode, metrics, kind_metrics(outcomes, per_query), curve, outcomes, seconds, metric_seconds)
    if any(outcome.abstained is not None for outcome in outcomes):
        report.by_question = {
            "question word": group_figures(outcomes, lambda o: o.question_word),
            "words shared with the answer sentence": group_figures(
                outcomes, lambda o: overlap_bucket(o.shared_words)
            ),
        }
        decided = [(o.answerable, bool(o.abstained)) for o in outcomes]
        if all(outcome.no_answer is not None for outcome in outcomes):
            report.curve = tradeoff_curve([(o.answerable, float(o.no_answer or 0.0)) for o in outcomes])
        report.operating = operating_point(decided) if report.curve else None
    return report


def is_failure(outcome: Outcome, k: int) -> bool:
    """Wrong in a way a user would see: the corpus holds no answer and qa answered anyway; or it
    does, and the answer sentence is wrong (abstaining included) or no relevant passage is in
    the top k."""
    if not outcome.answerable:
        return outcome.abstained is False
    if outcome.answer_correct is False:
        return True
    return outcome.first_relevant_rank is None or outcome.first_relevant_rank > k


def kind_metrics(
    outcomes: Sequence[Outcome], per_query: Mapping[str, Mapping[str, float]]
) -> dict[str, dict[str, float | None]]:
    """hit@1, hit@3, mrr@10 (answerable kinds), answer accuracy and the share abstained, per kind."""
    by_kind: dict[str, dict[str, float | None]] = {}
    for kind in sorted({outcome.kind for outcome in outcomes}):
        group = [outcome for outcome in outcomes if outcome.kind == kind]
        answerable = [outcome.id for outcome in group if outcome.answerable]
        figures: dict[str, float | None] = {"n": len(group)}
        figures.update({name: mean(per_query[name], answerable) for name in KIND_RETRIEVAL})
        if any(outcome.abstained is not None for outcome in group):
            figures["answer_accuracy"] = share(o.answer_correct for o in group if o.answerable)
            figures["abstained"] = share(o.abstained for o in group)
        by_kind[kind] = figures
    return by_kind


def _average(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


@dataclass
class EvalReport:
    """A whole evaluation: one :class:`ModeReport` per mode, and what was evaluated."""

    title: str
    modes: dict[str, ModeReport]
    counts: dict[str, Any]
    notes: list[str]
    index: dict[str, Any]
    k: int
    command: str = ""
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


def expand_modes(mode: str | None, default: str) -> list[str]:
    """["hybrid", "dense", "bm25"] for "all", else the one mode (``default`` when None)."""
    mode = mode or default
    if mode == "all":
        return list(MODES)
    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r}: choose one of {', '.join(MODES)} or all")
    return [mode]


def evaluate_spans(
    searcher: Searcher,
    questions: Sequence[Question],
    modes: Sequence[str],
    *,
    title: str,
    k: int = FAILURE_K,
    progress: bool = False,
) -> EvalReport:
    """Score span-labelled questions (already validated against the searcher's index) in each mode."""
    store = searcher.store
    grouped = chunks_by_article(store.chunks)
    golds = {q.id: gold_for(q, store.articles, grouped) for q in questions}
    qrels = span_qrels({qid: gold for qid, gold in golds.items() if gold.occurrences})
    prime(searcher, [contextualize(q.question, q.history) for q in questions], progress)
    shared = gold_overlaps(questions, golds, store.articles, store.chunks)
    reports = {}
    for mode in modes:
        started = time.perf_counter()
        outcomes, rankings = ask_questions(searcher, questions, golds, mode, progress)
        for outcome in outcomes:
            outcome.shared_words = shared.get(outcome.id)
        reports[mode] = score_mode(mode, outcomes, qrels, rankings, k, time.perf_counter() - started)
    counts = span_counts(questions, golds)
    return EvalReport(title, reports, counts, span_notes(counts, k), index_summary(store), k)


def span_counts(questions: Sequence[Question], golds: Mapping[str, Gold]) -> dict[str, Any]:
    answerable = [q for q in questions if q.answerable]
    return {
        "questions": len(questions),
        "answerable": len(answerable),
        "unanswerable": len(questions) - len(answerable),
        "by_kind": dict(sorted(Counter(q.kind for q in questions).items())),
        "span_in_no_passage": sum(1 for q in answerable if not golds[q.id].relevant),
    }


def span_notes(counts: Mapping[str, Any], k: int) -> list[str]:
    excluded = (
        f"; the {counts['unanswerable']} unanswerable questions are excluded from them and count only in the"
        " abstention metrics"
        if counts["unanswerable"]
        else ""
    )
    notes = [
        f"Retrieval metrics (hit@k, mrr@10, ndcg@10, recall@100) are over the {counts['answerable']}"
        f" answerable questions, from the top {RETRIEVE_K} passages{excluded}.",
        "A passage is relevant when it contains a whole gold span; ndcg and recall expect every chunk of the"
        " index that holds one.",
        f"Passages and answer come from one Searcher.ask(k={RETRIEVE_K}) per question; an abstention on an"
        " answerable question is a wrong answer. abstain_precision is undefined (—) when qa never abstained.",
        f"A failure (results files, report.md): a wrong answer, no relevant passage in the top {k}, or an"
        " answer where the corpus holds none.",
        "top1_chars is the mean length in characters of the top passage.",
        OFFICIAL_NOTE,
    ]
    if counts["span_in_no_passage"]:
        notes.append(
            f"{counts['span_in_no_passage']} answerable questions have a gold span no single passage holds"
            " (it crosses a chunk boundary); they count as misses."
        )
    return notes


def evaluate_question_file(
    settings: Settings,
    path: Path,
    modes: Sequence[str],
    *,
    k: int = FAILURE_K,
    sample: int | None = None,
    embedder: Embedder | None = None,
    progress: bool = False,
    notify: Notify = _quiet,
) -> EvalReport:
    """Score a JSONL question set against the existing index of ``settings.index_dir``."""
    store = open_store(settings.index_dir)
    questions = sample_questions(load_question_set(path, store.articles), sample)
    notify(
        f"Evaluating {len(questions)} questions of {path} against {settings.index_dir} ({', '.join(modes)})"
    )
    searcher = make_searcher(store, settings, embedder or default_embedder(settings))
    return evaluate_spans(searcher, questions, modes, title=str(path), k=k, progress=progress)


def evaluate_squad(
    settings: Settings,
    path: Path,
    modes: Sequence[str],
    *,
    k: int = FAILURE_K,
    sample: int | None = None,
    articles: str = "all",
    embedder: Embedder | None = None,
    progress: bool = False,
    notify: Notify = _quiet,
) -> EvalReport:
    """Index all the articles of a SQuAD v1.1 file (closed corpus) into ``settings.index_dir``,
    then ask the questions of the chosen ``articles`` half (optionally a fixed sample of them)."""
    squad = load_squad(path)
    questions = sample_questions(squad_questions(squad, articles), sample)
    embedder = embedder or default_embedder(settings)
    store = index_benchmark(settings, squad.corpus, path, embedder, progress=progress, notify=notify)
    validate_questions(questions, store.articles)
    notify(f"Evaluating {len(questions)} SQuAD questions ({articles} articles) in {', '.join(modes)}")
    title = f"SQuAD {Path(path).name}, {articles} articles" + (f", sample of {sample}" if sample else "")
    report = evaluate_spans(
        make_searcher(store, settings, embedder), questions, modes, title=title, k=k, progress=progress
    )
    report.counts["sample_seed"] = SAMPLE_SEED if sample else None
    return report


def evaluate_beir(
    settings: Settings,
    directory: Path,
    modes: Sequence[str],
    *,
    split: str = "test",
    queries_limit: int | None = None,
    k: int = FAILURE_K,
    embedder: Embedder | None = None,
    progress: bool = False,
    notify: Notify = _quiet,
) -> EvalReport:
    """Index a BEIR corpus into ``settings.index_dir`` and score its judged queries at document level."""
    dataset = load_beir(directory, split, queries_limit)
    embedder = embedder or default_embedder(settings)
    store = index_benchmark(
        settings, dataset.corpus, dataset.corpus_path, embedder, progress=progress, notify=notify
    )
    notify(f"Evaluating {len(dataset.queries)} {dataset.name} {split} queries in {', '.join(modes)}")
    searcher = make_searcher(store, settings, embedder)
    prime(searcher, list(dataset.queries.values()), progress)
    reports = {}
    for mode in modes:
        started = time.perf_counter()
        outcomes, rankings = search_beir(searcher, dataset, mode, progress)
        reports[mode] = score_mode(mode, outcomes, dataset.qrels, rankings, k, time.perf_counter() - started)
    counts = {
        "queries": len(dataset.queries),
        "documents": len(dataset.corpus.articles),
        "judgements": sum(len(docs) for docs in dataset.qrels.values()),
        "skipped_documents": len(dataset.corpus.rejected),
    }
    notes = [
        f"Document level: a document ranks by its best passage among the top {BEIR_CHUNKS} passages; the"
        f" first {BEIR_DOCS} documents are scored against qrels/{split}.tsv (relevance > 0) for the"
        f" {len(dataset.queries)} judged queries of the split.",
        "top1_chars is the mean length in characters of the top passage.",
    ]
    return EvalReport(f"BEIR {dataset.name} ({split})", reports, counts, notes, index_summary(store), k)
