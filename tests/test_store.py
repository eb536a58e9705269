"""The index store: what is written, what loading checks, generations, the writer lock.

Mechanics only, so everything here uses the FakeEmbedder and a corpus of three tiny articles.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEmbedder
from corpora import ARTICLES, CHUNKING, write_corpus

from qa.config import Settings
from qa.errors import IndexLockedError, IndexMismatchError, IndexMissingError
from qa.indexing.faiss_store import FILES, FaissStore
from qa.indexing.generations import file_sha256, write_lock
from qa.indexing.indexer import update_index
from qa.indexing.manifest import FORMAT_VERSION, MANIFEST, Manifest, read_manifest
from qa.ingest.chunk import Chunker
from qa.ingest.corpus import read_corpus
from qa.search.searcher import Searcher

QA_PACKAGE = Path(__file__).resolve().parents[1] / "qa"

GENERATION_ENTRIES = [
    "articles.ids.json", "articles.jsonl", "articles.offsets.npy", "bm25", "chunks", "sentences.npy", "vectors.faiss",
]


@pytest.fixture
def settings(tmp_path: Path, corpus_dir: Path) -> Settings:
    write_corpus(corpus_dir)
    return Settings(index_dir=tmp_path / "index", corpus=(corpus_dir,), chunking=CHUNKING)


@pytest.fixture
def built(settings: Settings, fake_embedder) -> Settings:
    """An index of the three articles, built with update_index."""
    report = update_index(settings, fake_embedder)
    assert report.written and report.n_articles == 3
    return settings


def generations(index_dir: Path) -> list[str]:
    return sorted(path.name for path in index_dir.glob("gen-*"))


def rewrite_manifest(index_dir: Path, **changes) -> None:
    path = index_dir / MANIFEST
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(changes)
    path.write_text(json.dumps(data), encoding="utf-8")


def chunk_tuples(chunks) -> list[tuple]:
    return [(c.id, c.article_id, c.n, c.start, c.end, c.text, c.sentences) for c in chunks]


# -- save / load round trip ----------------------------------------------------------------


def test_loaded_index_equals_fresh_chunking_and_embedding(built: Settings, counter) -> None:
    store = FaissStore.load(built.index_dir)
    corpus = read_corpus(built.corpus)
    chunker = Chunker(counter, CHUNKING)
    articles = sorted(corpus.articles, key=lambda a: a.id)
    expected_chunks = [chunk for article in articles for chunk in chunker.chunk(article)]
    expected_texts = [
        chunker.embedded(article, chunk) for article in articles for chunk in chunker.chunk(article)
    ]

    assert store.articles == {article.id: article for article in corpus.articles}
    assert sorted(store.articles) == ["chess.md", "harbour.txt", "orchard.txt"]
    assert all(len(chunker.chunk(article)) >= 2 for article in articles)  # offsets matter
    assert chunk_tuples(store.chunks) == chunk_tuples(expected_chunks)
    for chunk in store.chunks:
        text = store.articles[chunk.article_id].text
        assert chunk.text == text[chunk.start : chunk.end]
        assert chunk.sentences[0][0] == chunk.start and chunk.sentences[-1][1] == chunk.end
    np.testing.assert_array_equal(store.ids, np.arange(len(expected_chunks), dtype=np.int64))
    np.testing.assert_array_equal(store.vectors(), FakeEmbedder().encode(expected_texts))
    assert store.vectors().dtype == np.float32


def test_save_then_load_round_trip(built: Settings, tmp_path: Path) -> None:
    first = FaissStore.load(built.index_dir)
    copy_dir = tmp_path / "copy"
    first.save(copy_dir)
    second = FaissStore.load(copy_dir)

    assert second.directory == copy_dir
    assert second.articles == first.articles
    assert chunk_tuples(second.chunks) == chunk_tuples(first.chunks)
    np.testing.assert_array_equal(second.ids, first.ids)
    np.testing.assert_array_equal(second.vectors(), first.vectors())
    assert second.manifest.n_chunks == first.manifest.n_chunks == len(first.chunks)
    assert second.manifest.articles == first.manifest.articles


def test_search_gives_same_rows_and_scores_after_load(settings: Settings, fake_embedder, counter, tmp_path):
    """A store built in memory with gaps in its FAISS ids searches the same after a round trip."""
    corpus = read_corpus(settings.corpus)
    chunker = Chunker(counter, CHUNKING)
    chunks, texts = [], []
    for article in sorted(corpus.articles, key=lambda a: a.id):
        for chunk in chunker.chunk(article):
            chunks.append(chunk)
            texts.append(chunker.embedded(article, chunk))
    ids = np.arange(len(chunks), dtype=np.int64) * 3 + 7  # not row numbers
    manifest = Manifest(
        model=fake_embedder.name,
        model_fingerprint=fake_embedder.fingerprint,
        dim=fake_embedder.dim,
        chunking=CHUNKING.to_json(),
        next_id=int(ids[-1]) + 1,
    )
    sentences = np.concatenate([fake_embedder.encode([c.text]).repeat(len(c.sentences), axis=0) for c in chunks])
    before = FaissStore.build(manifest, corpus.articles, chunks, ids, fake_embedder.encode(texts), sentences)
    queries = fake_embedder.encode(
        ["harbour bridge repairs cost", "record apple harvest", "chess championship final round"]
    )
    scores_before, rows_before = before.search(queries, 4)
    before.save(tmp_path / "saved")
    after = FaissStore.load(tmp_path / "saved")
    scores_after, rows_after = after.search(queries, 4)

    assert rows_before.shape == (3, 4)
    np.testing.assert_array_equal(rows_after, rows_before)
    np.testing.assert_array_equal(scores_after, scores_before)
    np.testing.assert_array_equal(after.ids, ids)
    # each query's best row is a chunk of the article it is about
    best = [after.chunks[row].article_id for row in rows_after[:, 0]]
    assert best == ["harbour.txt", "orchard.txt", "chess.md"]
    # a score is the inner product of the query and that row's vector
    vectors = after.vectors()
    for q in range(3):
        np.testing.assert_allclose(scores_after[q], vectors[rows_after[q]] @ queries[q], atol=1e-6)


# -- the manifest and the generation folders -----------------------------------------------


def test_manifest_describes_the_index(built: Settings) -> None:
    index_dir = built.index_dir
    data = json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))
    store = FaissStore.load(index_dir)
    corpus = {article.id: article for article in read_corpus(built.corpus).articles}

    assert data["format_version"] == FORMAT_VERSION == 4
    assert data["model"] == "fake-bag-of-words"
    assert data["model_fingerprint"] == "fake0001"
    assert data["dim"] == 64
    assert data["chunking"] == {"target_tokens": 40, "overlap_sentences": 1, "title_tokens": 32, "paragraph_fill": 0.5}
    assert data["n_articles"] == 3
    assert data["n_chunks"] == len(store.chunks)
    assert data["next_id"] == len(store.chunks)
    assert data["corpus"] == [str(built.corpus[0])]
    assert set(data["articles"]) == set(corpus)
    for article_id, entry in data["articles"].items():
        assert entry == {
            "sha256": corpus[article_id].sha256,
            "n_chunks": sum(chunk.article_id == article_id for chunk in store.chunks),
            "path": corpus[article_id].path,
        }
    assert sum(entry["n_chunks"] for entry in data["articles"].values()) == data["n_chunks"]
    folder = index_dir / data["generation"]
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert set(data["files"]) == on_disk and set(FILES) <= on_disk
    sentences = np.load(folder / "sentences.npy", allow_pickle=False)
    assert sentences.shape == (sum(len(chunk.sentences) for chunk in store.chunks), 64)
    assert sentences.dtype == np.float16
    for name, entry in data["files"].items():
        assert entry == {"bytes": (folder / name).stat().st_size, "sha256": file_sha256(folder / name)}
    assert data["versions"]["numpy"] == metadata.version("numpy") == np.__version__
    assert data["versions"]["faiss-cpu"] == metadata.version("faiss-cpu")
    assert data["versions"]["qa"] == metadata.version("qa")
    # read_manifest gives back the same thing as a Manifest
    assert read_manifest(index_dir).to_json() == data


def test_manifest_names_the_only_generation_folder(built: Settings, fake_embedder) -> None:
    index_dir = built.index_dir
    first = read_manifest(index_dir).generation
    assert re.fullmatch(r"gen-\d{6}", first)
    assert sorted(p.name for p in (index_dir / first).iterdir()) == GENERATION_ENTRIES
    assert sorted(p.name for p in index_dir.iterdir()) == sorted([".lock", MANIFEST, first])

    # a second write (one article edited) makes a new generation and removes the old one
    (built.corpus[0] / "orchard.txt").write_text(ARTICLES["orchard.txt"] + " Pears did less well.")
    assert update_index(built, fake_embedder).written
    second = read_manifest(index_dir).generation
    assert second == "gen-000002" and first == "gen-000001"
    assert generations(index_dir) == [second]
    assert sorted(p.name for p in (index_dir / second).iterdir()) == GENERATION_ENTRIES
    assert sorted(p.name for p in index_dir.iterdir()) == sorted([".lock", MANIFEST, second])


@pytest.mark.parametrize("leftover", ["gen-000009.tmp", "gen-000002.tmp"])
def test_leftover_staging_folder_is_removed_by_next_write(built: Settings, fake_embedder, leftover) -> None:
    index_dir = built.index_dir
    staging = index_dir / leftover
    staging.mkdir()
    (staging / "vectors.faiss").write_bytes(b"half written")
    assert update_index(built, fake_embedder, rebuild=True).written
    assert not staging.exists()
    live = read_manifest(index_dir).generation
    assert generations(index_dir) == [live]
    # the next writer removes leftovers before it writes, so the one it writes is named after the live one
    assert live == "gen-000002"
    assert len(FaissStore.load(index_dir)) == read_manifest(index_dir).n_chunks


def test_generation_left_by_a_crash_before_the_manifest_swap_does_not_block_next_write(
    built: Settings, fake_embedder
) -> None:
    """A crash after save() renamed gen-000002.tmp to gen-000002 but before it replaced the
    manifest leaves a complete generation the manifest does not name. The next write must
    still succeed (the docstring promises a crash never leaves an unusable index)."""
    index_dir = built.index_dir
    live = index_dir / read_manifest(index_dir).generation
    shutil.copytree(live, index_dir / "gen-000002")  # what the crashed write left
    (built.corpus[0] / "orchard.txt").write_text(ARTICLES["orchard.txt"] + " Pears did less well.")

    report = update_index(built, fake_embedder)

    assert report.written
    assert generations(index_dir) == [read_manifest(index_dir).generation]
    store = FaissStore.load(index_dir)
    assert "Pears did less well." in store.articles["orchard.txt"].text


# -- what loading refuses ------------------------------------------------------------------


def _live(index_dir: Path) -> Path:
    return index_dir / read_manifest(index_dir).generation


def remove_manifest(index_dir: Path) -> None:
    (index_dir / MANIFEST).unlink()


def manifest_not_json(index_dir: Path) -> None:
    (index_dir / MANIFEST).write_text('{"format_version": 1, "model": ', encoding="utf-8")


def manifest_not_object(index_dir: Path) -> None:
    (index_dir / MANIFEST).write_text("[1, 2, 3]", encoding="utf-8")


def format_99(index_dir: Path) -> None:
    rewrite_manifest(index_dir, format_version=99)


def manifest_incomplete(index_dir: Path) -> None:
    data = json.loads((index_dir / MANIFEST).read_text())
    del data["model_fingerprint"]
    (index_dir / MANIFEST).write_text(json.dumps(data))


def n_chunks_edited(index_dir: Path) -> None:
    rewrite_manifest(index_dir, n_chunks=read_manifest(index_dir).n_chunks + 1)


def vectors_truncated(index_dir: Path) -> None:
    path = _live(index_dir) / "vectors.faiss"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def chunk_row_removed(index_dir: Path) -> None:
    """Drop the last row of every column of the chunk table (the last chunk) and fix the
    manifest's bytes and sha256 to match, so only the count checks can notice."""
    manifest = json.loads((index_dir / MANIFEST).read_text())
    for name in ("ids", "article", "n", "start", "end", "sentence_start"):
        path = _live(index_dir) / "chunks" / f"{name}.npy"
        np.save(path, np.load(path)[:-1], allow_pickle=False)
        manifest["files"][f"chunks/{name}.npy"] = {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
    spans = _live(index_dir) / "chunks" / "sentence_spans.npy"
    np.save(spans, np.load(spans)[: np.load(_live(index_dir) / "chunks" / "sentence_start.npy")[-1]])
    manifest["files"]["chunks/sentence_spans.npy"] = {"bytes": spans.stat().st_size, "sha256": file_sha256(spans)}
    (index_dir / MANIFEST).write_text(json.dumps(manifest))


def remove_file(name: str):
    def corrupt(index_dir: Path) -> None:
        (_live(index_dir) / name).unlink()

    corrupt.__name__ = f"missing_{name}"
    return corrupt


def remove_generation(index_dir: Path) -> None:
    shutil.rmtree(_live(index_dir))


CORRUPTIONS = [
    (remove_manifest, IndexMissingError, "no index in"),
    (manifest_not_json, IndexMismatchError, "is not valid JSON"),
    (manifest_not_object, IndexMismatchError, "is not a JSON object"),
    (format_99, IndexMismatchError, "has index format 99; this qa reads format 4"),
    (manifest_incomplete, IndexMismatchError, "is incomplete"),
    (n_chunks_edited, IndexMismatchError, "chunks, the manifest says"),
    (vectors_truncated, IndexMismatchError, "bytes, the manifest says"),
    (chunk_row_removed, IndexMismatchError, "chunks, the manifest says"),
    (remove_generation, IndexMismatchError, "is missing"),
    *[(remove_file(name), IndexMismatchError, f"{name} is missing") for name in FILES],
]


@pytest.mark.parametrize(
    "corrupt, error, fragment", CORRUPTIONS, ids=[corrupt.__name__ for corrupt, _, _ in CORRUPTIONS]
)
def test_loading_a_damaged_index_says_what_to_run(built: Settings, corrupt, error, fragment) -> None:
    index_dir = built.index_dir
    n_chunks = read_manifest(index_dir).n_chunks
    corrupt(index_dir)
    with pytest.raises(error) as info:
        FaissStore.load(index_dir)
    message = str(info.value)
    assert type(info.value) is error
    assert fragment in message
    assert "qa index" in message and f"--index-dir {index_dir}" in message
    if corrupt is n_chunks_edited:
        assert f"{n_chunks} chunks, the manifest says {n_chunks + 1}" in message
    if corrupt is chunk_row_removed:
        assert f"{n_chunks - 1} chunks, the manifest says {n_chunks}" in message
        assert f"{n_chunks} vectors for {n_chunks - 1} chunks" in message


def test_loading_where_there_is_no_index_dir(tmp_path: Path) -> None:
    where = tmp_path / "nowhere"
    with pytest.raises(IndexMissingError) as info:
        FaissStore.load(where)
    assert str(info.value) == f"no index in {where}: run `qa index --index-dir {where}` first"
    assert not where.exists()  # loading creates nothing


# -- no pickle -----------------------------------------------------------------------------


def test_index_files_are_json_jsonl_and_faiss_never_pickle(built: Settings) -> None:
    import faiss

    index_dir = built.index_dir
    files = [path for path in index_dir.rglob("*") if path.is_file()]
    assert {path.relative_to(index_dir).as_posix().split("/", 1)[-1] for path in files} == {
        ".lock", MANIFEST, *read_manifest(index_dir).files
    }
    assert set(FILES) <= set(read_manifest(index_dir).files)
    for path in files:
        assert not path.read_bytes().startswith(b"\x80"), f"{path} starts like a pickle"
    folder = _live(index_dir)
    lines = (folder / "articles.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines and all(isinstance(json.loads(line), dict) for line in lines)
    for path in folder.rglob("*.npy"):
        assert np.load(path, allow_pickle=False).dtype != object
    assert faiss.read_index(str(folder / "vectors.faiss")).ntotal == read_manifest(index_dir).n_chunks


def test_qa_package_never_imports_pickle() -> None:
    sources = sorted(QA_PACKAGE.rglob("*.py"))
    assert len(sources) >= 10
    forbidden = re.compile(
        r"^\s*(import|from)\s+(c?[Pp]ickle|_pickle|dill|joblib|shelve|cloudpickle)\b", re.MULTILINE
    )
    for source in sources:
        text = source.read_text(encoding="utf-8")
        assert not forbidden.search(text), f"{source} imports a pickle module"
        assert "allow_pickle=True" not in text, f"{source} loads pickled numpy data"
        assert "__import__(\"pickle\")" not in text and "import_module(\"pickle\")" not in text


# -- the writer lock -----------------------------------------------------------------------

HOLD_LOCK = textwrap.dedent(
    """
    import sys
    from qa.indexing.generations import write_lock
    with write_lock(sys.argv[1]):
        print("locked", flush=True)
        sys.stdin.readline()
    """
)
TRY_LOCK = textwrap.dedent(
    """
    import sys
    from qa.errors import IndexLockedError
    from qa.indexing.generations import write_lock
    try:
        with write_lock(sys.argv[1]):
            print("acquired")
    except IndexLockedError as error:
        print("locked:", error)
    """
)


def run_python(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()


def test_lock_held_by_another_process_is_refused_naming_it(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(index_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(IndexLockedError) as info:
            with write_lock(index_dir):
                pytest.fail("the lock was granted twice")
        assert f"{index_dir} is being written by process {holder.pid} (since " in str(info.value)
        # update_index takes the same lock, before it touches anything
        with pytest.raises(IndexLockedError):
            update_index(Settings(index_dir=index_dir, corpus=(tmp_path,)), FakeEmbedder())
        assert not (index_dir / MANIFEST).exists()
    finally:
        holder.communicate("\n", timeout=60)
    assert holder.returncode == 0
    # released: free to take, and the holder's note is gone
    assert (index_dir / ".lock").read_text() == ""
    with write_lock(index_dir):
        assert (index_dir / ".lock").read_text().startswith(f"process {os.getpid()} ")


def test_lock_held_here_is_refused_to_another_process(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    with write_lock(index_dir):
        reply = run_python(TRY_LOCK, str(index_dir))
        assert reply.startswith(f"locked: {index_dir} is being written by process {os.getpid()} (since ")
    assert run_python(TRY_LOCK, str(index_dir)) == "acquired"


def test_lock_is_refused_to_a_second_open_in_the_same_process(tmp_path: Path) -> None:
    """flock belongs to the open file description and write_lock opens the file each time,
    so a nested write_lock in one process conflicts too, and failing leaves the first held."""
    index_dir = tmp_path / "index"
    with write_lock(index_dir):
        with pytest.raises(IndexLockedError) as info:
            with write_lock(index_dir):
                pytest.fail("the lock was granted twice")
        assert f"being written by process {os.getpid()} (since " in str(info.value)
        assert run_python(TRY_LOCK, str(index_dir)).startswith("locked: ")
    with write_lock(index_dir):
        pass


# -- search edge cases ---------------------------------------------------------------------


def test_k_larger_than_the_index_returns_every_chunk(built: Settings, fake_embedder) -> None:
    store = FaissStore.load(built.index_dir)
    n = len(store)
    scores, rows = store.search(fake_embedder.encode(["apple harvest"]), n + 10)
    assert rows.shape == scores.shape == (1, n)
    assert sorted(rows[0].tolist()) == list(range(n))
    hits = Searcher(store, fake_embedder).search("apple harvest", k=n + 10)
    assert [hit.rank for hit in hits] == list(range(1, len(hits) + 1))
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))
    assert hits[0].chunk.article_id == "orchard.txt"
    assert hits[0].title == "Apple harvest breaks records"
    # every chunk is returned, except near-duplicates: more than half covered by better ones
    from qa.search.searcher import covered

    def spans(chosen):
        return [(h.chunk.start, h.chunk.end) for h in chosen]

    returned = {hit.chunk.id for hit in hits}
    for position, hit in enumerate(hits):
        better = [h for h in hits[:position] if h.chunk.article_id == hit.chunk.article_id]
        assert covered(hit.chunk.start, hit.chunk.end, spans(better)) <= (hit.chunk.end - hit.chunk.start) / 2
    for chunk in store.chunks:
        if chunk.id not in returned:
            same = [h for h in hits if h.chunk.article_id == chunk.article_id]
            assert covered(chunk.start, chunk.end, spans(same)) > (chunk.end - chunk.start) / 2


def test_index_of_an_empty_corpus_loads_and_finds_nothing(tmp_path: Path, corpus_dir: Path, fake_embedder):
    settings = Settings(index_dir=tmp_path / "index", corpus=(corpus_dir,))
    report = update_index(settings, fake_embedder)
    assert (report.written, report.n_articles, report.n_chunks, report.embedded) == (True, 0, 0, 0)
    assert report.rejected == []

    store = FaissStore.load(settings.index_dir)
    assert len(store) == 0 and store.articles == {}
    assert store.manifest.n_chunks == 0 and store.manifest.articles == {}
    assert store.vectors().shape == (0, 64)
    scores, rows = store.search(fake_embedder.encode(["anything"]), 5)
    assert scores.shape == rows.shape == (1, 0)
    searcher = Searcher(store, fake_embedder)
    assert searcher.search("anything at all", k=5) == []
    result = searcher.ask("anything at all")
    assert result.answer is None and result.hits == ()
    # and an unchanged empty corpus is not written again
    assert update_index(settings, fake_embedder).written is False
