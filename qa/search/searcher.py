"""Answer questions from an index: dense and keyword retrieval, fused; near-duplicate passages
removed; the first passages re-ranked and read with the question (qa.search.answer, qa.search.reader); the
answer sentence marked; abstention when the corpus holds no answer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from qa.config import SearchSettings, Settings, packaged_model_dir
from qa.embed.backends import index_backend, make_embedder
from qa.embed.model import model_fingerprint
from qa.embed.protocol import Embedder
from qa.errors import ConfigError, IndexMismatchError
from qa.indexing.protocol import Store
from qa.indexing.stores import open_store
from qa.search.answer import (
    Abstainer,
    ScoredSentence,
    abstention_reason,
    best_sentence,
    covered_share,
    default_abstainer,
    passage_features,
    question_terms,
    rerank,
    score_sentences,
)
from qa.search.answer_type import expected_type
from qa.search.corroborate import corroborations
from qa.search.fusion import convex, rrf
from qa.search.mentions import unmentioned
from qa.search.negation import negation, states_negation
from qa.search.reader import Reader, reader_for
from qa.text.conversation import contextualize
from qa.text.question import clean_question
from qa.text.terms import analyze
from qa.types import Answer, Filter, Hit, Result, Signals

STORE_FUSION = {"milvus-rrf": "rrf", "milvus-weighted": "weighted"}  # fusion -> the store's ranker


@dataclass(frozen=True)
class Retrieval:
    """The ranked passages for one query, with what each leg saw (for abstention and display)."""

    hits: list[Hit]
    query: str
    vector: np.ndarray
    dense_top: float  # best cosine of the dense leg
    agreement: float  # 1 / rank, in the keyword leg, of the dense leg's best row (0: absent)


@dataclass(frozen=True)
class Reranked:
    """Passages re-ranked by their sentences (:meth:`Searcher.rerank_hits`)."""

    hits: list[Hit]  # re-ordered, ranks renumbered
    order: list[int]  # for each new position, the passage's index among the hits given
    sentences: list[ScoredSentence]  # every sentence of the hits, scored; ``passage`` is that index
    rows: list[dict[str, float]]  # the re-rank features of each hit given (qa.search.answer.RERANK_FEATURES)
    terms: dict[str, float]  # the question's content terms, IDF-weighted
    passage_words: list[list[str]]  # each hit's terms, analysed as for BM25


class Searcher:
    """Questions in, :class:`Result` out, over one loaded index."""

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        settings: SearchSettings | None = None,
        abstainer: Abstainer | None = None,
        *,
        abstain: bool = True,
        reader: Reader | None = None,
    ) -> None:
        """``abstainer`` defaults to the calibrated model shipped with qa; ``abstain=False``
        never abstains (used to measure the signals that calibrate it). ``reader``: reads
        the first passages' sentences with the question (:func:`qa.search.reader.reader_for` gives
        the shipped one); without it, passages and the answer are chosen by the re-rank."""
        if store.manifest.model_fingerprint != embedder.fingerprint:
            raise IndexMismatchError(
                f"the index was built with the model {store.manifest.model!r}"
                f" ({store.manifest.model_fingerprint}), but the model in use is {embedder.name!r}"
                f" ({embedder.fingerprint})",
                rebuild=store.directory,
            )
        self.store = store
        self.embedder = embedder
        self.settings = settings or SearchSettings()
        store_ranker = STORE_FUSION.get(self.settings.fusion)
        if store_ranker is not None and store_ranker not in store.hybrid_rankers:
            raise ConfigError(f"fusion {self.settings.fusion} needs an index in Milvus (qa index --store milvus://...)")
        self.abstainer = (abstainer or default_abstainer()) if abstain else None
        self.reader = reader

    def search(
        self, question: str, k: int = 5, *, mode: str | None = None, history: Sequence[str] = (),
        since: str | None = None, until: str | None = None, source: str | Sequence[str] | None = None,
        where: Filter | None = None,
    ) -> list[Hit]:
        """The k best passages for the question (no answer sentence, no abstention), among the
        articles the filter keeps (see :meth:`ask`)."""
        where = make_filter(since, until, source, where) or self.settings.where
        return self.retrieve(question, k, mode=mode, history=history, where=where).hits

    def retrieve(
        self, question: str, k: int = 5, *, mode: str | None = None, history: Sequence[str] = (),
        where: Filter | None = None,
    ) -> Retrieval:
        """The k best passages for the question, without near-duplicates, among the rows the
        filter keeps: both legs search only those (qa.indexing.filters), so fusion sees no other."""
        mode = mode or self.settings.mode
        question, history = clean_question(question), [clean_question(turn) for turn in history or ()]
        query = contextualize(question, history)
        vector = self.embedder.encode([query])[0]
        pool = max(self.settings.candidates, 2 * k)
        where = where or self.settings.where or None
        dense_scores, dense_rows = self.store.search(vector[None, :], pool, where)
        dense = {int(r): float(s) for s, r in zip(dense_scores[0], dense_rows[0]) if r >= 0}
        keyword_scores, keyword_rows = self.store.search_keyword(query, pool, where)
        keyword = {int(r): float(s) for s, r in zip(keyword_scores, keyword_rows)}
        if mode == "dense":
            ranked = sorted(dense.items(), key=lambda item: (-item[1], item[0]))
        elif mode == "bm25":
            ranked = sorted(keyword.items(), key=lambda item: (-item[1], item[0]))
        elif self.settings.fusion == "rrf":
            ranked = rrf({"dense": list(dense), "bm25": list(keyword)})
        elif self.settings.fusion in STORE_FUSION:  # fused inside the store (Milvus hybrid_search)
            scores, rows = self.store.search_hybrid(
                vector, query, pool, ranker=STORE_FUSION[self.settings.fusion], dense_weight=self.settings.dense_weight,
                where=where,
            )
            ranked = [(int(row), float(score)) for score, row in zip(scores, rows)]
        else:
            ranked = convex(dense, keyword, self.settings.dense_weight)
        ranks = {
            "dense": {row: rank for rank, row in enumerate(dense, start=1)},
            "bm25": {row: rank for rank, row in enumerate(keyword, start=1)},
        }
        hits = self._distinct_hits(ranked, k, ranks)
        dense_best = next(iter(dense), None)
        agreement = 1.0 / ranks["bm25"][dense_best] if dense_best in ranks["bm25"] else 0.0
        return Retrieval(hits, query, vector, max(dense.values(), default=0.0), agreement)

    def _distinct_hits(self, ranked: list[tuple[int, float]], k: int, ranks: dict[str, dict[int, int]]) -> list[Hit]:
        """Top k, skipping near-duplicates: a chunk whose text is more than half covered by
        better chunks of the same article (neighbours sharing one sentence both stay)."""
        hits: list[Hit] = []
        taken: dict[str, list[tuple[int, int]]] = {}
        for row, score in ranked:
            chunk = self.store.chunks[row]
            spans = taken.setdefault(chunk.article_id, [])
            if covered(chunk.start, chunk.end, spans) > (chunk.end - chunk.start) / 2:
                continue
            spans.append((chunk.start, chunk.end))
            found_by = {leg: by_row[row] for leg, by_row in ranks.items() if row in by_row}
            article = self.store.articles[chunk.article_id]
            hits.append(Hit(rank=len(hits) + 1, score=score, chunk=chunk, title=article.title, found_by=found_by,
                            date=article.date, source=article.source, url=article.url))
            if len(hits) == k:
                break
        return hits

    def rerank_hits(self, question: str, retrieval: Retrieval, hits: Sequence[Hit]) -> Reranked:
        """``hits`` (from ``retrieval``) re-ranked by the learned model over their sentences'
        scores against the question (qa.search.answer); the reader is not involved."""
        terms = self.store.keyword.idf(question_terms(retrieval.query))
        vectors = np.concatenate([self.store.sentence_vectors(hit.chunk) for hit in hits])
        sentences = score_sentences(
            retrieval.vector, terms, hits, self.store.articles, vectors, expected_type(question)
        )
        passage_words = [analyze(hit.chunk.text) for hit in hits]  # each passage analysed once
        rows = passage_features(analyze(retrieval.query), terms, hits, sentences, passage_words)
        reranked, order = rerank(hits, rows)
        return Reranked(reranked, order, sentences, rows, terms, passage_words)

    def ask(
        self, question: str, k: int = 5, *, mode: str | None = None, history: Sequence[str] = (),
        since: str | None = None, until: str | None = None, source: str | Sequence[str] | None = None,
        where: Filter | None = None,
    ) -> Result:
        """The top k passages, re-ranked by their best sentence; the sentence that answers;
        and whether to abstain. An empty question (nothing left after
        :func:`~qa.text.question.clean_question`) gets no passages and an abstention.

        Filters (applied inside retrieval): ``since`` and ``until``, ISO dates ``YYYY-MM-DD``,
        both inclusive (an article without a date is left out by either); ``source``, one
        outlet's name or several, matched case-insensitively; or ``where``, a ready
        :class:`~qa.types.Filter`. A bad date raises ConfigError naming it. A filter that keeps
        no article gets no passages, an abstention and ``result.notice`` saying why; a source no
        article has is named in ``result.notice``. Without one, ``settings.where`` applies."""
        where = make_filter(since, until, source, where) or self.settings.where
        question = clean_question(question)
        if not question:
            return Result(question=question, answer=None, hits=(), abstained=True)
        wanted = expected_type(question)
        notice = None
        if where:
            if not len(self.store.kept_rows(where)):  # type: ignore[arg-type]  # a filter: rows, not None
                return Result(question, None, (), abstained=True, notice=self.store.row_filter.empty_notice(where))
            notice = self.store.row_filter.notice(where)
        retrieval = self.retrieve(
            question, max(k, self.settings.rerank_passages), mode=mode, history=history, where=where
        )
        if not retrieval.hits:
            return Result(question=question, answer=None, hits=(), abstained=True, notice=notice)
        head, tail = retrieval.hits[: self.settings.rerank_passages], retrieval.hits[self.settings.rerank_passages :]
        ranked = self.rerank_hits(question, retrieval, head)
        head, order, sentences = ranked.hits, ranked.order, ranked.sentences
        if self.reader is not None:
            head, order, sentences = self.reader.rerank(
                retrieval.query, head, order, sentences, self.settings.answer_passages,
                typed=wanted is not None,
            )
        hits = (head + [replace(hit, rank=len(head) + i + 1) for i, hit in enumerate(tail)])[:k]
        # the answer comes from a passage the caller is shown: among the first min(answer_passages, k)
        shown = order[: min(self.settings.answer_passages, k)]
        chosen = best_sentence(sentences, order, len(shown))
        answer = None
        if chosen is not None:
            hit = retrieval.hits[chosen.passage]
            span = self.reader.span(retrieval.query, chosen, hit.title) if self.reader is not None else None
            answer = Answer(
                chosen.text, hit.chunk.id, hit.chunk.article_id, chosen.start, chosen.end, chosen.score, span
            )
        # the question's numbers that none of the first answer_passages passages (those that compete for
        # the answer when k is at least that) mentions, nor their articles' titles ("Super Bowl 50" is
        # in the title; its passages say "the game")
        competing = order[: self.settings.answer_passages]
        titles = (analyze(retrieval.hits[i].title) for i in competing)
        absent = unmentioned(question, set().union(*(ranked.passage_words[i] for i in competing), *titles))
        negated = negation(question)  # "not": the answer sentence must say something negative too
        signals = Signals(
            dense_top=retrieval.dense_top,
            sentence=chosen.cosine if chosen else 0.0,
            coverage=ranked.rows[order[0]]["coverage"],
            agreement=retrieval.agreement,
            typed=float(chosen.typed) if chosen else 0.0,
            answer_coverage=chosen.coverage if chosen else 0.0,
            missing=1.0 - covered_share(ranked.terms, set().union(*(ranked.passage_words[i] for i in shown)))
            if ranked.terms else 0.0,
            reader=chosen.reader if chosen and chosen.reader is not None else 0.0,
            reader_best=max((s.reader for s in sentences if s.reader is not None), default=0.0),
            unmentioned=float(len(absent)),
            negation=float(negated is not None and chosen is not None and not states_negation(chosen.text)),
        )
        abstained = self.abstainer.abstains(signals) if self.abstainer else False
        reason = None
        if abstained and self.abstainer is not None:
            reason = abstention_reason(signals, absent, wanted, negated) or self.abstainer.doubt(signals)
        if answer is not None and chosen is not None and not abstained:
            also_in, differs = corroborations(
                retrieval.query, answer, chosen, sentences, retrieval.hits, self.store.articles
            )
            answer = replace(answer, also_in=also_in, differs=differs)
        unsure = (answer is not None and not abstained and self.reader is not None and self.abstainer is not None
                  and self.abstainer.unsure(signals))
        return Result(
            question=question,
            answer=None if abstained else answer,
            hits=tuple(hits),
            abstained=abstained,
            signals=signals,
            notice=notice,
            reason=reason,
            unsure=unsure,
        )


def make_filter(
    since: str | None, until: str | None, source: str | Sequence[str] | None, where: Filter | None
) -> Filter | None:
    """One checked filter from the keyword options or a ready one (not both); None for none."""
    if where is not None and (since or until or source):
        raise ConfigError("give the filter as since/until/source or as where=Filter(...), not both")
    if where is None:
        try:
            where = Filter.of(since, until, source)
        except ValueError as error:
            raise ConfigError(str(error)) from None
    return where or None


def covered(start: int, end: int, spans: list[tuple[int, int]]) -> int:
    """How many characters of [start, end) lie inside the (possibly overlapping) spans."""
    inside = 0
    cursor = start
    for span_start, span_end in sorted(spans):
        span_start, span_end = max(span_start, cursor), min(span_end, end)
        if span_start < span_end:
            inside += span_end - span_start
            cursor = span_end
    return inside


def fitted_to_model(settings: Settings) -> bool:
    """Is the model in use the packaged all-MiniLM-L6-v2, the one the re-rank (``rerank.json``),
    abstention (``abstain.json``) and the reader were fitted to? Their weights are in that
    model's scale of scores; with another model the reader turns itself off and the other two
    still run, uncalibrated (benchmarks/tune_rerank.py and calibrate_abstention.py refit them)."""
    if settings.model_dir is None:
        return True
    return model_fingerprint(settings.resolved_model_dir()) == model_fingerprint(packaged_model_dir())


def open_searcher(settings: Settings, embedder: Embedder | None = None) -> Searcher:
    """Load the index named by the settings, with the settings' model unless one is given,
    on the backend the settings name or else the one that built the index."""
    store = open_store(settings.index_dir)
    if embedder is None:
        embedder = make_embedder(settings, settings.backend or index_backend(store.manifest))  # this index's
    return Searcher(store, embedder, settings.search, reader=reader_for(settings))
