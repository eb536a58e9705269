"""Measuring qa on labelled questions: does it find the passage, mark the sentence, and abstain
when the corpus holds no answer? Used by `qa eval`.

Question sets (e.g. ``eval/seeds.jsonl``) are JSONL files, one JSON object per line::

    {"id": "fact-04", "question": "How long did Baqeri's second official visit to Pakistan last?",
     "kind": "fact",
     "answers": [{"article": "000_ae1cc4aba988a14c.txt", "text": "four days", "start": 408},
                 {"article": "000_ae1cc4aba988a14c.txt", "text": "four-day"}]}
    {"id": "follow-01b", "question": "Where will they be held?", "kind": "follow-up",
     "answers": [...], "history": ["What kind of exercises did Iran and Pakistan agree to hold?"]}

- ``id``: unique in the file. ``question``: the text asked.
- ``kind``: fact, paraphrase, unanswerable, follow-up, or any other word; every metric is also
  reported per kind. Without it: "answerable" or "unanswerable".
- ``answers``: gold spans, any of which answers the question. ``article`` is an article id of
  the index, ``text`` an exact substring of that article's text, and the optional ``start`` the
  character offset of the one occurrence meant; without ``start`` every occurrence counts. An
  empty list means the corpus cannot answer the question, so qa should abstain.
- ``history`` (optional): the previous questions of the conversation, oldest first.

Loading checks every span against the articles of the index and names file, line and problem.

Relevance is by span, never by chunk id, so a question set survives a change of chunking: a
retrieved passage is relevant when it contains a whole occurrence of a gold span, and the answer
sentence is correct when it contains one.

What is measured, per retrieval mode (hybrid, dense, bm25), from one ``Searcher.ask`` with
k = 100 per question, so the passages are ranked as a user sees them (re-ranking included) and
the answer comes from the same call:

- Retrieval (ranx, through :mod:`qa.metrics`), over the answerable questions only:
  hit@1/3/5/10, mrr@10, ndcg@10, recall@100, and hit@k for k = 1..10, 20, 50, 100. The
  relevant documents of a question are all the chunks of the index that hold a gold span
  (a span in the sentence two neighbouring chunks share makes both relevant).
- Answers: answer accuracy over the answerable questions
  (an abstention is a wrong answer); abstention precision and recall with "abstained" as the
  positive class; the share of answerable questions wrongly abstained on.
- top1_chars: the mean length in characters of the top passage.

A question fails (listed first in the results) when the answer is wrong, no relevant passage is
in the top k (``-k``, default 10), or qa answers where the corpus holds no answer.

Two public benchmarks are converted on the fly and indexed into their own index directory:
BEIR datasets (:func:`evaluate_beir`: retrieval only, at document level, a document ranking by
its best passage in ``Searcher.retrieve``) and SQuAD v1.1 (:func:`evaluate_squad`: each article
one document, its paragraphs joined by a blank line, scored like a question set).
"""

from __future__ import annotations

import gzip
import json
import random
import sys
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import accumulate
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.config import MODES, Settings
from qa.conversation import contextualize
from qa.embed import Embedder
from qa.errors import ConfigError, QAError
from qa.ingest import Corpus, Rejected, make_article, normalize_newlines
from qa.metrics import HIT_CURVE, RETRIEVAL_METRICS, evaluate_rankings, mean
from qa.question import clean_question
from qa.store import MANIFEST, read_manifest
from qa.stores import Store, open_store
from qa.types import Answer, Article, Chunk, Hit, Result

if TYPE_CHECKING:
    from qa.search import Searcher

RETRIEVE_K = 100  # passages asked for per question (Searcher.ask): ranking and answer from one call
FAILURE_K = 10  # default cut-off: no relevant passage in the top k makes a question a failure
BEIR_CHUNKS = 300  # passages retrieved per BEIR query, enough for 100 distinct documents
BEIR_DOCS = 100  # documents scored per BEIR query
SAMPLE_SEED = 0  # --sample N: random.Random(SAMPLE_SEED).sample(sorted question ids, N)
EVAL_HOME = Path(".qa-eval")  # default parent of the indexes built for BEIR and SQuAD
FAILURES_SHOWN = 50  # failures listed per mode in report.md
ANSWER_METRICS = ("answer_accuracy", "abstain_precision", "abstain_recall", "wrongly_abstained")
KIND_RETRIEVAL = ("hit@1", "hit@3", "mrr@10")  # per kind, over its answerable questions
KIND_METRICS = (*KIND_RETRIEVAL, "answer_accuracy", "abstained")
NO_PASSAGE = "(no passage holds a gold span)"  # the qrels of such a question: never retrieved

