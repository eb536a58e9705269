"""The front door for Python: ``qa.index(...)`` and ``qa.open(...).ask(...)``.

The same work as `qa index` and `qa ask`, with the settings built here, once, from keyword
options (and the QA_* environment variables the CLI reads, which the options override), and
the embedder loaded inside, so a caller needs one import::

    import qa
    report = qa.index(["articles/"], index_dir="my-index")
    answer = qa.open("my-index").ask("Who visited Karachi?")
"""

from __future__ import annotations

from collections.abc import Iterable
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING

from qa.config import Settings, settings_from_env

if TYPE_CHECKING:
    from qa.indexing.indexer import IndexReport
    from qa.search.searcher import Searcher

StrPath = str | PathLike[str]


def _settings(
    index_dir: StrPath,
    *,
    corpus: Iterable[StrPath] | None = None,
    model_dir: StrPath | None = None,
    backend: str | None = None,
    store: str | None = None,
    cache_dir: StrPath | None = None,
    reader: bool = True,
    mode: str | None = None,
) -> Settings:
    from dataclasses import replace

    settings = settings_from_env().with_(
        index_dir=Path(index_dir),
        corpus=tuple(Path(path) for path in corpus) if corpus is not None else None,
        model_dir=Path(model_dir) if model_dir is not None else None,
        backend=backend,
        store=store,
        cache_dir=Path(cache_dir) if cache_dir is not None else None,
    )
    if mode is not None:
        settings = replace(settings, search=replace(settings.search, mode=mode))  # checked by SearchSettings
    return settings if reader else settings.without_reader()


def index(
    paths: StrPath | Iterable[StrPath],
    index_dir: StrPath = "embeddings",
    *,
    rebuild: bool = False,
    progress: bool = False,
    model_dir: StrPath | None = None,
    backend: str | None = None,
    store: str | None = None,
    cache_dir: StrPath | None = None,
) -> IndexReport:
    """Build or refresh the index in ``index_dir`` from the corpus folders or files ``paths``,
    embedding only new or changed articles, as `qa index` does; the report says what changed
    and which files were skipped (``report.rejected``: the rest is indexed, as with the CLI).

    Options: ``rebuild`` re-embeds everything; ``progress`` shows a bar; ``model_dir`` a local
    sentence-transformers model (default: the packaged all-MiniLM-L6-v2); ``backend`` torch,
    onnx or onnx-int8 (default: the index's own, onnx-int8 for a new one); ``store`` faiss or
    milvus://...; ``cache_dir`` where exported ONNX models are kept."""
    from qa.embed.backends import make_embedder
    from qa.errors import ConfigError
    from qa.indexing.indexer import update_index

    corpus = [paths] if isinstance(paths, (str, PathLike)) else list(paths)
    if not corpus:
        raise ConfigError("qa.index: give at least one corpus folder or file")
    settings = _settings(
        index_dir, corpus=corpus, model_dir=model_dir, backend=backend, store=store, cache_dir=cache_dir
    )
    return update_index(settings, make_embedder(settings), rebuild=rebuild, progress=progress)


def open(  # qa.open, like io.open: the name a user looks for
    index_dir: StrPath = "embeddings",
    *,
    model_dir: StrPath | None = None,
    backend: str | None = None,
    cache_dir: StrPath | None = None,
    reader: bool = True,
    mode: str | None = None,
) -> Searcher:
    """Load the index in ``index_dir`` for questions: ``.ask(question, k=5, history=(), mode=None)``
    gives a :class:`~qa.types.Result` (``result.to_dict()`` is what `qa ask --json` prints),
    ``.search(question, k=5)`` the passages alone. Both take the filters of `qa ask`:
    ``since="2024-01-01"``, ``until="2024-12-31"`` (ISO dates, inclusive; an article without a
    date is left out) and ``source="Galway Daily"`` or a list of names (any of them,
    case-insensitive); a bad date raises :class:`~qa.errors.ConfigError`, and a filter that keeps
    nothing gives an abstention with ``result.notice`` saying why.

    Options: ``model_dir`` and ``backend`` as for :func:`index` (default: what built the
    index); ``reader=False`` answers without the reader; ``mode`` the default retrieval,
    hybrid, dense or bm25. On the default ONNX backend nothing imports torch."""
    from qa.search.searcher import open_searcher

    settings = _settings(index_dir, model_dir=model_dir, backend=backend, cache_dir=cache_dir, reader=reader, mode=mode)
    return open_searcher(settings)
