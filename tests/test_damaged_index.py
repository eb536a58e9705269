"""A damaged index: bytes changed without changing sizes, an edited manifest, a chunk store
that disagrees with the vectors, another model. Each gives a clear error of the qa.errors
family that says how to rebuild; never a crash, a hang or wrong answers. (The cases that a
size or count check catches are in tests/test_store.py.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEmbedder
from corpora import CHUNKING, write_corpus

from qa.config import Settings
from qa.errors import IndexMismatchError
from qa.indexing.faiss_store import FaissStore
from qa.indexing.generations import file_sha256
from qa.indexing.indexer import update_index
from qa.indexing.manifest import MANIFEST, read_manifest
from qa.search.searcher import Searcher

QA = Path(sys.executable).with_name("qa")


@pytest.fixture
def index_dir(tmp_path: Path, corpus_dir: Path) -> Path:
    write_corpus(corpus_dir)
    settings = Settings(index_dir=tmp_path / "index", corpus=(corpus_dir,), chunking=CHUNKING)
    update_index(settings, FakeEmbedder())
    return settings.index_dir


def live(index_dir: Path) -> Path:
    return index_dir / read_manifest(index_dir).generation


def flip_middle(path: Path) -> None:
    """Invert 16 bytes in the middle of a file; its size stays the same."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(255 - b for b in data[middle : middle + 16])
    path.write_bytes(bytes(data))


def edit_manifest(index_dir: Path, change) -> None:
    data = json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))
    change(data)
    (index_dir / MANIFEST).write_text(json.dumps(data), encoding="utf-8")


def refresh_checksum(index_dir: Path, name: str) -> None:
    """Make the manifest agree with an edited file, so only deeper checks can notice."""
    path = live(index_dir) / name
    edit_manifest(index_dir, lambda data: data["files"].__setitem__(
        name, {"bytes": path.stat().st_size, "sha256": file_sha256(path)}))


def assert_says_rebuild(index_dir: Path, fragment: str) -> str:
    with pytest.raises(IndexMismatchError) as info:
        FaissStore.load(index_dir)
    message = str(info.value)
    assert fragment in message
    assert message.endswith(f"run `qa index --rebuild --index-dir {index_dir}` to build it again")
    return message


@pytest.mark.parametrize(
    "name",
    ["vectors.faiss", "chunks/ids.npy", "chunks/sentence_spans.npy", "articles.jsonl", "articles.offsets.npy",
     "sentences.npy", "bm25/data.csc.index.npy"],
)
def test_bytes_changed_in_the_middle_with_the_size_kept_are_refused(index_dir: Path, name: str) -> None:
    path = live(index_dir) / name
    size = path.stat().st_size
    flip_middle(path)
    assert path.stat().st_size == size
    message = assert_says_rebuild(index_dir, "is damaged (its sha256 differs from the manifest's)")
    assert message.startswith(f"{path} is damaged")


def test_without_the_checksum_damaged_vectors_would_load_and_answer_wrongly(index_dir: Path) -> None:
    """Why the sha256 check is worth its cost (one read of each file): FAISS parses the damaged
    file happily and the vectors are silently different."""
    good = FaissStore.load(index_dir).vectors()
    flip_middle(live(index_dir) / "vectors.faiss")
    damaged = FaissStore.load(index_dir, verify=False).vectors()
    assert damaged.shape == good.shape and not np.array_equal(damaged, good)


def set_dim(data: dict) -> None:
    data["dim"] = 32


def drop_vectors_entry(data: dict) -> None:
    del data["files"]["vectors.faiss"]


def wrong_checksum(data: dict) -> None:
    data["files"]["chunks/ids.npy"]["sha256"] = "0" * 64


def generation_elsewhere(data: dict) -> None:
    data["generation"] = "gen-000042"


def files_a_list(data: dict) -> None:
    data["files"] = sorted(data["files"])  # the names, without sizes and checksums


def generation_outside(data: dict) -> None:
    data["generation"] = "../elsewhere"


@pytest.mark.parametrize(
    "change, fragment",
    [
        (set_dim, "vectors of dimension 64, the manifest says 32"),
        (drop_vectors_entry, "lists no size or checksum for vectors.faiss"),
        (wrong_checksum, "chunks/ids.npy is damaged (its sha256 differs"),
        (generation_elsewhere, "gen-000042/articles.ids.json is missing"),
        (files_a_list, "does not describe an index qa can read (AttributeError: "),
        (generation_outside, "names the generation '../elsewhere', not one like 'gen-000001'"),
    ],
)
def test_an_edited_manifest_is_refused(index_dir: Path, change, fragment: str) -> None:
    edit_manifest(index_dir, change)
    assert_says_rebuild(index_dir, fragment)