Span = tuple[str, int, int]  # (article id, start, end), character offsets into Article.text
Notify = Callable[[str], None]


class QuestionSetError(QAError):
    """A question set or benchmark file cannot be used as it is."""


def _quiet(message: str) -> None:
    """The default ``notify``: say nothing."""


# -- question sets -----------------------------------------------------------------------------


@dataclass(frozen=True)
class GoldSpan:
    """One acceptable answer: text in an article, at ``start`` or (None) at any occurrence."""

    article: str
    text: str
    start: int | None = None


@dataclass(frozen=True)
class Question:
    """One labelled question; no answers means the corpus cannot answer it."""

    id: str
    question: str
    kind: str
    answers: tuple[GoldSpan, ...]
    history: tuple[str, ...] = ()
    origin: str = ""  # where it was read, for error messages ("eval/seeds.jsonl:12")

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


def load_question_set(path: Path, articles: Mapping[str, Article]) -> list[Question]:
    """Read a JSONL question set and check every gold span against ``articles``."""
    questions = read_question_set(path)
    validate_questions(questions, articles)
    return questions


def read_question_set(path: Path) -> list[Question]:
    """Parse a JSONL question set (format in the module docstring) without checking spans."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise QuestionSetError(
            f"cannot read the question set {path}: {getattr(error, 'strerror', None) or error}"
        )
    return parse_question_set(text, str(path))


def parse_question_set(text: str, source: str) -> list[Question]:
    """Questions from the lines of a JSONL question set; ``source`` names it in errors."""
    questions: list[Question] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        question = parse_question(line, f"{source}:{number}")
        if question.id in first_line:
            raise QuestionSetError(
                f"{source}:{number}: the id {question.id!r} is already used on line"
                f" {first_line[question.id]}: give every question its own id"
            )
        first_line[question.id] = number
        questions.append(question)
    if not questions:
        raise QuestionSetError(
            f"{source} holds no questions: write one JSON object per line (see `qa eval --help`)"
        )
    return questions


def parse_question(line: str, where: str) -> Question:
    """One line of a question set; ``where`` ("file:line") prefixes every error."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise QuestionSetError(
            f"{where}: not valid JSON ({error.msg}, column {error.colno}): each line must be one JSON object"
        ) from None
    if not isinstance(record, dict):
        raise QuestionSetError(f"{where}: each line must be a JSON object, not {type(record).__name__}")
    for key in ("id", "question"):
        if not isinstance(record.get(key), str) or not record[key].strip():
            raise QuestionSetError(f'{where}: "{key}" must be a non-empty string')
    answers = record.get("answers")
    if not isinstance(answers, list):
        raise QuestionSetError(
            f'{where}: "answers" must be a list of {{"article", "text"}} objects (an empty list when the'
            " corpus cannot answer the question)"
        )
    history = record.get("history") or []
    if not isinstance(history, list) or not all(isinstance(turn, str) for turn in history):
        raise QuestionSetError(
            f'{where}: "history" must be a list of the previous questions (strings), oldest first'
        )
    spans = tuple(parse_span(answer, f"{where}: answer {n}") for n, answer in enumerate(answers, start=1))
    kind = record.get("kind") or ("answerable" if spans else "unanswerable")
    # Cut as /ask cuts a question (2,000 characters), so a 10 MB question never reaches a report.
    turns = tuple(clean_question(turn) for turn in history)
    return Question(record["id"], clean_question(record["question"]), str(kind), spans, turns, where)


