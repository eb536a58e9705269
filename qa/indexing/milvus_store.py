"""The Milvus store: chunks, dense vectors and BM25 kept in a Milvus collection.

``qa index --store milvus://PATH.db`` (Milvus Lite, embedded) or ``--store milvus://HOST:PORT``
(a Milvus server or cluster: the same client API). One entity per chunk::

    id        INT64 primary key: the chunk's id in chunks/ids.npy, kept across updates, never reused
    chunk_id, article_id, n, start, end      where the chunk is (its text can be rebuilt from them)
    text      the chunk text
    terms     qa's own analysed terms of title + text (lower-cased, stopwords out, Snowball
              stems), space-joined, in an analysed field that feeds Milvus's BM25 function:
              both stores see the same terms, so their BM25 rankings agree
    sparse    BM25 sparse vector, filled by Milvus (SPARSE_INVERTED_INDEX, k1 0.9, b 0.4 as bm25s)
    dense     the L2-normalised embedding (FLAT index, inner product: exact, as FAISS's flat index)
    date      INT64, the article's date as YYYYMMDD (-1: none), and
    source    its source, case-folded (""): what a filter (qa.types.Filter) is matched against, as a
              Milvus filter expression in each search (:func:`filter_expression`). A collection
              written before these fields existed answers unfiltered questions as before, and a
              filtered one with an error that says to rebuild it; the next update writes it
              anew from its vectors (no re-embedding), with the fields.

The index directory holds what it holds for FAISS minus the vectors: manifest.json (whose
``store`` names the Milvus URI and collection), the article and chunk tables (qa.indexing.table: the
article texts the answer sentence is cut from, and the row order), sentences.npy (the sentence vectors
the answer step scores), and df.json, the document frequency
of every term, from which the answer step weighs question words (the same IDF bm25s gives),
kept locally because it is read for every question and changes only when the index does.

An update deletes the chunks of changed and removed articles and inserts the new ones; Milvus
is written before the manifest is swapped. If a run dies in between, the old manifest stays
live: search results for ids it does not know are dropped, and the next run first deletes every
id at or above the old manifest's ``next_id`` (left over from the dead run) before inserting.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import ConfigError, IndexMismatchError, IndexMissingError, rebuild_hint
from qa.indexing.filters import date_number, source_key
from qa.indexing.generations import ROW_FILES, checked_load, read_generation, write_generation
from qa.indexing.keyword import BM25_B, BM25_K1, lucene_idf
from qa.indexing.manifest import Manifest
from qa.indexing.protocol import Store, StoreUpdate, require
from qa.indexing.table import ArticleTable, ChunkTable, IndexRows
from qa.ingest.chunk import embed_text
from qa.text.terms import analyze
from qa.types import Article, Chunk, Filter

DF_FILE = "df.json"
FILES = (*ROW_FILES, DF_FILE)
FILTER_FIELDS = ("date", "source")
BATCH = 1000  # entities per insert, delete or query request (well under the 64 MB message limit)
BM25 = {"bm25_k1": BM25_K1, "bm25_b": BM25_B}  # as qa.indexing.keyword.KeywordIndex
RRF_K = 60
MAX_VARCHAR = 65535


def bm25_terms(text: str) -> list[str]:
    """The terms BM25 indexes for a text (an empty one gets a placeholder, as in KeywordIndex)."""
    return analyze(text) or ["\u2205"]


class DocumentFrequencies:
    """How many chunks hold each analysed term, and how many terms there are in all: the
    statistics of bm25s's Lucene BM25 (IDF and average length), without the BM25 index."""

    def __init__(self, n_docs: int, n_terms: int, df: dict[str, int]) -> None:
        self.n_docs = n_docs
        self.n_terms = n_terms
        self.df = df

    @classmethod
    def count(cls, texts: Iterable[str]) -> DocumentFrequencies:
        df: Counter[str] = Counter()
        n_docs = n_terms = 0
        for text in texts:
            terms = bm25_terms(text)
            df.update(set(terms))
            n_docs += 1
            n_terms += len(terms)
        return cls(n_docs, n_terms, dict(df))

    def updated(self, removed: Iterable[str], added: Iterable[str]) -> DocumentFrequencies:
        """These statistics with the ``removed`` texts taken out and the ``added`` put in."""
        gone, new = DocumentFrequencies.count(removed), DocumentFrequencies.count(added)
        df = Counter(self.df)
        df.subtract(gone.df)
        df.update(new.df)
        return DocumentFrequencies(
            self.n_docs - gone.n_docs + new.n_docs, self.n_terms - gone.n_terms + new.n_terms,
            {term: count for term, count in df.items() if count > 0},
        )

    def idf(self, terms: set[str]) -> dict[str, float]:
        """The IDF bm25s's Lucene BM25 gives (qa.indexing.keyword.KeywordIndex.idf); a term no chunk
        holds gets the highest weight there is."""
        return {
            term: lucene_idf(self.n_docs, self.df.get(term, 0))
            for term in terms
        }

    def scores(self, query: Sequence[str], documents: Sequence[Sequence[str]]) -> np.ndarray:
        """Lucene BM25 of each document (its terms) for the query terms, exactly as bm25s
        scores it (k1 0.9, b 0.4; a repeated query term counts each time)."""
        weights = self.idf(set(query))
        average = self.n_terms / max(self.n_docs, 1)
        scores = np.zeros(len(documents), dtype=np.float32)
        for i, terms in enumerate(documents):
            counts = Counter(terms)
            norm = BM25["bm25_k1"] * (1 - BM25["bm25_b"] + BM25["bm25_b"] * len(terms) / average)
            scores[i] = sum(weights[t] * counts[t] / (counts[t] + norm) for t in query if counts[t])
        return scores

    def save(self, path: Path) -> None:
        data = {"n_docs": self.n_docs, "n_terms": self.n_terms, "df": dict(sorted(self.df.items()))}
        path.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> DocumentFrequencies:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(int(data["n_docs"]), int(data["n_terms"]), {str(t): int(c) for t, c in data["df"].items()})


