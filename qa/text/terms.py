"""The terms a text is made of, as BM25 and the answer step compare them: lower-cased words of
two or more characters, English stopwords (Lucene's list) dropped, Snowball-stemmed."""

from __future__ import annotations

import re
from functools import lru_cache

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