def parse_span(record: Any, where: str) -> GoldSpan:
    """One {"article", "text", "start"?} object of "answers"."""
    text = record.get("text") if isinstance(record, dict) else None
    if not isinstance(text, str) or not text or not isinstance(record.get("article"), str):
        raise QuestionSetError(
            f'{where} must be an object with a string "article" and a non-empty string "text"'
        )
    start = record.get("start")
    if start is not None and (isinstance(start, bool) or not isinstance(start, int) or start < 0):
        raise QuestionSetError(
            f'{where}: "start" must be a character offset (a whole number from 0), not {start!r}'
        )
    return GoldSpan(record["article"], text, start)


def validate_questions(questions: Iterable[Question], articles: Mapping[str, Article]) -> None:
    """Raise :class:`QuestionSetError` at the first gold span that is not where it claims to be."""
    for question in questions:
        for number, span in enumerate(question.answers, start=1):
            problem = span_problem(span, articles)
            if problem:
                raise QuestionSetError(f"{question.origin}: answer {number} of {question.id!r}: {problem}")


def span_problem(span: GoldSpan, articles: Mapping[str, Article]) -> str | None:
    """Why ``span`` does not fit the articles, or None when it does."""
    article = articles.get(span.article)
    if article is None:
        return (
            f"the article {span.article!r} is not in the index ({len(articles)} articles): check the id"
            " (`qa info --json` lists them) or index that article"
        )
    if span.start is None:
        if span.text not in article.text:
            return f"{span.text!r} does not occur in {span.article!r}: copy the text exactly from the article"
        return None
    if article.text[span.start : span.start + len(span.text)] != span.text:
        found = occurrence_starts(article.text, span.text)
        where = (
            f"it occurs at {', '.join(map(str, found[:5]))}" if found else "it does not occur in the article"
        )
        return (
            f"{span.text!r} is not at start {span.start} of {span.article!r} ({where}):"
            ' fix "start" or drop it'
        )
    return None


def sample_questions(questions: Sequence[Question], size: int | None) -> list[Question]:
    """A fixed random sample of ``size`` questions (all when None or too many), in their order.

    The sample is ``random.Random(SAMPLE_SEED).sample(sorted ids, size)``: the same every run.
    """
    if size is None or size >= len(questions):
        return list(questions)
    chosen = set(random.Random(SAMPLE_SEED).sample(sorted(question.id for question in questions), size))
    return [question for question in questions if question.id in chosen]


# -- relevance by span -------------------------------------------------------------------------


def occurrence_starts(text: str, needle: str) -> list[int]:
    """Every offset where ``needle`` occurs in ``text``, overlapping occurrences included."""
    starts, at = [], text.find(needle)
    while at >= 0 and needle:
        starts.append(at)
        at = text.find(needle, at + 1)
    return starts


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


# -- benchmarks --------------------------------------------------------------------------------


@dataclass
class SquadSet:
    """SQuAD v1.1 as a corpus (one article per title) and span-labelled questions."""

    corpus: Corpus
    questions: list[Question]
    article_ids: list[str]  # in file order


def load_squad(path: Path) -> SquadSet:
    """Read SQuAD v1.1 JSON, plain or zipped (the one .json inside is read)."""
    path = Path(path)
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                names = [name for name in archive.namelist() if name.endswith(".json")]
                if len(names) != 1:
                    raise QuestionSetError(f"{path} must hold exactly one .json file, it holds {len(names)}")
                data = json.loads(archive.read(names[0]).decode("utf-8"))
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise QuestionSetError(f"cannot read {path}: {error.strerror or error}")
    except (json.JSONDecodeError, UnicodeDecodeError, zipfile.BadZipFile) as error:
        raise QuestionSetError(f"{path} is not SQuAD JSON ({error})")
    return convert_squad(data, path.name)


def convert_squad(data: Any, source: str) -> SquadSet:
    """Each article becomes one :class:`Article` (id = its title, text = its paragraphs' contexts
    joined by a blank line); every gold answer becomes a span with its exact ``start``."""
    try:
        entries = data["data"]
        squad = SquadSet(Corpus(), [], [])
        for entry in entries:
            article, questions = squad_article(entry, source)
            squad.corpus.articles.append(article)
            squad.article_ids.append(article.id)
            squad.questions.extend(questions)
    except (KeyError, TypeError) as error:
        raise QuestionSetError(f"{source} is not in the SQuAD v1.1 format (missing or wrong {error})")
    return squad


