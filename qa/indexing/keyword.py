"""The keyword leg: BM25 over the chunks with bm25s (English stemming and stopwords).

Document *i* of the BM25 index is row *i* of the chunk store. Saved as bm25s's own plain
files (``.npy`` without pickle and JSON) in a folder of the index generation.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from qa.errors import ConfigError
from qa.text.terms import analyze

# Lucene's BM25 parameters, as Anserini's BM25 baseline uses them; the Milvus store's BM25
# function is given the same (qa.indexing.milvus_store).
BM25_K1 = 0.9
BM25_B = 0.4


def lucene_idf(n_docs: int, df: int) -> float:
    """BM25's inverse document frequency of a term that ``df`` of ``n_docs`` documents hold
    (Lucene's form, never negative)."""
    return float(np.log(1 + (n_docs - df + 0.5) / (df + 0.5)))


class KeywordIndex:
    """BM25 (Lucene variant) over a list of texts; ``search`` returns (scores, rows)."""

    def __init__(self, retriever, n_docs: int) -> None:
        self.retriever = retriever
        self.n_docs = n_docs

    @classmethod
    def build(cls, texts: Sequence[str], k1: float = BM25_K1, b: float = BM25_B) -> KeywordIndex:
        import bm25s

        retriever = bm25s.BM25(k1=k1, b=b, method="lucene")
        if texts:
            # bm25s needs at least one term per document; an empty one gets a placeholder
            documents = [analyze(text) or ["\u2205"] for text in texts]
            # a sorted vocabulary: bm25s numbers terms in set order, which changes from run to run
            vocab = {term: i for i, term in enumerate(sorted({term for terms in documents for term in terms}))}
            ids = [[vocab[term] for term in terms] for terms in documents]
            retriever.index((ids, vocab), show_progress=False)
        return cls(retriever, len(texts))

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        if self.n_docs:
            self.retriever.save(str(folder), allow_pickle=False, show_progress=False)
        (folder / "n_docs.txt").write_text(f"{self.n_docs}\n")

    @classmethod
    def load(cls, folder: Path, mmap: bool = False) -> KeywordIndex:
        import bm25s

        n_docs = int((folder / "n_docs.txt").read_text().strip())
        if n_docs == 0:
            return cls.build([])
        retriever = bm25s.BM25.load(str(folder), mmap=mmap, allow_pickle=False, show_progress=False)
        return cls(retriever, n_docs)

    def search(self, query: str, k: int, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The k best rows by BM25 score (rows with a score of 0 are left out); ``weights``, one
        per row (bm25s's weight mask: 0 for the rows a filter leaves out), multiply the scores
        before the top k is taken."""
        scores = self.scores(query, weights)
        k = min(k, int(np.count_nonzero(scores)))
        if k == 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((top, -scores[top]))]  # by score, ties by row: deterministic
        return scores[top], top.astype(np.int64)

    def idf(self, terms: set[str]) -> dict[str, float]:
        """BM25's inverse document frequency of each term. A term no document has gets the
        highest weight there is: a question about it is one the corpus can hardly answer."""
        vocab = self.retriever.vocab_dict if self.n_docs else {}
        indptr = self.retriever.scores["indptr"] if self.n_docs else np.zeros(1, dtype=np.int64)
        weights = {}
        for term in terms:
            if term in vocab:
                df = int(indptr[vocab[term] + 1] - indptr[vocab[term]])
                weights[term] = lucene_idf(self.n_docs, df)
            else:
                weights[term] = lucene_idf(self.n_docs, 0)
        return weights

    def scores(self, query: str, weights: np.ndarray | None = None) -> np.ndarray:
        """The BM25 score of every row for the query, times its weight when ``weights`` are given."""
        if self.n_docs == 0:
            return np.zeros(0, np.float32)
        vocab = self.retriever.vocab_dict
        terms = [term for term in analyze(query) if term in vocab]
        if not terms:
            return np.zeros(self.n_docs, np.float32)
        return np.asarray(self.retriever.get_scores(terms, weight_mask=weights), dtype=np.float32)


def tiled_bm25(retriever, m: int, size: int):
    """The BM25 index (bm25s, Lucene idf) of a corpus made of copies of the ``m`` documents of
    ``retriever``, truncated to ``size`` documents. A document's term-frequency part of the
    score depends only on its own length and the mean length, which whole copies keep; only the
    idf changes, with the new document frequencies. Exact for whole copies; a partial last copy
    moves the mean length slightly, which this ignores."""
    import bm25s

    scores = retriever.scores
    data, indices, indptr = scores["data"], scores["indices"], np.asarray(scores["indptr"])
    copies = -(-size // m)
    offsets = (np.arange(copies, dtype=np.int64) * m)[:, None]
    new_indptr = np.zeros(len(indptr), dtype=np.int64)
    pieces_data, pieces_indices = [], []
    for term in range(len(indptr) - 1):
        docs = np.asarray(indices[indptr[term] : indptr[term + 1]], dtype=np.int64)
        tiled = (docs[None, :] + offsets).ravel()
        keep = tiled < size
        df_old, df_new = len(docs), int(keep.sum())
        ratio = lucene_idf(size, df_new) / lucene_idf(m, df_old) if df_old else 0.0
        values = np.tile(np.asarray(data[indptr[term] : indptr[term + 1]], dtype=np.float32) * ratio, copies)
        pieces_indices.append(tiled[keep].astype(np.int32))
        pieces_data.append(values[keep])
        new_indptr[term + 1] = new_indptr[term] + df_new
    tiled = bm25s.BM25(k1=retriever.k1, b=retriever.b, method=retriever.method)
    tiled.scores = {
        "data": np.concatenate(pieces_data).astype(np.float32),
        "indices": np.concatenate(pieces_indices),
        "indptr": new_indptr,
        "num_docs": size,
    }
    if getattr(retriever, "nonoccurrence_array", None) is not None:  # BM25L/BM25+: not exact when tiled
        raise ConfigError(f"qa bench: cannot copy a {retriever.method} BM25 index, only lucene")
    tiled.nonoccurrence_array = None
    tiled.vocab_dict = dict(retriever.vocab_dict)
    tiled.unique_token_ids_set = set(tiled.vocab_dict.values())
    return tiled
