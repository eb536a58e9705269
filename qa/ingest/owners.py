"""Who owns an article id when two files give the same one.

An article's id is its file's path, or a JSONL line's (a CSV row's) ``"id"``, so an uploaded ``0.jsonl`` can
claim the id of another file's article. An indexed article keeps its id against any newcomer,
whatever the sort order: the newcomer is refused and both files are named. For ids the index
does not hold yet (a new index), the first file in id order (sorted paths) keeps the id and the
others are reported as duplicates of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from qa.types import Article

MANY_ARTICLE_SUFFIXES = (".jsonl", ".csv")  # files whose articles are named FILE:LINE (or ROW)


class HasArticles(Protocol):
    @property
    def articles(self) -> Sequence[Article]: ...


def article_file_id(article_path: str) -> str:
    """The corpus file of an ``Article.path`` (``file.jsonl:LINE`` -> ``file.jsonl``, ``file.csv:ROW``
    -> ``file.csv``)."""
    head, _, line = article_path.rpartition(":")
    return head if head.lower().endswith(MANY_ARTICLE_SUFFIXES) and line.isdigit() else article_path


def owners_of(indexed: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Article id -> the corpus file that gave it, from an index manifest's ``articles``."""
    return {article_id: article_file_id(str(entry.get("path", ""))) for article_id, entry in indexed.items()}


def keepers(files: Iterable[HasArticles], owners: Mapping[str, str]) -> dict[str, str]:
    """Article id -> the ``Article.path`` that keeps the id: the owner's, when the file that owns
    it in the index still gives it; else the first in the files' order."""
    first: dict[str, str] = {}
    owned: dict[str, str] = {}
    for file in files:
        for article in file.articles:
            first.setdefault(article.id, article.path)
            if owners.get(article.id) == article_file_id(article.path):
                owned.setdefault(article.id, article.path)
    return {**first, **owned}


def refusal(article_id: str, keeper: str, owners: Mapping[str, str]) -> str:
    """The reason a second article with ``article_id`` is refused, naming the file that keeps it."""
    if article_id in owners and article_file_id(keeper) == owners[article_id]:
        return (f"article id {article_id!r} belongs to {keeper}, which is in the index: not replaced"
                " (give this article another id)")
    return f"duplicate article id {article_id!r} (first in {keeper})"