def squad_article(entry: dict[str, Any], source: str) -> tuple[Article, list[Question]]:
    """One SQuAD article and its questions; a paragraph starts where the previous one's context
    and the blank line after it end."""
    title = entry["title"]
    contexts = [paragraph["context"] for paragraph in entry["paragraphs"]]
    offsets = list(accumulate((len(context) + 2 for context in contexts[:-1]), initial=0))
    text = "\n\n".join(contexts)
    questions = []
    for paragraph, offset in zip(entry["paragraphs"], offsets):
        for qa in paragraph["qas"]:
            origin = f"{source}, question {qa['id']}"
            spans = tuple(
                dict.fromkeys(
                    GoldSpan(title, answer["text"], offset + int(answer["answer_start"]))
                    for answer in qa["answers"]
                )
            )
            for span in spans:
                if text[span.start : span.start + len(span.text)] != span.text:
                    raise QuestionSetError(f"{origin}: the answer {span.text!r} is not at its answer_start")
            questions.append(Question(str(qa["id"]), qa["question"], "squad", spans, (), origin))
    article = make_article(title, f"{source}#{title}", title.replace("_", " "), text)
    return article, questions


def squad_questions(squad: SquadSet, articles: str = "all") -> list[Question]:
    """The questions of the first half of the articles (file order), the last half, or all."""
    half = len(squad.article_ids) // 2
    chosen = {"first": squad.article_ids[:half], "last": squad.article_ids[half:], "all": squad.article_ids}
    if articles not in chosen:
        raise ConfigError(f"--articles must be first, last or all, not {articles!r}")
    keep = set(chosen[articles])
    return [question for question in squad.questions if question.answers[0].article in keep]


@dataclass
class BeirSet:
    """A BEIR dataset: corpus, the queries of one split, and their relevance judgements."""

    name: str
    corpus_path: Path
    corpus: Corpus
    queries: dict[str, str]  # id -> text, only queries judged in the split, in qrels order
    qrels: dict[str, dict[str, int]]  # query id -> {document id: relevance > 0}


def load_beir(directory: Path, split: str = "test", queries_limit: int | None = None) -> BeirSet:
    """Read a BEIR folder: corpus.jsonl[.gz], queries.jsonl and qrels/<split>.tsv.

    With ``queries_limit``, only the first that many judged queries (qrels file order).
    """
    directory = Path(directory)
    corpus_path = next(
        (directory / name for name in ("corpus.jsonl", "corpus.jsonl.gz") if (directory / name).is_file()),
        None,
    )
    qrels_path = directory / "qrels" / f"{split}.tsv"
    for needed, path in (
        ("corpus.jsonl or corpus.jsonl.gz", corpus_path),
        ("queries.jsonl", directory / "queries.jsonl"),
        (f"qrels/{split}.tsv", qrels_path),
    ):
        if path is None or not path.is_file():
            raise QuestionSetError(f"{directory} is not a BEIR dataset folder: {needed} is missing")
    qrels = read_beir_qrels(qrels_path)
    if queries_limit is not None:
        qrels = dict(list(qrels.items())[:queries_limit])
    all_queries = read_beir_queries(directory / "queries.jsonl")
    missing = [qid for qid in qrels if qid not in all_queries]
    if missing:
        raise QuestionSetError(
            f"{qrels_path} judges queries missing from queries.jsonl: {', '.join(missing[:5])}"
        )
    queries = {qid: all_queries[qid] for qid in qrels}
    return BeirSet(directory.resolve().name, corpus_path, read_beir_corpus(corpus_path), queries, qrels)


