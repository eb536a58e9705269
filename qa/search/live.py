"""A searcher that follows its index directory: a running app picks up a new index by itself.

`qa index` writes a new generation and then replaces ``manifest.json`` atomically, so a new
index shows as a new manifest file (another inode). :class:`LiveSearcher` looks at the manifest
(one ``stat``) before each question and, when it changed, loads the new generation and swaps
in a new :class:`~qa.search.searcher.Searcher`. A question already being answered keeps the searcher it
started with, so it never mixes two generations. If the new index cannot be used (damaged, or
built with another model) the old one keeps answering and :attr:`LiveSearcher.problem` says why.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from qa.config import Settings
from qa.embed.protocol import Embedder
from qa.errors import QAError
from qa.indexing.manifest import MANIFEST
from qa.indexing.protocol import Store
from qa.search.searcher import Searcher, open_searcher
from qa.types import Hit, Result


def manifest_stamp(index_dir: Path) -> tuple[int, int, int] | None:
    """What identifies the manifest file now: (inode, size, mtime in ns); None if absent."""
    try:
        info = os.stat(Path(index_dir) / MANIFEST)
    except OSError:
        return None
    return info.st_ino, info.st_size, info.st_mtime_ns


class LiveSearcher:
    """Answers like :class:`~qa.search.searcher.Searcher` (``ask``, ``search``), always from the newest
    usable generation of ``settings.index_dir``. Thread-safe; one model for every generation."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.problem: str | None = None  # why the newest index on disk is not the one in use
        self._lock = threading.Lock()
        self._stamp = manifest_stamp(settings.index_dir)
        self._searcher = open_searcher(settings, embedder)  # the index's own backend unless one is given
        self.embedder = self._searcher.embedder

    def _open(self) -> Searcher:
        return open_searcher(self.settings, self.embedder)

    @property
    def generation(self) -> str:
        """The generation now answering, e.g. ``gen-000003``."""
        return self._searcher.store.manifest.generation

    @property
    def store(self) -> Store:
        """The store now answering (so a LiveSearcher can stand where a Searcher is read)."""
        return self.current().store

    def current(self) -> Searcher:
        """The searcher over the newest usable index, reloading first if the manifest changed."""
        if manifest_stamp(self.settings.index_dir) != self._stamp:
            self.reload()
        return self._searcher

    def reload(self) -> bool:
        """Load the index on disk if its manifest changed since the last load; True when a new
        generation was swapped in. On failure the old searcher stays and ``problem`` says why."""
        with self._lock:
            stamp = manifest_stamp(self.settings.index_dir)
            if stamp == self._stamp:
                return False
            try:
                searcher = self._open()
            except QAError as error:
                self._stamp = stamp  # do not retry a broken index on every question
                if self.problem != str(error):
                    print(f"qa: still answering from {self.generation}: {error}", file=sys.stderr, flush=True)
                self.problem = str(error)
                return False
            self._stamp, self._searcher, self.problem = stamp, searcher, None
            return True

    def ask(self, question: str, k: int = 5, *, mode: str | None = None, history: Sequence[str] = ()) -> Result:
        """:meth:`qa.search.searcher.Searcher.ask` on the newest usable index."""
        return self.current().ask(question, k, mode=mode, history=history)

    def search(
        self, question: str, k: int = 5, *, mode: str | None = None, history: Sequence[str] = ()
    ) -> list[Hit]:
        """:meth:`qa.search.searcher.Searcher.search` on the newest usable index."""
        return self.current().search(question, k, mode=mode, history=history)
