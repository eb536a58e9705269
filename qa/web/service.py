"""What the web chat does, without the web: ask, add uploaded articles to the corpus folder,
delete articles, list what is indexed, and run a question set, all against one index whose
searcher is swapped for a fresh one after every update. :mod:`qa.web.app` is the Gradio shell.

Uploads are written into the corpus folder the chat was started with (the first folder of
``Settings.corpus``), under their own base name only: a name with a directory part is cut to
its last component, and hidden names, ``..``, unsupported types and files over
:data:`MAX_UPLOAD_BYTES` are refused with the reason.
"""

from __future__ import annotations

import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from qa.config import Settings
from qa.errors import ConfigError
from qa.ingest.boundary import name_problem
from qa.ingest.corpus import corpus_files
from qa.ingest.owners import article_file_id
from qa.ingest.readers import SUPPORTED_SUFFIXES
from qa.text.names import is_utf8
from qa.types import Filter, Rejected
from qa.web.refused import NotIndexed, corpus_paths, drop_unindexed

if TYPE_CHECKING:
    from qa.embed.protocol import Embedder
    from qa.eval.run import EvalReport
    from qa.indexing.indexer import IndexReport
    from qa.search.searcher import Searcher
    from qa.types import Result

MAX_UPLOAD_MB = 20
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1_000_000  # megabytes as `qa index` counts them (IngestLimits)
SHIPPED_QUESTIONS = Path(__file__).resolve().parents[1] / "data" / "seeds.jsonl"  # package data, in the wheel
WARM_UP_QUESTION = "What is this about?"


def upload_problem(name: str, size: int) -> str | None:
    """Why an uploaded file called ``name`` (its base name) of ``size`` bytes cannot be added,
    or None when it can."""
    if not name or name in (".", "..") or name.startswith("."):
        return "hidden or empty file names are not accepted: rename the file"
    if any(ord(char) < 32 for char in name):
        return "the file name has control characters: rename the file"
    if not is_utf8(name):  # `qa index` would refuse it (qa.ingest.corpus), so it is not saved at all
        return "the file name is not valid UTF-8: rename the file"
    if too_long := name_problem(name):  # the file system would raise OSError (ENAMETOOLONG)
        return too_long
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        kind = f"'{suffix}'" if suffix else "a file with no extension"
        return f"unsupported file type {kind} (supported: {' '.join(sorted(SUPPORTED_SUFFIXES))})"
    if size > MAX_UPLOAD_BYTES:
        return f"{size / 1e6:.1f} MB is over the {MAX_UPLOAD_MB} MB limit for one file"
    return None


def chat_filter(since: str | None, until: str | None, sources: Sequence[str] | None) -> Filter | None:
    """The filter of the chat's Settings (date fields and source picker); ConfigError naming
    the value a date field cannot take."""
    try:
        return Filter.of(since, until, sources) or None
    except ValueError as error:
        message = str(error).replace("since date", "the From date").replace("until date", "the To date")
        raise ConfigError(message.replace("since ", "From ").replace("until ", "To ")) from None


def base_name(name: str) -> str:
    """The last component of a file name sent by a browser (either slash counts)."""
    return name.replace("\\", "/").rsplit("/", 1)[-1].strip()


def save_uploads(uploads: Iterable[tuple[str, Path]], folder: Path) -> tuple[list[str], list[Rejected]]:
    """Copy each ``(name, temporary file)`` into ``folder`` as its base name, replacing a file
    of that name. Returns the names saved and the uploads refused, with the reason."""
    folder = Path(folder)
    saved, rejected = [], []
    for claimed, path in uploads:
        name = base_name(claimed)
        try:
            size = Path(path).stat().st_size
        except OSError as error:
            rejected.append(Rejected(claimed, f"the upload cannot be read ({error.strerror or error})"))
            continue
        problem = upload_problem(name, size)
        target = folder / name
        if problem is None and target.resolve().parent != folder.resolve():
            problem = "the name points outside the corpus folder (a link): rename the file"
        if problem:
            rejected.append(Rejected(claimed, problem))
            continue
        # Copy under a hidden name (the corpus walk skips it), then rename: the indexer never
        # reads a half-written file.
        partial = folder / f".upload-{secrets.token_hex(8)}"
        try:
            shutil.copyfile(path, partial)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        saved.append(name)
    return saved, rejected


def corpus_folder(settings: Settings) -> Path:
    """The folder uploads go to: the first corpus path that is a folder."""
    for root in settings.corpus:
        if Path(root).is_dir():
            return Path(root)
    raise ConfigError(
        f"the corpus ({', '.join(map(str, settings.corpus))}) has no folder to add articles to:"
        " start the chat with a corpus folder, e.g. `qa serve seeds`"
    )


def article_file(settings: Settings, article_path: str) -> Path | None:
    """The corpus file an article came from (``article_path``: ``Article.path``, which is
    ``file.jsonl:LINE`` for a JSONL line, ``file.csv:ROW`` for a CSV row), found among the corpus files themselves, so
    nothing outside the corpus can be named."""
    wanted = article_file_id(article_path)
    return next((path for path, file_id in corpus_files(settings.corpus) if file_id == wanted), None)


@dataclass
class Update:
    """What one corpus change did, for the page."""

    saved: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    report: IndexReport | None = None
    removed: list[str] = field(default_factory=list)  # saved, indexed nothing, so deleted again


