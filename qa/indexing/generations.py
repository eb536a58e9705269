"""Generations on disk: a write makes a new ``gen-NNNNNN`` folder, then swaps the manifest to
name it, so a reader (or a crash) never sees a half-written index; one writer at a time holds
the lock. Every store (FAISS, Milvus) writes and reads its row files through here."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import IndexLockedError, IndexMismatchError, IndexMissingError
from qa.indexing.faults import checkpoint
from qa.indexing.manifest import MANIFEST, Manifest, read_manifest
from qa.indexing.table import ARTICLE_FILES, CHUNK_COLUMNS, ArticleTable, ChunkTable, load_array
from qa.types import Article, Chunk

LOCK = ".lock"
SENTENCES = "sentences.npy"
CHUNKS = "chunks"
CHUNK_IDS = f"{CHUNKS}/ids.npy"
# the files every store's generation has (qa.indexing.milvus_store too), then FaissStore's own
ROW_FILES = (*ARTICLE_FILES, CHUNK_IDS, *(f"{CHUNKS}/{name}.npy" for name in CHUNK_COLUMNS), SENTENCES)
GENERATION = re.compile(r"gen-\d{6}")


def checked_load(index_dir: Path, load_generation: Callable[[Path, Manifest, bool], Any], verify: bool) -> Any:
    """``load_generation(index_dir, manifest, verify)`` for the live manifest, again for the new
    one if a writer swapped generations meanwhile; a hand-edited manifest's wrong types (a list
    where a mapping belongs) or a generation name outside the index directory refused."""
    for _ in range(5):
        manifest = read_manifest(index_dir)
        try:
            if not isinstance(manifest.generation, str) or not GENERATION.fullmatch(manifest.generation):
                raise IndexMismatchError(
                    f"{index_dir / MANIFEST} names the generation {manifest.generation!r}, not one like"
                    f" 'gen-000001'",
                    rebuild=index_dir,
                )
            try:
                return load_generation(index_dir, manifest, verify)
            except (AttributeError, TypeError, KeyError, ValueError) as error:
                raise IndexMismatchError(
                    f"{index_dir / MANIFEST} does not describe an index qa can read ({type(error).__name__}:"
                    f" {error})",
                    rebuild=index_dir,
                ) from error
            except OSError as error:  # e.g. a writer removed the generation while it was being checked
                raise IndexMismatchError(
                    f"cannot read {error.filename or index_dir} ({error.strerror or error})", rebuild=index_dir
                ) from error
        except IndexMismatchError:
            with contextlib.suppress(IndexMissingError, IndexMismatchError):
                if read_manifest(index_dir).generation != manifest.generation:
                    continue  # a writer replaced the generation under us: read the new one
            raise
    raise IndexMismatchError(f"{index_dir} changed five times while being read: try again")


def read_generation(
    index_dir: Path, manifest: Manifest, required: Sequence[str], verify: bool
) -> tuple[Path, ArticleTable, ChunkTable, np.ndarray, np.ndarray, list[str]]:
    """The live generation folder, article and chunk tables, chunk ids and sentence vectors
    (memory-mapped) of an index, with every file checked against the manifest (``required`` must
    be listed and exist; ``verify`` checks sha256 too, reading each file once with plain reads,
    which leaves it in the page cache, not in this process), and the count problems found, for
    the caller to report with its own."""
    folder = index_dir / manifest.generation
    unlisted = sorted(set(required) - set(manifest.files))
    if unlisted:
        raise IndexMismatchError(
            f"{index_dir / MANIFEST} lists no size or checksum for {', '.join(unlisted)}", rebuild=index_dir
        )
    for name in sorted(set(required) | set(manifest.files)):
        path = folder / name
        if not path.is_file():
            raise IndexMismatchError(f"{path} is missing", rebuild=index_dir)
        expected = manifest.files.get(name, {})
        if expected.get("bytes") is not None and path.stat().st_size != expected["bytes"]:
            raise IndexMismatchError(
                f"{path} has {path.stat().st_size} bytes, the manifest says {expected['bytes']}", rebuild=index_dir
            )
        if verify and expected.get("sha256") and file_sha256(path) != expected["sha256"]:
            raise IndexMismatchError(f"{path} is damaged (its sha256 differs from the manifest's)", rebuild=index_dir)
    try:
        articles = ArticleTable.load(folder)
        chunks = ChunkTable.load(folder / CHUNKS, articles)
        ids = load_array(folder / CHUNK_IDS)
        sentences = load_array(folder / SENTENCES)
    except (KeyError, TypeError, ValueError, RuntimeError, OSError) as error:
        raise IndexMismatchError(f"the index in {folder} is damaged ({error})", rebuild=index_dir) from error
    problems = chunks.problems()
    if ids.shape != (len(chunks),) or ids.dtype != np.int64:
        problems.append(f"{CHUNK_IDS} holds {ids.shape} {ids.dtype} for {len(chunks)} chunks")
    if len(articles) != manifest.n_articles:
        problems.append(f"{len(articles)} articles, the manifest says {manifest.n_articles}")
    if len(chunks) != manifest.n_chunks:
        problems.append(f"{len(chunks)} chunks, the manifest says {manifest.n_chunks}")
    if not problems and (sentences.shape != (chunks.n_sentences, manifest.dim) or sentences.dtype != np.float16):
        problems.append(
            f"sentence vectors of shape {sentences.shape} ({sentences.dtype}),"
            f" expected ({chunks.n_sentences}, {manifest.dim}) float16"
        )
    return folder, articles, chunks, ids, sentences, problems


def write_generation(
    index_dir: Path,
    manifest: Manifest,
    articles: Iterable[Article] | ArticleTable,
    chunks: Sequence[Chunk] | ChunkTable,
    ids: np.ndarray,
    sentence_vectors: np.ndarray,
    write_more: Callable[[Path], None],
) -> Manifest:
    """Write the article and chunk tables, sentences.npy and whatever ``write_more`` puts in the
    staging folder as a new generation, then point the manifest at it; remove older generations.
    Returns ``manifest`` completed with the generation, counts and files it now describes. The
    checkpoints are where the crash tests stop a writer (qa.indexing.faults)."""
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    generation = f"gen-{_last_generation_number(index_dir) + 1:06d}"
    staging = index_dir / f"{generation}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    articles = ArticleTable.of(articles)
    chunks = ChunkTable.of(chunks, articles)
    articles.save(staging)
    checkpoint("staging")
    chunks.save(staging / CHUNKS)
    np.save(staging / CHUNK_IDS, np.asarray(ids, dtype=np.int64), allow_pickle=False)
    write_more(staging)
    np.save(staging / SENTENCES, np.ascontiguousarray(sentence_vectors, dtype=np.float16), allow_pickle=False)
    files = {}
    for path in sorted(p for p in staging.rglob("*") if p.is_file()):
        name = path.relative_to(staging).as_posix()
        _fsync(path)
        files[name] = {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
    manifest = replace(
        manifest, generation=generation, n_articles=len(articles), n_chunks=len(chunks), files=files
    )
    for folder in sorted((p for p in staging.rglob("*") if p.is_dir()), reverse=True):
        _fsync(folder)
    _fsync(staging)
    checkpoint("staged")
    os.replace(staging, index_dir / generation)
    _fsync(index_dir)
    checkpoint("renamed")
    atomic_write_text(index_dir / MANIFEST, json.dumps(manifest.to_json(), indent=2, ensure_ascii=False) + "\n")
    checkpoint("swapped")
    remove_stale_generations(index_dir, keep=generation)
    checkpoint("cleaned")
    return manifest


def _last_generation_number(index_dir: Path) -> int:
    """The highest generation number in use, by the manifest or by any folder: a crash may
    have left a complete folder the manifest never came to name, which must not be reused."""
    numbers = [0]
    for path in index_dir.glob("gen-*"):
        digits = path.name[4:].split(".")[0]
        if digits.isdigit():
            numbers.append(int(digits))
    return max(numbers)


def remove_stale_generations(index_dir: Path, keep: str) -> None:
    """Generations the manifest no longer names, and the staging folders and half-written
    manifest a crash left behind. Only a writer (holding :func:`write_lock`) may call it."""
    for path in index_dir.glob("gen-*"):
        if path.name != keep and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        (index_dir / (MANIFEST + ".tmp")).unlink()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write_text(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    _fsync(temporary)
    os.replace(temporary, path)
    _fsync(path.parent)


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def write_lock(index_dir: Path) -> Iterator[None]:
    """Hold the index directory's writer lock; fail at once if another writer has it."""
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    with (index_dir / LOCK).open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise IndexLockedError(
                f"{index_dir} is being written by {holder}; wait for it to finish and try again"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} (since {time.strftime('%H:%M:%S')})")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