def _jsonl_records(path: Path) -> Iterable[tuple[str, dict[str, Any]]]:
    """("file:line", object) for every non-empty line of a JSONL or JSONL.gz file."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                where = f"{path}:{number}"
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise QuestionSetError(f"{where}: not valid JSON ({error.msg})") from None
                if not isinstance(record, dict) or "_id" not in record:
                    raise QuestionSetError(f'{where}: expected a JSON object with "_id"')
                yield where, record
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise QuestionSetError(f"cannot read {path}: {error}")


def read_beir_corpus(path: Path) -> Corpus:
    """Articles from {"_id", "title", "text"} lines; a document without text is indexed by its title."""
    corpus = Corpus()
    seen: set[str] = set()
    for where, record in _jsonl_records(path):
        doc_id, title = str(record["_id"]), str(record.get("title") or "")
        text = normalize_newlines(str(record.get("text") or "")) or title
        if doc_id in seen:
            raise QuestionSetError(f"{where}: duplicate document id {doc_id!r}")
        seen.add(doc_id)
        if not text.strip():
            corpus.rejected.append(Rejected(where, "no title and no text"))
            continue
        corpus.articles.append(make_article(doc_id, where, title, text))
    return corpus


def read_beir_queries(path: Path) -> dict[str, str]:
    return {str(record["_id"]): str(record.get("text") or "") for _, record in _jsonl_records(path)}


def read_beir_qrels(path: Path) -> dict[str, dict[str, int]]:
    """query id -> {document id: relevance}, relevance > 0 only, in file order."""
    qrels: dict[str, dict[str, int]] = {}
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        fields = line.split("\t")
        if number == 1 and fields[0].strip() == "query-id":
            continue
        if not line.strip():
            continue
        try:
            query, doc, relevance = fields[0].strip(), fields[1].strip(), int(float(fields[2]))
        except (IndexError, ValueError):
            raise QuestionSetError(f"{path}:{number}: expected query-id<TAB>corpus-id<TAB>score") from None
        if relevance > 0:
            qrels.setdefault(query, {})[doc] = relevance
    if not qrels:
        raise QuestionSetError(f"{path} holds no relevance judgement with a score above 0")
    return qrels


# -- indexes and the searcher ------------------------------------------------------------------


class CachingEmbedder:
    """An embedder that remembers every text it has encoded. An evaluation asks each question
    in several modes and ranks the same sentences again and again; this encodes each once."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.fingerprint = inner.fingerprint
        self._vectors: dict[str, np.ndarray] = {}

    @property
    def dim(self) -> int:
        return self.inner.dim

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        missing = [text for text in dict.fromkeys(texts) if text not in self._vectors]
        if missing:
            self._vectors.update(zip(missing, self.inner.encode(missing, progress=progress)))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vectors[text] for text in texts])


def prime(searcher: Searcher, queries: Sequence[str], progress: bool = False) -> None:
    """Encode all the queries in one batch before searching: one text at a time costs a few
    hundred ms each on a small CPU, a batch a few tens of ms per text. Only for a searcher
    whose embedder is a :class:`CachingEmbedder`; ``queries`` must be the texts the searcher
    will encode (``qa.conversation.contextualize`` of each question)."""
    if isinstance(searcher.embedder, CachingEmbedder):
        searcher.embedder.encode(list(dict.fromkeys(queries)), progress=progress and len(queries) > 64)


def default_embedder(settings: Settings) -> Embedder:
    from qa.embed import make_embedder

    return make_embedder(settings)


def make_searcher(store: Store, settings: Settings, embedder: Embedder) -> Searcher:
    from qa.reader import reader_for
    from qa.search import Searcher

    return Searcher(store, CachingEmbedder(embedder), settings.search, reader=reader_for(settings))


def default_index_dir(dataset: Path) -> Path:
    """Where a benchmark is indexed unless --index-dir says otherwise: .qa-eval/<name>."""
    name = Path(dataset).resolve().name
    for suffix in (".zip", ".gz", ".json", ".jsonl"):
        name = name.removesuffix(suffix)
    return EVAL_HOME / name


