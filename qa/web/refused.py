"""Files in the corpus folder that the index does not hold, and why: the Corpus tab lists them
(a refused upload, a file copied in by hand, a link out of the corpus) so they can be deleted
from the page instead of being reported again on every re-index.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from qa.config import IngestLimits
from qa.ingest.corpus import corpus_files, read_file
from qa.ingest.owners import article_file_id, owners_of
from qa.types import Rejected

Articles = Mapping[str, Mapping[str, object]]  # a manifest's "articles": id -> {"path", ...}
UNKNOWN = "not indexed: its articles are duplicates of indexed ones (same id or same text)"


def indexed_files(manifest_articles: Articles) -> set[str]:
    """The corpus files (ids) that gave at least one indexed article."""
    return set(owners_of(manifest_articles).values())


def corpus_paths(roots: Iterable[Path]) -> tuple[dict[str, Path], dict[str, str]]:
    """Every file the corpus walk sees (id -> path, refused links included) and the reasons
    the walk itself refused some of them (id -> reason)."""
    paths: dict[str, Path] = {}
    rejected: list[Rejected] = []
    for _ in corpus_files(roots, rejected, paths):
        pass
    return paths, {item.path: item.reason for item in rejected}


def reasons_by_file(rejected: Iterable[Rejected]) -> dict[str, str]:
    """File id -> the reasons given for it (a JSONL file's lines, a CSV file's rows, joined)."""
    out: dict[str, list[str]] = {}
    for item in rejected:
        file_id = article_file_id(item.path)
        where = item.path[len(file_id) + 1:] if item.path != file_id else ""
        part = "row" if file_id.lower().endswith(".csv") else "line"
        out.setdefault(file_id, []).append(f"{part} {where}: {item.reason}" if where else item.reason)
    return {file_id: "; ".join(reasons) for file_id, reasons in out.items()}


class NotIndexed:
    """The corpus files the index does not hold, each with a reason. Reasons come from the last
    indexing report seen; a file none explains is read alone (cheap: one file) to find one."""

    def __init__(self, limits: IngestLimits) -> None:
        self.limits = limits
        self.known: dict[tuple[str, float, int], str] = {}  # (id, mtime, size) -> reason

    def learn(self, roots: Iterable[Path], rejected: Iterable[Rejected]) -> None:
        paths, _ = corpus_paths(roots)
        for file_id, reason in reasons_by_file(rejected).items():
            if file_id in paths and (key := self._key(file_id, paths[file_id])):
                self.known[key] = reason

    def rows(self, roots: Iterable[Path], manifest_articles: Articles) -> list[list[str]]:
        """[file, reason] for every corpus file no indexed article comes from, in id order."""
        roots = list(roots)
        paths, walk_reasons = corpus_paths(roots)
        held = indexed_files(manifest_articles)
        rows = []
        for file_id in sorted(set(paths) - held):
            reason = walk_reasons.get(file_id) or self._reason(file_id, paths[file_id])
            rows.append([file_id, reason])
        return rows

    def _key(self, file_id: str, path: Path) -> tuple[str, float, int] | None:
        try:
            info = os.lstat(path)
        except OSError:
            return None
        return file_id, info.st_mtime, info.st_size

    def _reason(self, file_id: str, path: Path) -> str:
        key = self._key(file_id, path)
        if key is None:
            return "gone"
        if key not in self.known:
            parsed = read_file(path, file_id, self.limits)
            self.known[key] = reasons_by_file(parsed.rejected).get(file_id) or UNKNOWN
            if len(self.known) > 10_000:
                self.known.pop(next(iter(self.known)))
        return self.known[key]


def drop_unindexed(
    names: Iterable[str], folder: Path, roots: Iterable[Path], manifest_articles: Articles
) -> list[str]:
    """Delete the just-saved uploads ``names`` (in ``folder``) that gave the index no article:
    a refused upload is not left in the corpus to be reported on every re-index. Returns
    the names deleted."""
    paths, _ = corpus_paths(roots)
    by_path = {os.path.abspath(path): file_id for file_id, path in paths.items()}
    held = indexed_files(manifest_articles)
    removed = []
    for name in names:
        file_id = by_path.get(os.path.abspath(folder / name))
        if file_id is None or file_id not in held:
            (folder / name).unlink(missing_ok=True)
            removed.append(name)
    return removed
