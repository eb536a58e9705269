"""The public benchmarks, converted on the fly: SQuAD v1.1 and 2.0 (each article one document,
its paragraphs joined by a blank line, scored like a question set; a 2.0 ``is_impossible``
question has no gold span, so qa should abstain) and BEIR (retrieval only, at document level).

The halves of SQuAD (``--articles first|last``) are SQuAD v1.1 dev's: its first 24 articles (the
tuning half) and its last 24 (the report half), whose titles ship in ``squad_halves.json``.
SQuAD 2.0 dev holds 35 of those 48 articles in another order: 17 lie in the first half, 18 in
the last. A file with an article outside v1.1 dev is split by its own file order instead."""

from __future__ import annotations

import gzip
import json
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate
from pathlib import Path
from typing import Any

from qa.errors import ConfigError
from qa.eval.questions import GoldSpan, Question, QuestionSetError
from qa.ingest.corpus import Corpus
from qa.ingest.readers import make_article, normalize_newlines
from qa.text.jsonl import numbered_lines
from qa.types import Article, Rejected

# -- benchmarks --------------------------------------------------------------------------------


SQUAD_HALVES = Path(__file__).with_name("squad_halves.json")  # SQuAD v1.1 dev's titles, by half
UNANSWERABLE = "unanswerable"  # the kind of a SQuAD 2.0 is_impossible question (no gold span)


@dataclass
class SquadSet:
    """SQuAD v1.1 or 2.0 as a corpus (one article per title) and span-labelled questions."""

    corpus: Corpus
    questions: list[Question]
    article_ids: list[str]  # in file order
    article_of: dict[str, str] = field(default_factory=dict)  # question id -> the article it asks about


def load_squad(path: Path) -> SquadSet:
    """Read SQuAD v1.1 or 2.0 JSON: plain, gzipped (.gz) or zipped (the one .json inside is read)."""
    path = Path(path)
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                names = [name for name in archive.namelist() if name.endswith(".json")]
                if len(names) != 1:
                    raise QuestionSetError(f"{path} must hold exactly one .json file, it holds {len(names)}")
                data = json.loads(archive.read(names[0]).decode("utf-8"))
        elif path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                data = json.load(handle)
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise QuestionSetError(f"cannot read {path}: {error.strerror or error}") from error
    except (json.JSONDecodeError, UnicodeDecodeError, zipfile.BadZipFile, EOFError, gzip.BadGzipFile) as error:
        raise QuestionSetError(f"{path} is not SQuAD JSON ({error})") from error
    return convert_squad(data, path.name)


def convert_squad(data: Any, source: str) -> SquadSet:
    """Each article becomes one :class:`Article` (id = its title, text = its paragraphs' contexts
    joined by a blank line); every gold answer becomes a span with its exact ``start``; a SQuAD
    2.0 ``is_impossible`` question gets none (kind "unanswerable")."""
    try:
        entries = data["data"]
        squad = SquadSet(Corpus(), [], [])
        for entry in entries:
            article, questions = squad_article(entry, source)
            squad.corpus.articles.append(article)
            squad.article_ids.append(article.id)
            squad.questions.extend(questions)
            squad.article_of.update((question.id, article.id) for question in questions)
    except (KeyError, TypeError) as error:
        raise QuestionSetError(f"{source} is not in the SQuAD format (missing or wrong {error})") from error
    return squad


def squad_title(title: str) -> str:
    """A SQuAD article's title as qa shows it (and its reader reads it): "Super_Bowl_50" -> "Super Bowl 50"."""
    return title.replace("_", " ")


def squad_article(entry: dict[str, Any], source: str) -> tuple[Article, list[Question]]:
    """One SQuAD article and its questions; a paragraph starts where the previous one's context
    and the blank line after it end."""
    title = entry["title"]
    contexts = [paragraph["context"] for paragraph in entry["paragraphs"]]
    offsets: list[int] = [0, *accumulate(len(context) + 2 for context in contexts[:-1])]
    text = "\n\n".join(contexts)
    questions = []
    for paragraph, offset in zip(entry["paragraphs"], offsets):
        for qa in paragraph["qas"]:
            origin = f"{source}, question {qa['id']}"
            impossible = bool(qa.get("is_impossible", False))
            spans = tuple(
                dict.fromkeys(
                    GoldSpan(title, answer["text"], offset + int(answer["answer_start"]))
                    for answer in ([] if impossible else qa["answers"])
                )
            )
            if not spans and not impossible:
                raise QuestionSetError(f"{origin}: no answer, and not marked is_impossible")
            for span in spans:
                if span.start is None or text[span.start : span.start + len(span.text)] != span.text:
                    raise QuestionSetError(f"{origin}: the answer {span.text!r} is not at its answer_start")
            kind = UNANSWERABLE if impossible else "squad"
            questions.append(Question(str(qa["id"]), qa["question"], kind, spans, (), origin))
    article = make_article(title, f"{source}#{title}", squad_title(title), text)
    return article, questions


@lru_cache(maxsize=1)
def v11_halves() -> dict[str, tuple[str, ...]]:
    """SQuAD v1.1 dev's article titles: {"first": its first 24, "last": its last 24}."""
    data = json.loads(SQUAD_HALVES.read_text(encoding="utf-8"))
    return {"first": tuple(data["first"]), "last": tuple(data["last"])}


def squad_halves(article_ids: list[str]) -> dict[str, list[str]]:
    """The articles of each half: those among SQuAD v1.1 dev's first / last 24 articles when
    every article is one of v1.1 dev's (v1.1 dev itself, SQuAD 2.0 dev), else the first and
    last half of the file order."""
    v11 = v11_halves()
    if set(article_ids) <= set(v11["first"]) | set(v11["last"]):
        first = set(v11["first"])
        return {
            "first": [a for a in article_ids if a in first],
            "last": [a for a in article_ids if a not in first],
        }
    half = len(article_ids) // 2
    return {"first": article_ids[:half], "last": article_ids[half:]}


def squad_questions(squad: SquadSet, articles: str = "all") -> list[Question]:
    """The questions of the first half of the articles, the last half (:func:`squad_halves`), or all."""
    chosen = {**squad_halves(squad.article_ids), "all": squad.article_ids}
    if articles not in chosen:
        raise ConfigError(f"--articles must be first, last or all, not {articles!r}")
    keep = set(chosen[articles])
    return [question for question in squad.questions if squad.article_of[question.id] in keep]


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
        directory / "corpus.jsonl",  # missing: refused below
    )
    qrels_path = directory / "qrels" / f"{split}.tsv"
    for needed, path in (
        ("corpus.jsonl or corpus.jsonl.gz", corpus_path),
        ("queries.jsonl", directory / "queries.jsonl"),
        (f"qrels/{split}.tsv", qrels_path),
    ):
        if not path.is_file():
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
            for number, line in numbered_lines(lines):
                where = f"{path}:{number}"
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise QuestionSetError(f"{where}: not valid JSON ({error.msg})") from None
                if not isinstance(record, dict) or "_id" not in record:
                    raise QuestionSetError(f'{where}: expected a JSON object with "_id"')
                yield where, record
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise QuestionSetError(f"cannot read {path}: {error}") from error


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
    for number, line in numbered_lines(lines):
        fields = line.split("\t")
        if number == 1 and fields[0].strip() == "query-id":
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