def index_benchmark(
    settings: Settings, corpus: Corpus, source: Path, embedder: Embedder, *, progress: bool, notify: Notify
) -> Store:
    """Bring ``settings.index_dir`` up to date with a benchmark corpus read from ``source`` and
    load it. Refuses a directory that holds the index of another corpus, so a news index is never
    overwritten by a benchmark."""
    from qa.indexer import update_index

    source = Path(source).resolve()
    index_dir = Path(settings.index_dir)
    if (index_dir / MANIFEST).is_file():
        indexed = read_manifest(index_dir).corpus
        if indexed != [str(source)]:
            raise ConfigError(
                f"{index_dir} holds an index of {', '.join(indexed) or 'another corpus'}, not of {source}:"
                " give another --index-dir (or delete that directory)"
            )
    notify(
        f"Indexing {source} ({len(corpus.articles)} documents) into {index_dir}: only what is new or changed"
    )
    report = update_index(settings.with_(corpus=(source,)), embedder, progress=progress, corpus=corpus)
    notify(
        f"{'Indexed' if report.written else 'Up to date:'} {report.n_articles} documents in {report.n_chunks}"
        f" chunks ({report.embedded} embedded, {report.seconds:.1f} s)"
    )
    return open_store(index_dir)


def index_summary(store: Store) -> dict[str, Any]:
    manifest = store.manifest
    return {
        "directory": str(store.directory),
        "articles": manifest.n_articles,
        "chunks": manifest.n_chunks,
        "model": manifest.model,
        "chunking": manifest.chunking,
        "corpus": manifest.corpus,
        "built_at": manifest.built_at,
        "generation": manifest.generation,
    }


# -- running and scoring -----------------------------------------------------------------------


@dataclass
class Outcome:
    """One question in one mode: what qa returned and how that scored."""

    id: str
    question: str
    kind: str
    answerable: bool
    first_relevant_rank: int | None  # in the retrieved list, from 1; None: not retrieved
    top1_chars: int | None  # length of the top passage; None: nothing retrieved
    gold: list[str] = field(default_factory=list)  # gold span texts, or relevant document ids
    history: list[str] = field(default_factory=list)
    answer: str | None = None
    answer_correct: bool | None = None  # None: answers not judged (unanswerable, or BEIR)
    abstained: bool | None = None  # None: ask() was not called (BEIR)
    hits: dict[str, bool] = field(default_factory=dict)  # hit@k flags, answerable questions only
    failed: bool = False

    @property
    def expected_abstain(self) -> bool:
        return not self.answerable

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "question": self.question,
            "kind": self.kind,
            "failed": self.failed,
            "first_relevant_rank": self.first_relevant_rank,
            **self.hits,
            "answer": self.answer,
            "answer_correct": self.answer_correct,
            "abstained": self.abstained,
            "expected_abstain": self.expected_abstain,
            "gold": self.gold,
            "history": self.history,
            "top1_chars": self.top1_chars,
        }


def span_outcome(question: Question, gold: Gold, result: Result, relevant: Sequence[bool]) -> Outcome:
    """How one question fared: ``result`` from Searcher.ask, ``relevant`` the flags of its passages."""
    hits = result.hits
    first = next((rank for rank, flag in enumerate(relevant, start=1) if flag), None)
    correct = None
    if question.answerable:
        correct = result.answer is not None and holds_gold(answer_span(result.answer), gold.occurrences)
    return Outcome(
        id=question.id,
        question=question.question,
        kind=question.kind,
        answerable=question.answerable,
        first_relevant_rank=first,
        top1_chars=len(hits[0].chunk.text) if hits else None,
        gold=[span.text for span in question.answers],
        history=list(question.history),
        answer=result.answer.text if result.answer else None,
        answer_correct=correct,
        abstained=result.abstained,
    )


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
        outcomes.append(span_outcome(question, gold, result, relevant))
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
    hit_curve: dict[int, float]
    outcomes: list[Outcome]
    seconds: float  # searching and asking
    metric_seconds: float  # ranx (the first call of a process loads or compiles numba kernels)


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
    return ModeReport(
        mode, metrics, kind_metrics(outcomes, per_query), curve, outcomes, seconds, metric_seconds
    )


def is_failure(outcome: Outcome, k: int) -> bool:
    """Wrong in a way a user would see: the corpus holds no answer and qa answered anyway; or it
    does, and the answer sentence is wrong (abstaining included) or no relevant passage is in
    the top k."""
    if not outcome.answerable:
        return outcome.abstained is False
    if outcome.answer_correct is False:
        return True
    return outcome.first_relevant_rank is None or outcome.first_relevant_rank > k


