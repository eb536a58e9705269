"""An index's manifest: what it is and how it was built, read back and checked. Written last,
atomically, by :func:`qa.indexing.generations.write_generation`."""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from qa.errors import IndexMismatchError, IndexMissingError

FORMAT_VERSION = 4  # 4: chunk and article tables (qa.indexing.table) instead of chunks.jsonl
MANIFEST = "manifest.json"
VERSIONED_PACKAGES = ("qa", "faiss-cpu", "numpy", "sentence-transformers", "tokenizers", "torch", "onnxruntime")


def library_versions() -> dict[str, str]:
    versions = {}
    for package in VERSIONED_PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return versions


@dataclass(frozen=True)
class Manifest:
    """What an index is and how it was built. Loading checks it against the files. A value:
    the indexer builds it, the store completes it (index type, generation, files) with
    ``dataclasses.replace``."""

    model: str
    model_fingerprint: str
    dim: int
    chunking: dict[str, float]
    backend: str = ""  # how the vectors were made: torch, onnx or onnx-int8 ("" before it was recorded)
    index_type: str = "flat"  # one of INDEX_TYPES
    n_articles: int = 0
    n_chunks: int = 0
    generation: str = ""
    next_id: int = 0  # the FAISS id the next new chunk gets
    articles: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> sha256, n_chunks, path
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> bytes, sha256
    corpus: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=library_versions)
    built_at: str = ""
    build_seconds: float = 0.0
    store: dict[str, str] = field(default_factory=dict)  # {} = FAISS here; else qa.indexing.stores.parse_store
    format_version: int = FORMAT_VERSION

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any], where: Path) -> Manifest:
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise IndexMismatchError(
                f"{where} has index format {version!r}; this qa reads format {FORMAT_VERSION}",
                rebuild=where.parent,
            )
        names = {name for name in cls.__dataclass_fields__}
        try:
            return cls(**{key: value for key, value in data.items() if key in names})
        except TypeError as error:
            raise IndexMismatchError(f"{where} is incomplete ({error})", rebuild=where.parent) from error


def read_manifest(index_dir: Path) -> Manifest:
    path = Path(index_dir) / MANIFEST
    if not path.is_file():
        raise IndexMissingError(f"no index in {index_dir}: run `qa index --index-dir {index_dir}` first")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise IndexMismatchError(f"{path} is not valid JSON ({error})", rebuild=index_dir) from error
    if not isinstance(data, dict):
        raise IndexMismatchError(f"{path} is not a JSON object", rebuild=index_dir)
    return Manifest.from_json(data, path)