_CLIENTS: dict[str, Any] = {}  # uri -> client: Milvus Lite runs one embedded server per file and process


def connect(record: dict[str, str]) -> Any:
    """The pymilvus client for a store record (qa.indexing.stores.parse_store), one per URI and process."""
    uri = record["uri"]
    if uri not in _CLIENTS:
        pymilvus = require("pymilvus", "milvus", "--store milvus://")
        if uri.endswith(".db"):
            require("milvus_lite", "milvus", "--store milvus://PATH.db")
            Path(uri).parent.mkdir(parents=True, exist_ok=True)
        try:
            _CLIENTS[uri] = pymilvus.MilvusClient(uri=uri)
        except pymilvus.exceptions.MilvusException as error:
            lite = " (a Milvus Lite file can be open in one process at a time: is another qa using it?)"
            raise ConfigError(f"cannot open Milvus at {uri}{lite if uri.endswith('.db') else ''}: {error}") from None
    return _CLIENTS[uri]


def disconnect(record: dict[str, str]) -> None:
    """Close this process's client for the store, so another process can open a Milvus Lite file."""
    client = _CLIENTS.pop(record["uri"], None)
    if client is not None:
        client.close()
        if record["uri"].endswith(".db"):  # the embedded server holds the file's lock until stopped
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(record["uri"])


def keyword_texts(chunks: Sequence[Chunk], articles: Mapping[str, Article]) -> list[str]:
    """What BM25 sees of each chunk: the article title, then the chunk text (as FaissStore)."""
    return [embed_text(articles[chunk.article_id].title, chunk.text) for chunk in chunks]