def answer_metrics(outcomes: Sequence[Outcome]) -> dict[str, float | None]:
    """Answer accuracy and abstention quality (positive class: abstained)."""
    answerable = [o for o in outcomes if o.answerable]
    unanswerable = [o for o in outcomes if not o.answerable]
    abstained = [o for o in outcomes if o.abstained]
    return {
        "answer_accuracy": _share(o.answer_correct for o in answerable),
        "abstain_precision": _share(not o.answerable for o in abstained),
        "abstain_recall": _share(o.abstained for o in unanswerable),
        "wrongly_abstained": _share(o.abstained for o in answerable),
    }


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
            figures["answer_accuracy"] = _share(o.answer_correct for o in group if o.answerable)
            figures["abstained"] = _share(o.abstained for o in group)
        by_kind[kind] = figures
    return by_kind


def _share(flags: Iterable[bool | None]) -> float | None:
    values = [bool(flag) for flag in flags]
    return sum(values) / len(values) if values else None


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
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))


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
    reports = {}
    for mode in modes:
        started = time.perf_counter()
        outcomes, rankings = ask_questions(searcher, questions, golds, mode, progress)
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


# -- reports -----------------------------------------------------------------------------------


def format_value(metric: str, value: float | None) -> str:
    if value is None:
        return "—"
    if metric in ("top1_chars", "n"):
        return f"{value:.0f}"
    if metric == "seconds":
        return f"{value:.2f}"
    return f"{value:.3f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table padded to line up in a terminal; columns after the first align right."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = [
            str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(("-" * (w + 2)) if i == 0 else ("-" * (w + 1) + ":") for i, w in enumerate(widths))
        + "|"
    )
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def metrics_table(report: EvalReport) -> str:
    """Rows = metrics, columns = modes."""
    modes = list(report.modes.values())
    names = [name for name in (*RETRIEVAL_METRICS, *ANSWER_METRICS, "top1_chars") if name in modes[0].metrics]
    rows = [[name, *(format_value(name, mode.metrics[name]) for mode in modes)] for name in names]
    rows.append(["seconds", *(format_value("seconds", mode.seconds) for mode in modes)])
    return markdown_table(["metric", *report.modes], rows)


def kind_table(report: EvalReport) -> str:
    """Rows = (kind, metric), columns = modes; empty when there is a single kind."""
    modes = list(report.modes.values())
    kinds = modes[0].by_kind
    if len(kinds) < 2:
        return ""
    rows = []
    for kind, figures in kinds.items():
        for name in KIND_METRICS:
            if name in figures and any(mode.by_kind[kind][name] is not None for mode in modes):
                label = f"{kind} (n={figures['n']})"
                rows.append([label, name, *(format_value(name, mode.by_kind[kind][name]) for mode in modes)])
    return markdown_table(["kind", "metric", *report.modes], rows)


def format_text(report: EvalReport) -> str:
    """What `qa eval` prints: what was evaluated, the tables and the notes."""
    parts = [f"{report.title}: {describe_counts(report.counts)}", "", metrics_table(report)]
    by_kind = kind_table(report)
    if by_kind:
        parts += ["", by_kind]
    parts += ["", *(f"- {note}" for note in report.notes)]
    return "\n".join(parts)


def describe_counts(counts: Mapping[str, Any]) -> str:
    """ "69 questions, 57 answerable, ...": the non-zero whole-number counts."""
    return ", ".join(
        f"{value} {name.replace('_', ' ')}"
        for name, value in counts.items()
        if isinstance(value, int) and not isinstance(value, bool) and value
    )


def report_json(report: EvalReport) -> dict[str, Any]:
    """{mode: {metric: value}, ..., "by_kind": ..., "hit_curve": ..., "counts": ..., "notes": ...}."""
    data: dict[str, Any] = {name: mode.metrics for name, mode in report.modes.items()}
    data["by_kind"] = {name: mode.by_kind for name, mode in report.modes.items()}
    data["hit_curve"] = {
        name: {str(n): v for n, v in mode.hit_curve.items()} for name, mode in report.modes.items()
    }
    data["counts"] = {
        **report.counts,
        "seconds": {name: round(mode.seconds, 3) for name, mode in report.modes.items()},
        "metric_seconds": {name: round(mode.metric_seconds, 3) for name, mode in report.modes.items()},
    }
    data["notes"] = report.notes
    return data


