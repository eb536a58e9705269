"""The approximate index (IVF-SQ8 + exact re-scoring): recall against exact search on a fixed,
seeded sample; persisted, loaded memory-mapped and updated (deletes included) like the exact one.

Recall on real embeddings (BBC News) and at 1M is measured by `qa bench` (docs/BENCHMARKS.md);
here the vectors are a seeded mixture of clusters, the shape of sentence embeddings of a corpus
of few topics.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEmbedder

import qa.indexing.faiss_store
from qa.config import Settings
from qa.indexing.faiss_store import FaissStore, choose_index_type, ivf_lists, ivf_probes
from qa.indexing.indexer import update_index
from qa.indexing.keyword import KeywordIndex
from qa.indexing.manifest import Manifest
from qa.types import Article, Chunk

DIM = 64


def clustered(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((50, DIM)).astype(np.float32)
    vectors = centres[rng.integers(0, 50, n)] + 0.6 * rng.standard_normal((n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def store_of(vectors: np.ndarray, index_type: str) -> FaissStore:
    article = Article(id="a", title="", text="x", sha256="0")
    chunks = [Chunk(id=f"a#{i}", article_id="a", n=i, start=0, end=1, text="x", sentences=((0, 1),))
              for i in range(len(vectors))]
    manifest = Manifest(model="synthetic", model_fingerprint="s", dim=vectors.shape[1], chunking={})
    ids = np.arange(1000, 1000 + len(vectors), dtype=np.int64)  # ids are not rows
    keyword = KeywordIndex.build(["x"] * len(vectors))
    sentences = np.asarray(vectors, dtype=np.float16)  # one sentence per chunk
    return FaissStore.build(manifest, [article], chunks, ids, vectors, sentences, index_type=index_type,
                            keyword=keyword)


def recall_at_10(store: FaissStore, vectors: np.ndarray, queries: np.ndarray) -> float:
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    _, found = store.search(queries, 10)
    return float(np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, exact)]))


def test_index_type_follows_corpus_size() -> None:
    assert choose_index_type(8_093) == "flat"
    assert choose_index_type(qa.indexing.faiss_store.FLAT_LIMIT) == "flat"
    assert choose_index_type(qa.indexing.faiss_store.FLAT_LIMIT + 1) == choose_index_type(1_000_000) == "ivf-sq8"
    assert (ivf_lists(1_000_000), ivf_probes(ivf_lists(1_000_000))) == (1024, 64)
    assert (ivf_lists(100_000), ivf_probes(ivf_lists(100_000))) == (256, 16)
    assert ivf_lists(10) == 1  # a tiny corpus still trains: one list, searched whole


@pytest.mark.slow  # trains IVF indexes
def test_ivf_recall_against_exact_search() -> None:
    vectors = clustered(30_000)
    queries = clustered(200, seed=1)
    store = store_of(vectors, "ivf-sq8")
    assert store.manifest.index_type == "ivf-sq8"
    assert recall_at_10(store, vectors, queries) >= 0.95
    # scores are exact (re-scored), so fusion sees the same numbers a flat index gives
    scores, rows = store.search(queries[:5], 10)
    np.testing.assert_allclose(scores, np.take_along_axis(queries[:5] @ vectors.T, rows, 1), atol=1e-5)


def test_ivf_store_round_trips_memory_mapped(tmp_path: Path) -> None:
    vectors = clustered(2_000)
    store_of(vectors, "ivf-sq8").save(tmp_path)
    loaded = FaissStore.load(tmp_path)
    assert loaded.manifest.index_type == "ivf-sq8"
    assert isinstance(loaded.exact, np.memmap)
    np.testing.assert_array_equal(loaded.vectors(), vectors)
    assert recall_at_10(loaded, vectors, clustered(50, seed=2)) >= 0.95
    flat = store_of(vectors, "flat")
    assert flat.exact is None and flat.manifest.index_type == "flat"


def test_indexer_updates_and_deletes_with_an_ann_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qa.indexing.faiss_store, "FLAT_LIMIT", 0)  # every size gets the approximate index
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for n in range(6):
        (corpus / f"{n}.txt").write_text(f"Story {n}\n\nThe {n} tale of river boats and mountain goats, part {n}.\n")
    settings = Settings(index_dir=tmp_path / "index", corpus=(corpus,))
    embedder = FakeEmbedder()
    update_index(settings, embedder)
    (corpus / "3.txt").unlink()
    report = update_index(settings, embedder)
    store = FaissStore.load(settings.index_dir)
    assert report.diff.removed == ["3.txt"] and report.embedded == 0
    assert store.manifest.index_type == "ivf-sq8"
    assert "3.txt" not in store.articles and len(store) == 5
    # kept vectors are the exact ones (not SQ8 decodings): equal to those of a full rebuild
    update_index(settings.with_(index_dir=tmp_path / "full"), embedder, rebuild=True)
    np.testing.assert_array_equal(store.vectors(), FaissStore.load(tmp_path / "full").vectors())
    _, rows = store.search(embedder.encode(["Story 4 The 4 tale"]), 1)
    assert store.chunks[rows[0][0]].article_id == "4.txt"
