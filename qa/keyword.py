"""The keyword leg: BM25 over the chunks with bm25s (English stemming and stopwords).

Document *i* of the BM25 index is row *i* of the chunk store. Saved as bm25s's own plain
files (``.npy`` without pickle and JSON) in a folder of the index generation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

TOKEN_PATTERN = r"(?u)\b\w\w+\b"
WORD = re.compile(TOKEN_PATTERN)


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer  # PyStemmer: Snowball's English stemmer in C

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN  # Lucene's English list, as Anserini's BM25 uses

    return frozenset(STOPWORDS_EN)


def analyze(text: str) -> list[str]:
    """The terms BM25 sees: lower-cased words of two or more characters, English stopwords
    dropped, Snowball-stemmed. Also used to compare questions with sentences."""
    stopwords = _stopwords()
    words = [word for word in WORD.findall(text.lower()) if word not in stopwords]
    return _stemmer().stemWords(words) if words else []


class KeywordIndex:
    """BM25 (Lucene variant) over a list of texts; ``search`` returns (scores, rows)."""

    def __init__(self, retriever, n_docs: int) -> None:
        self.retriever = retriever
        self.n_docs = n_docs

    @classmethod
    def build(cls, texts: Sequence[str], k1: float = 0.9, b: float = 0.4) -> KeywordIndex:
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

    def search(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k best rows by BM25 score (rows with a score of 0 are left out)."""
        scores = self.scores(query)
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
                weights[term] = float(np.log(1 + (self.n_docs - df + 0.5) / (df + 0.5)))
            else:
                weights[term] = float(np.log(1 + (self.n_docs + 0.5) / 0.5))
        return weights

    def scores(self, query: str) -> np.ndarray:
        """The BM25 score of every row for the query."""
        if self.n_docs == 0:
            return np.zeros(0, np.float32)
        vocab = self.retriever.vocab_dict
        terms = [term for term in analyze(query) if term in vocab]
        if not terms:
            return np.zeros(self.n_docs, np.float32)
        return np.asarray(self.retriever.get_scores(terms), dtype=np.float32)