def ordered_outcomes(outcomes: Sequence[Outcome]) -> list[Outcome]:
    """Failures first, each group in question order."""
    return sorted(outcomes, key=lambda outcome: not outcome.failed)


def format_failure(outcome: Outcome) -> str:
    rank = outcome.first_relevant_rank if outcome.first_relevant_rank is not None else "none"
    expected = "abstain" if outcome.expected_abstain else " | ".join(f'"{text}"' for text in outcome.gold[:3])
    if outcome.abstained:
        got = "abstained"
    elif outcome.answer is not None:
        got = '"' + " ".join(outcome.answer.split())[:200] + '"'
    else:
        got = "—"
    where = f"- `{outcome.id}` ({outcome.kind}) {outcome.question}"
    return f"{where} — relevant rank {rank}; answer {got}; expected {expected}"


def format_markdown(report: EvalReport) -> str:
    """report.md: the tables, the notes, the failures of each mode and how it was made."""
    index = report.index
    lines = [
        f"# qa eval: {report.title}",
        "",
        f"{report.created} — `{report.command}`" if report.command else report.created,
        "",
        f"Index {index['directory']}: {index['articles']} articles in {index['chunks']} chunks,"
        f" model {index['model']}, chunking {json.dumps(index['chunking'])},"
        f" built {index['built_at']} ({index['generation']})"
        f" from {', '.join(index['corpus'])}.",
        "",
        f"Evaluated: {describe_counts(report.counts)}.",
        "",
        "## Metrics",
        "",
        metrics_table(report),
        "",
        *(f"- {note}" for note in report.notes),
    ]
    by_kind = kind_table(report)
    if by_kind:
        lines += ["", "## By kind", "", by_kind]
    for name, mode in report.modes.items():
        failures = [outcome for outcome in mode.outcomes if outcome.failed]
        lines += ["", f"## Failures, {name} ({len(failures)} of {len(mode.outcomes)})", ""]
        lines += [format_failure(outcome) for outcome in failures[:FAILURES_SHOWN]] or ["None."]
        if len(failures) > FAILURES_SHOWN:
            lines.append(f"- … and {len(failures) - FAILURES_SHOWN} more in results-{name}.jsonl")
    return "\n".join(lines) + "\n"


def plot_hit_curve(report: EvalReport, path: Path) -> None:
    """hit@k against k (1..10, 20, 50, 100; log scale), one line per mode, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=120)
    try:
        for name, mode in report.modes.items():
            ks = [n for n, value in mode.hit_curve.items() if value is not None]
            axes.plot(ks, [mode.hit_curve[n] for n in ks], marker="o", markersize=3, label=name)
        axes.set_xscale("log")
        ticks = [n for n in HIT_CURVE if n in (1, 2, 3, 5, 10, 20, 50, 100)]
        axes.set_xticks(ticks, [str(n) for n in ticks])
        axes.minorticks_off()
        axes.set_xlabel("k (passages or documents)")
        axes.set_ylabel("hit@k")
        axes.set_ylim(0, 1.02)
        axes.grid(alpha=0.3)
        axes.set_title(f"qa eval: {report.title}", fontsize=10)
        axes.legend()
        figure.tight_layout()
        figure.savefig(path, format="png")
    finally:
        plt.close(figure)


def write_outputs(report: EvalReport, out_dir: Path) -> list[Path]:
    """results-<mode>.jsonl (failures first), report.md and hit_at_k.png in ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, mode in report.modes.items():
        path = out_dir / f"results-{name}.jsonl"
        with path.open("w", encoding="utf-8") as out:
            for outcome in ordered_outcomes(mode.outcomes):
                out.write(json.dumps(outcome.to_json(), ensure_ascii=False) + "\n")
        written.append(path)
    markdown = out_dir / "report.md"
    markdown.write_text(format_markdown(report), encoding="utf-8")
    plot = out_dir / "hit_at_k.png"
    plot_hit_curve(report, plot)
    return [*written, markdown, plot]