class MilvusStore(IndexRows):
    """An index whose vectors and BM25 live in Milvus; satisfies :class:`qa.indexing.protocol.Store`."""

    hybrid_rankers: frozenset[str] = frozenset({"rrf", "weighted"})  # Milvus's hybrid_search

    def __init__(
        self,
        manifest: Manifest,
        articles: Iterable[Article] | ArticleTable,
        chunks: Sequence[Chunk] | ChunkTable,
        ids: np.ndarray,
        client: Any,
        keyword: DocumentFrequencies,
        sentence_vectors: np.ndarray,
    ) -> None:
        """Use :meth:`load` or :meth:`write`."""
        super().__init__(manifest, articles, chunks, ids, sentence_vectors)
        self.client = client
        self.keyword = keyword
        self.collection = manifest.store["collection"]
        self._filterable: bool | None = None  # does the collection have FILTER_FIELDS (asked once)

    def filterable(self) -> bool:
        """Does the collection have the date and source fields (FILTER_FIELDS)? Asked once."""
        if self._filterable is None:
            fields = {field["name"] for field in self.client.describe_collection(self.collection)["fields"]}
            self._filterable = set(FILTER_FIELDS) <= fields
        return self._filterable

    def _expression(self, where: Filter | None) -> str:
        """The Milvus filter expression of ``where`` ("" for none); an error naming what to run
        when the collection predates the date and source fields."""
        if not where:
            return ""
        if not self.filterable():
            raise IndexMismatchError(
                f"Milvus collection {self.collection!r} was written before filters existed (no date and source"
                " fields)", rebuild=self.directory,
            )
        return filter_expression(where)

    # -- reading -----------------------------------------------------------------------------

    @classmethod
    def load(cls, index_dir: Path, *, verify: bool = True) -> MilvusStore:
        """Load the local files (checked as FaissStore checks them), connect, and check that
        Milvus holds what the manifest says."""
        return checked_load(Path(index_dir), cls._load_generation, verify)

    @classmethod
    def _load_generation(cls, index_dir: Path, manifest: Manifest, verify: bool) -> MilvusStore:
        folder, articles, chunks, ids, sentences, problems = read_generation(index_dir, manifest, FILES, verify)
        if problems:
            raise IndexMismatchError(
                f"the index in {index_dir} is inconsistent: {'; '.join(problems)}", rebuild=index_dir
            )
        client = connect(manifest.store)
        collection = manifest.store["collection"]
        if not client.has_collection(collection):
            raise IndexMissingError(
                f"{manifest.store['uri']} has no collection {collection!r}, which {index_dir} names:"
                f" {rebuild_hint(index_dir)}"
            )
        client.load_collection(collection)
        stored = client.query(collection, filter="", output_fields=["count(*)"])[0]["count(*)"]
        if stored != len(chunks):
            raise IndexMismatchError(
                f"Milvus collection {collection!r} holds {stored} chunks, {index_dir} has {len(chunks)}",
                rebuild=index_dir,
            )
        try:
            keyword = DocumentFrequencies.load(folder / DF_FILE)
        except (KeyError, TypeError, ValueError, OSError) as error:
            raise IndexMismatchError(f"{folder / DF_FILE} is damaged ({error})", rebuild=index_dir) from error
        store = cls(manifest, articles, chunks, ids, client, keyword, sentences)
        store.directory = index_dir
        return store

    def _rows(self, hits: list[dict[str, Any]], k: int, sign: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows) of Milvus hits, ids this manifest does not know dropped, padded to k."""
        rows_of = self.rows_of(np.array([int(hit["id"]) for hit in hits], dtype=np.int64))
        pairs = [(sign * float(hit["distance"]), int(row)) for hit, row in zip(hits, rows_of) if row >= 0]
        scores = np.zeros(k, dtype=np.float32)
        rows = np.full(k, -1, dtype=np.int64)
        for i, (score, row) in enumerate(pairs[:k]):
            scores[i], rows[i] = score, row
        return scores, rows

    def search(self, queries: np.ndarray, k: int, where: Filter | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Inner-product search among the chunks ``where`` keeps (a filter expression: Milvus's
        FLAT index is exact, so k come back when k match): (scores, rows), each (n_queries, k);
        row -1 is no hit."""
        kept = self.kept_rows(where) if where else None
        k = min(k, len(self.chunks) if kept is None else len(kept))
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        if k == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        results = self.client.search(
            self.collection, data=queries.tolist(), anns_field="dense", limit=k,
            output_fields=[], search_params={"metric_type": "IP"}, filter=self._expression(where),
        )
        pairs = [self._rows(list(hits), k) for hits in results]
        return np.stack([s for s, _ in pairs]), np.stack([r for _, r in pairs])

    def search_keyword(self, query: str, k: int, where: Filter | None = None) -> tuple[np.ndarray, np.ndarray]:
        """BM25: Milvus's BM25 function finds the candidates (twice k), which are then scored
        with the local statistics exactly as bm25s would: (scores, rows) of the k best, ties by
        row. (Milvus's own scores rank alike but are scaled per document differently, which
        would shift the convex fusion of the two legs.) ``where``: among the chunks it keeps."""
        terms = analyze(query)
        k = min(k, len(self.chunks))
        if not terms or k == 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        hits = self.client.search(
            self.collection, data=[" ".join(terms)], anns_field="sparse", limit=min(2 * k, len(self.chunks)),
            output_fields=["terms"], search_params={"metric_type": "BM25"}, filter=self._expression(where),
        )[0]
        rows = self.rows_of(np.array([int(hit["id"]) for hit in hits], dtype=np.int64))
        hits, rows = [hit for hit, row in zip(hits, rows) if row >= 0], rows[rows >= 0]
        known = [term for term in terms if term in self.keyword.df]
        scores = self.keyword.scores(known, [hit["entity"]["terms"].split(" ") for hit in hits])
        keep = scores > 0
        order = np.lexsort((rows[keep], -scores[keep]))[:k]
        return scores[keep][order], rows[keep][order]

    def search_hybrid(
        self, vector: np.ndarray, query: str, k: int, *, ranker: str = "rrf", dense_weight: float = 0.4,
        where: Filter | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Both legs fused inside Milvus by ``hybrid_search``: reciprocal rank fusion
        (``ranker="rrf"``, k=60) or a weighted sum (``"weighted"``, Milvus normalises each
        leg's scores with arctan), each leg among the chunks ``where`` keeps. (scores, rows) of
        the k best, best first."""
        from pymilvus import AnnSearchRequest, RRFRanker, WeightedRanker

        k = min(k, len(self.chunks))
        if k == 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        expression = self._expression(where)
        requests = [AnnSearchRequest([np.asarray(vector, np.float32).tolist()], "dense", {"metric_type": "IP"}, k,
                                     expr=expression or None)]
        terms = analyze(query)
        if terms:
            requests.append(AnnSearchRequest([" ".join(terms)], "sparse", {"metric_type": "BM25"}, k,
                                             expr=expression or None))
        if ranker == "rrf":
            fuse = RRFRanker(RRF_K)
        else:
            fuse = WeightedRanker(*([dense_weight, 1 - dense_weight][: len(requests)]), norm_score=True)
        hits = self.client.hybrid_search(self.collection, requests, ranker=fuse, limit=k, output_fields=[])[0]
        scores, rows = self._rows(list(hits), k)
        return scores[rows >= 0], rows[rows >= 0]

    def vectors(self) -> np.ndarray:
        """All vectors, in row order, read back from Milvus (to move the index to another store)."""
        vectors = np.zeros((len(self.ids), self.dim), dtype=np.float32)
        for start in range(0, len(self.ids), BATCH):
            batch = [int(i) for i in self.ids[start : start + BATCH]]
            entities = self.client.query(self.collection, filter=f"id in {batch}", output_fields=["id", "dense"])
            rows = self.rows_of(np.array([int(entity["id"]) for entity in entities], dtype=np.int64))
            for row, entity in zip(rows, entities):
                vectors[row] = entity["dense"]
        return vectors

    # -- writing -----------------------------------------------------------------------------

    @classmethod
    def write(cls, index_dir: Path, update: StoreUpdate, previous: Store | None) -> MilvusStore:
        """Bring the collection to ``update`` (only the changes when ``previous`` is this same
        collection, else everything into a new one), then write the local files and manifest."""
        record = update.manifest.store
        collection = record["collection"]
        # the same collection is updated in place, unless it predates the filter fields: then it
        # is written anew from the previous vectors (no re-embedding), and gains them
        same = isinstance(previous, MilvusStore) and previous.manifest.store == record and previous.filterable()
        client = connect(record)
        by_id = {a.id: a for a in update.articles}
        texts = keyword_texts(update.chunks, by_id)
        fresh_rows = np.flatnonzero(update.fresh)
        if same and isinstance(previous, MilvusStore):  # (isinstance again: for the type checker)
            dropped = sorted(set(previous.ids.tolist()) - set(update.ids.tolist()))
            client.delete(collection, filter=f"id >= {previous.manifest.next_id}")  # a dead run's leftovers
            for start in range(0, len(dropped), BATCH):
                client.delete(collection, ids=dropped[start : start + BATCH])
            dropped_rows = previous.rows_of(np.array(dropped, dtype=np.int64))
            gone = keyword_texts([previous.chunks[row] for row in dropped_rows], previous.articles)
            keyword = previous.keyword.updated(gone, [texts[row] for row in fresh_rows])
            rows, vectors = fresh_rows, update.fresh_vectors
        else:
            if client.has_collection(collection):
                client.drop_collection(collection)
            create_collection(client, collection, update.manifest.dim)
            keyword = DocumentFrequencies.count(texts)
            rows, vectors = np.arange(len(update.chunks)), update.all_vectors(previous)
        for start in range(0, len(rows), BATCH):
            batch = rows[start : start + BATCH]
            client.insert(collection, [
                entity(chunk, int(update.ids[row]), texts[row], vector, by_id[chunk.article_id])
                for row, vector in zip(batch, vectors[start : start + BATCH])
                for chunk in (update.chunks[row],)
            ])
        client.flush(collection)
        client.load_collection(collection)
        sentences = update.all_sentences(previous)
        manifest = write_generation(
            Path(index_dir), update.manifest, update.articles, update.chunks, update.ids, sentences,
            lambda staging: keyword.save(staging / DF_FILE),
        )
        store = cls(manifest, update.articles, update.chunks, update.ids, client, keyword, sentences)
        store.directory = Path(index_dir)
        return store


def filter_expression(where: Filter) -> str:
    """A filter as a Milvus boolean expression over the ``date`` and ``source`` fields (no date,
    stored as -1, fails any date bound; sources compared case-folded)."""
    parts = []
    if where.since or where.until:
        parts.append("date >= 0")
    if where.since:
        parts.append(f"date >= {date_number(where.since)}")
    if where.until:
        parts.append(f"date <= {date_number(where.until)}")
    if where.sources:
        parts.append(f"source in {json.dumps(sorted({source_key(name) for name in where.sources}))}")
    return " and ".join(parts)


def entity(chunk: Chunk, chunk_id: int, keyword_text: str, vector: np.ndarray, article: Article) -> dict[str, Any]:
    """One chunk as a Milvus entity (``sparse`` is computed by Milvus from ``terms``)."""
    terms = " ".join(bm25_terms(keyword_text))
    return {
        "id": chunk_id,
        "chunk_id": chunk.id,
        "article_id": chunk.article_id,
        "n": chunk.n,
        "start": chunk.start,
        "end": chunk.end,
        "text": chunk.text.encode("utf-8")[:MAX_VARCHAR].decode("utf-8", "ignore"),
        "terms": terms.encode("utf-8")[:MAX_VARCHAR].decode("utf-8", "ignore"),
        "dense": np.asarray(vector, dtype=np.float32).tolist(),
        "date": date_number(article.date),
        "source": source_key(article.source).encode("utf-8")[:MAX_VARCHAR].decode("utf-8", "ignore"),
    }


def create_collection(client: Any, collection: str, dim: int) -> None:
    """The collection of the module docstring, with its two indexes; strong consistency, so a
    search right after an update sees it."""
    from pymilvus import DataType, Function, FunctionType

    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("chunk_id", DataType.VARCHAR, max_length=MAX_VARCHAR)
    schema.add_field("article_id", DataType.VARCHAR, max_length=MAX_VARCHAR)
    for name in ("n", "start", "end"):
        schema.add_field(name, DataType.INT64)
    schema.add_field("text", DataType.VARCHAR, max_length=MAX_VARCHAR)
    schema.add_field(
        "terms", DataType.VARCHAR, max_length=MAX_VARCHAR, enable_analyzer=True,
        analyzer_params={"tokenizer": "standard"},  # the terms are analysed already: only split them
    )
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("date", DataType.INT64)  # FILTER_FIELDS
    schema.add_field("source", DataType.VARCHAR, max_length=MAX_VARCHAR)
    schema.add_function(Function(
        name="bm25", function_type=FunctionType.BM25, input_field_names=["terms"], output_field_names=["sparse"],
    ))
    indexes = client.prepare_index_params()
    indexes.add_index("dense", index_type="FLAT", metric_type="IP")
    indexes.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params=BM25)
    client.create_collection(collection, schema=schema, index_params=indexes, consistency_level="Strong")