def edit_column(index_dir: Path, name: str, change) -> None:
    """Change one column of the chunk table and make the manifest agree with it."""
    path = live(index_dir) / "chunks" / f"{name}.npy"
    column = np.load(path, allow_pickle=False)
    change(column)
    np.save(path, column, allow_pickle=False)
    refresh_checksum(index_dir, f"chunks/{name}.npy")


def test_chunk_ids_that_disagree_with_the_vectors_are_refused(index_dir: Path) -> None:
    edit_column(index_dir, "ids", lambda ids: ids.__setitem__([0, 1], ids[[1, 0]]))  # rows swapped
    assert_says_rebuild(index_dir, "the chunk ids in chunks/ids.npy and vectors.faiss differ")


def test_a_chunk_of_an_unknown_article_is_refused(index_dir: Path) -> None:
    edit_column(index_dir, "article", lambda article: article.__setitem__(-1, 3))  # there are 3: 0, 1, 2
    assert_says_rebuild(index_dir, "chunks/article.npy names articles outside 0..2")


def test_sentence_offsets_past_the_sentences_are_refused(index_dir: Path) -> None:
    edit_column(index_dir, "sentence_start", lambda start: start.__setitem__(-1, start[-1] + 1))
    assert_says_rebuild(index_dir, "chunks/sentence_start.npy does not fit")


def test_article_lines_out_of_order_are_refused(index_dir: Path) -> None:
    """articles.jsonl with its lines in another order than its ids (checksums fixed up)."""
    path = live(index_dir) / "articles.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join([lines[-1], *lines[1:-1], lines[0]]))
    offsets = np.cumsum([0, len(lines[-1]), *map(len, lines[1:-1]), len(lines[0])])
    np.save(live(index_dir) / "articles.offsets.npy", offsets.astype(np.int64), allow_pickle=False)
    refresh_checksum(index_dir, "articles.jsonl")
    refresh_checksum(index_dir, "articles.offsets.npy")
    assert_says_rebuild(index_dir, "line 1 of")


def test_another_model_is_refused_with_the_rebuild_command(index_dir: Path) -> None:
    store = FaissStore.load(index_dir)
    other = FakeEmbedder()
    other.name, other.fingerprint = "other-model", "other002"
    with pytest.raises(IndexMismatchError) as info:
        Searcher(store, other)
    assert str(info.value) == (
        "the index was built with the model 'fake-bag-of-words' (fake0001), but the model in use is"
        f" 'other-model' (other002): run `qa index --rebuild --index-dir {index_dir}` to build it again"
    )


def qa(*args: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([str(QA), *map(str, args)], env=env, capture_output=True, text=True, timeout=300)


def test_qa_ask_on_a_damaged_index_says_how_to_rebuild(index_dir: Path) -> None:
    flip_middle(live(index_dir) / "vectors.faiss")
    run = qa("ask", "apple harvest", "--index-dir", index_dir)
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr.startswith(f"qa: error: {live(index_dir) / 'vectors.faiss'} is damaged")
    assert run.stderr.rstrip().endswith(f"run `qa index --rebuild --index-dir {index_dir}` to build it again")
    assert "Traceback" not in run.stderr


def test_qa_ask_with_another_model_says_how_to_rebuild(seed_index: Settings, model_dir: Path, tmp_path: Path) -> None:
    """A second model directory: the packaged one with another configuration (the weights linked)."""
    other = tmp_path / "other-model"
    for path in sorted(model_dir.rglob("*")):
        target = other / path.relative_to(model_dir)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif path.suffix == ".json":
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(path)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "layer_norm_eps": 1e-6}))
    run = qa("ask", "Who is the chief of staff?", "--index-dir", seed_index.index_dir, "--model", other)
    assert run.returncode == 1, run.stdout
    assert run.stderr.startswith("qa: error: the index was built with the model 'all-MiniLM-L6-v2 (onnx-int8)' (")
    assert run.stderr.rstrip().endswith(
        f"run `qa index --rebuild --index-dir {seed_index.index_dir}` to build it again"
    )