class ChatService:
    """The chat's state: the settings, the model (loaded once) and the current searcher."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        from qa.search.live import LiveSearcher

        self.settings = settings
        # Follows the index on disk: the chat's own updates and `qa index` runs from a shell.
        self.live = LiveSearcher(settings, embedder)
        self.embedder = self.live.embedder
        self._writing = threading.Lock()  # one corpus update at a time in this process
        self._ready = threading.Event()
        self._ready.set()
        self.refused = NotIndexed(settings.limits)  # the Corpus tab's "Not indexed" list

    def warm_up(
        self,
        notify: Callable[[str], None] = lambda message: print(f"qa: {message}"),
        *,
        after: threading.Event | None = None,
    ) -> threading.Thread:
        """Load the model and run one question in a background thread, once ``after`` is set
        (if given); :meth:`ask` waits for it from now on, so a question never loads the model
        a second time."""
        self._ready.clear()

        def run() -> None:
            if after is not None:
                after.wait()
            started = time.perf_counter()
            try:
                self.searcher.ask(WARM_UP_QUESTION, 1)
                notify(f"model loaded and warmed up in the background in {time.perf_counter() - started:.1f} s")
            except Exception as error:  # noqa: BLE001 - reported; the first question will raise it again
                notify(f"warming up failed ({type(error).__name__}: {error})")
            finally:
                self._ready.set()

        thread = threading.Thread(target=run, name="qa-warm-up", daemon=True)
        thread.start()
        return thread

    def ask(
        self, question: str, k: int | None = None, *, mode: str | None = None, history: Sequence[str] = (),
        where: Filter | None = None,
    ) -> Result:
        self._ready.wait()
        return self.searcher.ask(question, k or self.settings.k, mode=mode, history=history, where=where)

    def sources(self) -> list[str]:
        """The sources the indexed articles name, each once (the Settings' source picker)."""
        return self.searcher.store.row_filter.source_names()

    @property
    def searcher(self) -> Searcher:
        """The searcher over the newest usable index on disk."""
        return self.live.current()

    def reload(self) -> None:
        """Serve from the index on disk (a new generation, if one was written), same model."""
        self.live.reload()

    def add(self, uploads: Iterable[tuple[str, Path]], *, progress: bool = False) -> Update:
        """Save uploaded files into the corpus folder and index what changed."""
        folder = corpus_folder(self.settings)
        with self._writing:
            saved, rejected = save_uploads(uploads, folder)
            update = Update(saved=saved, rejected=rejected)
            if saved:
                update.report = self._reindex(progress)
                update.removed = drop_unindexed(
                    saved, folder, self.settings.corpus, self.searcher.store.manifest.articles
                )
                update.saved = [name for name in saved if name not in update.removed]
        return update

    def not_indexed(self) -> list[list[str]]:
        """[file, reason] for every file of the corpus folders the index holds nothing from."""
        return self.refused.rows(self.settings.corpus, self.searcher.store.manifest.articles)

    def delete_file(self, file_id: str, *, progress: bool = False) -> Update:
        """Delete a corpus file the index holds nothing from (a link: the link, not its target)."""
        with self._writing:
            if file_id not in {row[0] for row in self.not_indexed()}:
                raise ConfigError(f"{file_id!r} is not a corpus file left out of the index: pick one from the list")
            paths, _ = corpus_paths(self.settings.corpus)
            os.unlink(paths[file_id])  # unlink never follows a link
            update = Update(deleted=[file_id])
            update.report = self._reindex(progress)
        return update

    def delete(self, article_id: str, *, progress: bool = False) -> Update:
        """Remove the file an article came from (every article of it, for JSONL and CSV) and re-index."""
        with self._writing:
            article = self.searcher.store.articles.get(article_id)
            if article is None:
                raise ConfigError(f"no article {article_id!r} in the index: pick one from the list")
            path = article_file(self.settings, article.path)
            if path is not None:  # None: already gone (an earlier delete whose re-index failed)
                path.unlink()
            same_file = article_file_id(article.path)
            gone = [
                other.id for other in self.searcher.store.articles.values() if article_file_id(other.path) == same_file
            ]
            update = Update(deleted=gone)
            update.report = self._reindex(progress)
        return update

    def _reindex(self, progress: bool) -> IndexReport:
        from qa.indexing.indexer import update_index

        report = update_index(self.settings, self.embedder, progress=progress)  # holds the index's write lock
        self.reload()
        self.refused.learn(self.settings.corpus, report.rejected)
        return report

    def articles(self) -> list[list[str | int]]:
        """[id, chunks, title, file] for every indexed article, in id order."""
        store = self.searcher.store
        return [
            [
                article_id,
                int(entry.get("n_chunks", 0)),
                store.articles[article_id].title,
                article_file_id(entry.get("path", "")),
            ]
            for article_id, entry in sorted(store.manifest.articles.items())
        ]

    def evaluate(
        self, path: Path, modes: Sequence[str], out_dir: Path, *, title: str | None = None, progress: bool = False
    ) -> tuple[EvalReport, list[Path]]:
        """Score a question set against the current index (as `qa eval --out`); the written
        files are results-MODE.jsonl, report.md and hit_at_k.png. ``title`` names the set in
        the report (default: the file's name; an upload's path is a temporary one)."""
        from qa.eval.report import write_outputs
        from qa.eval.run import evaluate_question_file

        self._ready.wait()
        report = evaluate_question_file(self.settings, Path(path), modes, embedder=self.embedder, progress=progress)
        report.title = title or Path(path).name
        return report, write_outputs(report, out_dir)
