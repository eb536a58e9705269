"""Which backend embeds: the one named (``--backend``, ``QA_BACKEND``), else the one that built
the index, else the default; and the embedder for it. Nothing heavy is imported here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qa.config import Settings
from qa.embed.protocol import Embedder
from qa.embed.torch_backend import SentenceTransformerEmbedder
from qa.errors import ConfigError

if TYPE_CHECKING:
    from qa.indexing.manifest import Manifest


def index_backend(manifest: Manifest) -> str:
    """The backend that built an index (indexes from before it was recorded: by fingerprint)."""
    if manifest.backend:
        return manifest.backend
    return "onnx-int8" if manifest.model_fingerprint.endswith("-int8") else "torch"


def resolve_backend(settings: Settings) -> str:
    """The backend to use: the one the settings name (``--backend``, ``QA_BACKEND``), else the
    one that built the index in ``settings.index_dir`` (so an existing index is neither
    rebuilt nor queried with other vectors behind the user's back), else DEFAULT_BACKEND."""
    from qa.config import DEFAULT_BACKEND
    from qa.errors import QAError
    from qa.indexing.manifest import read_manifest

    if settings.backend:
        return settings.backend
    try:
        return index_backend(read_manifest(settings.index_dir))
    except QAError:  # no index yet, or one too damaged to say: the default
        return DEFAULT_BACKEND


def make_embedder(settings: Settings, backend: str | None = None) -> Embedder:
    """The embedder for ``backend``, else :func:`resolve_backend`'s; one of BACKENDS.
    Nothing heavy is imported until the first encode."""
    from qa.config import BACKENDS

    backend = backend or resolve_backend(settings)
    model_dir = settings.resolved_model_dir()
    if backend == "torch":
        return SentenceTransformerEmbedder(model_dir, settings.batch_size)
    if backend in ("onnx", "onnx-int8"):
        from qa.embed.onnx_backend import OnnxEmbedder

        return OnnxEmbedder(
            model_dir, quantized=backend == "onnx-int8", cache_dir=settings.cache_dir, batch_size=settings.batch_size
        )
    raise ConfigError(f"unknown embedding backend {backend!r}: choose one of {', '.join(BACKENDS)}")
