"""The indexer: an incremental update gives what a full rebuild gives, embedding only what changed.

The equivalence walk uses the real model (it is about real vectors and rankings); the other
mechanics use the FakeEmbedder.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import SEED_ARTICLE, FakeEmbedder

from qa.config import ChunkSettings, Settings
from qa.errors import IndexMismatchError
from qa.indexing.faiss_store import FaissStore
from qa.indexing.indexer import (
    CorpusDiff,
    IndexReport,
    corpus_status,
    diff_corpus,
    incompatibility,
    update_index,
)
from qa.indexing.manifest import MANIFEST, read_manifest
from qa.ingest.corpus import read_corpus
from qa.search.searcher import Searcher
from qa.types import Rejected

SEED_ID = SEED_ARTICLE.name

FOOTBALL = (
    "Rovers beat City in late drama\n\n"
    "Northgate Rovers beat Eastfield City 2-1 on Saturday in front of 30,000 fans at Riverside Park. "
    "Striker Tomas Berg scored the winning goal in the 89th minute with a header from a corner. "
    "City had equalised early in the second half through a penalty. "
    "The win lifts Rovers to third place in the league table."
)
FOOTBALL_CHANGED = (
    "Rovers thrash City at Riverside Park\n\n"
    "Northgate Rovers beat Eastfield City 4-0 on Saturday in front of 30,000 fans at Riverside Park. "
    "Striker Tomas Berg scored a hat-trick, all three goals coming in the first half. "
    "City finished the match with ten men after a red card. "
    "The win lifts Rovers to the top of the league table."
)
BANK = (
    "Central bank raises interest rates to 4.5 percent\n\n"
    "The National Bank of Veloria raised its main interest rate by a quarter of a percentage point "
    "to 4.5 percent on Thursday. "
    "Governor Anna Kessler said inflation remained too high at 5.2 percent. "
    "Economists had expected the increase. "
    "The bank signalled that further rises were possible if prices kept climbing."
)
VOLCANO = (
    "Volcano erupts on Isla Brava\n\n"
    "The Monte Fuego volcano on Isla Brava erupted on Tuesday night, "
    "sending ash five kilometres into the sky. "
    "Authorities evacuated 2,000 residents from villages on its southern slopes. "
    "Flights to the island were cancelled because of the ash cloud. "
    "No injuries were reported."
)
QUESTIONS = [
    "Who is the chief of staff of the Iranian armed forces?",
    "What was the final score of the football match?",
    "Did the central bank raise interest rates?",
    "How many people were evacuated after the volcano erupted?",
    "Which countries agreed to hold a joint naval drill?",
]


class CountingEmbedder:
    """Wraps an embedder and records how many texts each encode() or encode_spans() call got."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = inner.name
        self.fingerprint = inner.fingerprint
        self.base_fingerprint = inner.base_fingerprint
        self.backend = inner.backend
        self.dim = inner.dim
        self.model_dir = getattr(inner, "model_dir", None)
        self.calls: list[int] = []

    def encode(self, texts, *, progress: bool = False) -> np.ndarray:
        self.calls.append(len(texts))
        return self.inner.encode(texts, progress=progress)

    def encode_spans(self, texts, spans, *, progress: bool = False):
        self.calls.append(len(texts))
        return self.inner.encode_spans(texts, spans, progress=progress)


# -- incremental update against full rebuild, with the real model --------------------------


@dataclass
class Step:
    name: str
    diff: CorpusDiff  # what the step did to the corpus, as update_index should report it
    incremental: IndexReport
    full: IndexReport
    inc_store: FaissStore
    full_store: FaissStore
    before: FaissStore | None  # the incremental index before this step
    texts_embedded: int  # counted at the embedder, incremental run


def change_corpus(corpus: Path, step: str) -> None:
    if step == "build":
        shutil.copy(SEED_ARTICLE, corpus / SEED_ID)
        (corpus / "football.txt").write_text(FOOTBALL, encoding="utf-8")
        (corpus / "bank.txt").write_text(BANK, encoding="utf-8")
    elif step == "add":
        (corpus / "volcano.txt").write_text(VOLCANO, encoding="utf-8")
    elif step == "change":
        (corpus / "football.txt").write_text(FOOTBALL_CHANGED, encoding="utf-8")
    elif step == "delete":
        (corpus / "bank.txt").unlink()


EXPECTED_DIFFS = {
    "build": CorpusDiff(added=[SEED_ID, "bank.txt", "football.txt"]),
    "add": CorpusDiff(added=["volcano.txt"], unchanged=[SEED_ID, "bank.txt", "football.txt"]),
    "change": CorpusDiff(changed=["football.txt"], unchanged=[SEED_ID, "bank.txt", "volcano.txt"]),
    "delete": CorpusDiff(removed=["bank.txt"], unchanged=[SEED_ID, "football.txt", "volcano.txt"]),
}
STEPS = list(EXPECTED_DIFFS)


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory, embedder) -> dict[str, Step]:
    """Build, add, change, delete; after each, update one index incrementally and rebuild
    another from scratch."""
    root = tmp_path_factory.mktemp("walk")
    corpus = root / "corpus"
    corpus.mkdir()
    incremental = Settings(index_dir=root / "incremental", corpus=(corpus,))
    full = Settings(index_dir=root / "full", corpus=(corpus,))
    steps: dict[str, Step] = {}
    before = None
    for name in STEPS:
        change_corpus(corpus, name)
        counting = CountingEmbedder(embedder)
        inc_report = update_index(incremental, counting)
        full_report = update_index(full, embedder, rebuild=True)
        inc_store = FaissStore.load(incremental.index_dir)
        steps[name] = Step(
            name, EXPECTED_DIFFS[name], inc_report, full_report, inc_store,
            FaissStore.load(full.index_dir), before, sum(counting.calls),
        )
        before = inc_store
    return steps


def chunk_tuples(store: FaissStore) -> list[tuple]:
    return [(c.id, c.article_id, c.n, c.start, c.end, c.text, c.sentences) for c in store.chunks]


@pytest.mark.parametrize("step", STEPS)
def test_incremental_has_the_chunks_of_a_full_rebuild(walk, step) -> None:
    s = walk[step]
    assert chunk_tuples(s.inc_store) == chunk_tuples(s.full_store)
    assert s.inc_store.articles == s.full_store.articles
    assert s.inc_store.manifest.articles == s.full_store.manifest.articles
    assert sorted(s.inc_store.articles) == sorted(s.diff.added + s.diff.changed + s.diff.unchanged)
    assert s.inc_store.manifest.n_chunks == s.full_store.manifest.n_chunks == len(s.full_store)


@pytest.mark.parametrize("step", STEPS)
def test_incremental_has_the_vectors_of_a_full_rebuild(walk, step) -> None:
    s = walk[step]
    inc, full = s.inc_store.vectors(), s.full_store.vectors()
    assert inc.shape == full.shape == (len(s.full_store), 384)
    assert np.allclose(inc, full, atol=1e-5, rtol=0), float(np.abs(inc - full).max())
    inc_sentences, full_sentences = s.inc_store.sentence_matrix, s.full_store.sentence_matrix
    assert inc_sentences.shape == full_sentences.shape == (sum(len(c.sentences) for c in s.full_store.chunks), 384)
    # float16 as stored: equal to within its precision
    assert np.allclose(inc_sentences, full_sentences, atol=2e-3, rtol=0)


@pytest.mark.parametrize("step", STEPS)
def test_incremental_searches_like_a_full_rebuild(walk, step, embedder) -> None:
    s = walk[step]
    inc, full = Searcher(s.inc_store, embedder), Searcher(s.full_store, embedder)
    for question in QUESTIONS:
        for mode in ("dense", "bm25", "hybrid"):
            inc_hits, full_hits = inc.search(question, 5, mode=mode), full.search(question, 5, mode=mode)
            assert inc_hits or mode == "bm25", (question, mode)  # bm25 finds nothing without shared words
            assert [h.chunk.id for h in inc_hits] == [h.chunk.id for h in full_hits], (question, mode)
            np.testing.assert_allclose(
                [h.score for h in inc_hits], [h.score for h in full_hits], atol=1e-5, rtol=0, err_msg=question
            )
        # and the rankings are real: each topic question finds its own article first
        topic = {QUESTIONS[1]: "football.txt", QUESTIONS[2]: "bank.txt", QUESTIONS[3]: "volcano.txt"}
        if topic.get(question) in s.inc_store.articles:
            assert inc.search(question, 5, mode="dense")[0].chunk.id == f"{topic[question]}#0", question


@pytest.mark.parametrize("step", STEPS)
def test_report_lists_exactly_what_changed(walk, step) -> None:
    s = walk[step]
    assert s.incremental.diff == s.diff
    assert s.incremental.written is True
    assert s.incremental.rebuild_reason is None
    assert s.incremental.rejected == []
    assert (s.incremental.n_articles, s.incremental.n_chunks) == (len(s.inc_store.articles), len(s.inc_store))
    # the full rebuild starts from nothing, so everything is new to it
    assert s.full.diff == CorpusDiff(added=sorted(s.full_store.articles))
    assert s.full.rebuild_reason == "requested with --rebuild"
    assert s.full.embedded == len(s.full_store)


@pytest.mark.parametrize("step", STEPS)
def test_only_new_and_changed_articles_are_embedded(walk, step) -> None:
    s = walk[step]
    fresh = s.diff.added + s.diff.changed
    expected = sum(s.inc_store.manifest.articles[article_id]["n_chunks"] for article_id in fresh)
    assert s.incremental.embedded == s.texts_embedded == expected
    assert expected == sum(chunk.article_id in fresh for chunk in s.inc_store.chunks)
    if step == "build":
        assert expected == len(s.inc_store) > 3  # the seed article alone has several chunks
    elif step == "delete":
        assert expected == 0
    else:
        assert expected >= 1


@pytest.mark.parametrize("step", STEPS[1:])
def test_faiss_ids_of_unchanged_chunks_are_kept_and_new_ids_are_fresh(walk, step) -> None:
    s = walk[step]
    before_ids = {chunk.id: int(i) for chunk, i in zip(s.before.chunks, s.before.ids)}
    after_ids = {chunk.id: int(i) for chunk, i in zip(s.inc_store.chunks, s.inc_store.ids)}
    fresh = set(s.diff.added + s.diff.changed)
    kept = {cid: i for cid, i in after_ids.items() if cid.split("#")[0] not in fresh}
    new = {cid: i for cid, i in after_ids.items() if cid.split("#")[0] in fresh}

    assert kept == {cid: before_ids[cid] for cid in kept}
    np.testing.assert_array_equal(
        s.inc_store.vectors()[[s.inc_store.chunks.index(c) for c in s.inc_store.chunks if c.id in kept]],
        s.before.vectors()[[s.before.chunks.index(c) for c in s.before.chunks if c.id in kept]],
    )
    previous_next = s.before.manifest.next_id
    assert sorted(new.values()) == list(range(previous_next, previous_next + len(new)))
    assert s.inc_store.manifest.next_id == previous_next + len(new)
    assert len(set(after_ids.values())) == len(after_ids)
    if step == "change":
        # the edited article's old ids are gone and not handed out again
        old = {i for cid, i in before_ids.items() if cid.startswith("football.txt#")}
        assert old and not old & set(new.values())


def test_whole_walk_ids_are_never_reused(walk) -> None:
    seen: dict[int, str] = {}
    for step in STEPS:
        s = walk[step]
        for chunk, faiss_id in zip(s.inc_store.chunks, s.inc_store.ids):
            assert seen.setdefault(int(faiss_id), chunk.id) == chunk.id, (step, int(faiss_id))
    assert walk["delete"].inc_store.manifest.next_id == len(seen)


# -- the headline retrieval check ----------------------------------------------------------


def test_seed_question_finds_the_chief_of_staff(seed_index: Settings, embedder) -> None:
    searcher = Searcher(FaissStore.load(seed_index.index_dir), embedder)
    for mode in ("dense", "bm25", "hybrid"):
        hits = searcher.search("Who is the chief of staff of the Iranian armed forces?", mode=mode)
        assert len(hits) >= 3
        assert "Mohammad Baqeri" in hits[0].chunk.text, mode
    assert hits[0].chunk.article_id == SEED_ID


# -- mechanics, with the fake embedder -----------------------------------------------------

SMALL = {"football.txt": FOOTBALL, "bank.txt": BANK}


@pytest.fixture
def small(tmp_path: Path, corpus_dir: Path) -> Settings:
    for name, text in SMALL.items():
        (corpus_dir / name).write_text(text, encoding="utf-8")
    chunking = ChunkSettings(target_tokens=48)
    return Settings(index_dir=tmp_path / "index", corpus=(corpus_dir,), chunking=chunking)


def snapshot(index_dir: Path) -> dict[str, tuple[bytes, int]]:
    """Every file of the index but the lock file (which a writer stamps with its pid)."""
    return {
        path.relative_to(index_dir).as_posix(): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(index_dir.rglob("*"))
        if path.is_file() and path.name != ".lock"
    }


def test_rerun_without_change_writes_nothing(small: Settings, fake_embedder) -> None:
    first = update_index(small, fake_embedder)
    assert first.written and first.embedded == first.n_chunks >= 2
    generation = read_manifest(small.index_dir).generation
    files = snapshot(small.index_dir)
    calls = len(fake_embedder.calls)

    again = update_index(small, fake_embedder)

    assert again.written is False
    assert again.embedded == 0 and again.rebuild_reason is None
    assert again.diff == CorpusDiff(unchanged=["bank.txt", "football.txt"])
    assert (again.n_articles, again.n_chunks) == (2, first.n_chunks)
    assert len(fake_embedder.calls) == calls  # the model was not even called
    assert read_manifest(small.index_dir).generation == generation
    assert snapshot(small.index_dir) == files


def test_changed_chunk_settings_rebuild_everything(small: Settings, fake_embedder) -> None:
    update_index(small, fake_embedder)
    finer = small.with_(chunking=ChunkSettings(target_tokens=32))
    report = update_index(finer, fake_embedder)

    assert report.written
    assert report.rebuild_reason.startswith("the chunking settings changed")
    assert "'target_tokens': 48" in report.rebuild_reason and "'target_tokens': 32" in report.rebuild_reason
    assert report.diff == CorpusDiff(added=["bank.txt", "football.txt"])
    store = FaissStore.load(small.index_dir)
    assert report.embedded == fake_embedder.calls[-1] == len(store)
    assert store.manifest.chunking == finer.chunking.to_json()
    np.testing.assert_array_equal(store.ids, np.arange(len(store)))
    # with the same settings again, nothing more to do
    assert update_index(finer, fake_embedder).written is False


def test_changed_model_fingerprint_rebuilds_everything(small: Settings, fake_embedder) -> None:
    update_index(small, fake_embedder)
    other = FakeEmbedder()
    other.fingerprint = "fake0002"
    assert incompatibility(read_manifest(small.index_dir), other, small) == (
        "the model changed (index: fake-bag-of-words, now: fake-bag-of-words)"
    )
    report = update_index(small, other)

    assert report.written
    assert report.rebuild_reason.startswith("the model changed")
    assert report.diff == CorpusDiff(added=["bank.txt", "football.txt"])
    store = FaissStore.load(small.index_dir)
    assert report.embedded == sum(other.calls) == len(store)
    assert store.manifest.model_fingerprint == "fake0002"
    # the index now refuses the old model
    with pytest.raises(IndexMismatchError, match="qa index"):
        Searcher(store, fake_embedder)


def test_changed_dimension_rebuilds_everything(small: Settings, fake_embedder) -> None:
    update_index(small, fake_embedder)
    narrow = FakeEmbedder(dim=32)
    report = update_index(small, narrow)
    assert report.rebuild_reason == "the vector dimension changed (64 -> 32)"
    assert FaissStore.load(small.index_dir).vectors().shape[1] == 32


def test_compatible_index_has_no_incompatibility(small: Settings, fake_embedder) -> None:
    update_index(small, fake_embedder)
    assert incompatibility(read_manifest(small.index_dir), fake_embedder, small) is None


def _truncate_vectors(index_dir: Path) -> None:
    path = index_dir / read_manifest(index_dir).generation / "vectors.faiss"
    path.write_bytes(path.read_bytes()[:100])


def _garble_manifest(index_dir: Path) -> None:
    (index_dir / MANIFEST).write_text("not json at all", encoding="utf-8")


def _delete_chunks(index_dir: Path) -> None:
    (index_dir / read_manifest(index_dir).generation / "chunks" / "ids.npy").unlink()


@pytest.mark.parametrize(
    "corrupt, why",
    [
        (_truncate_vectors, "bytes, the manifest says"),
        (_garble_manifest, "is not valid JSON"),
        (_delete_chunks, "chunks/ids.npy is missing"),
    ],
)
def test_damaged_index_is_rebuilt_with_a_reason(small: Settings, fake_embedder, corrupt, why) -> None:
    first = update_index(small, fake_embedder)
    corrupt(small.index_dir)
    with pytest.raises(IndexMismatchError):
        FaissStore.load(small.index_dir)

    report = update_index(small, fake_embedder)

    assert report.written
    assert report.rebuild_reason.startswith("the existing index cannot be used (")
    assert why in report.rebuild_reason
    assert "--rebuild" not in report.rebuild_reason  # it is rebuilding: no advice to rebuild
    assert report.diff == CorpusDiff(added=["bank.txt", "football.txt"])
    assert report.embedded == first.n_chunks == report.n_chunks
    store = FaissStore.load(small.index_dir)
    assert len(store) == first.n_chunks
    assert sorted(p.name for p in small.index_dir.glob("gen-*")) == [store.manifest.generation]


def test_corpus_status_reports_what_changed_since_the_build(small: Settings, fake_embedder) -> None:
    update_index(small, fake_embedder)
    manifest, diff, rejected = corpus_status(small)
    assert diff == CorpusDiff(unchanged=["bank.txt", "football.txt"]) and rejected == []

    corpus = small.corpus[0]
    (corpus / "volcano.txt").write_text(VOLCANO, encoding="utf-8")
    (corpus / "football.txt").write_text(FOOTBALL_CHANGED, encoding="utf-8")
    (corpus / "bank.txt").unlink()
    (corpus / "notes.docx").write_bytes(b"PK\x03\x04")
    manifest, diff, rejected = corpus_status(small)

    assert manifest.to_json() == read_manifest(small.index_dir).to_json()
    assert diff == CorpusDiff(added=["volcano.txt"], changed=["football.txt"], removed=["bank.txt"])
    assert [r.path for r in rejected] == ["notes.docx"]
    assert "unsupported file type '.docx'" in rejected[0].reason
    # corpus_status only looks: the index is as it was
    assert sorted(read_manifest(small.index_dir).articles) == ["bank.txt", "football.txt"]


def test_diff_corpus_compares_by_id_and_hash(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Alpha\n\nThe first article.")
    (tmp_path / "b.txt").write_text("Beta\n\nThe second article.")
    articles = read_corpus([tmp_path]).articles
    indexed = {
        "a.txt": {"sha256": articles[0].sha256},
        "b.txt": {"sha256": "0" * 64},
        "z.txt": {"sha256": "1" * 64},
        "c.txt": {"sha256": "2" * 64},
    }
    assert diff_corpus(articles, indexed) == CorpusDiff(
        added=[], changed=["b.txt"], removed=["c.txt", "z.txt"], unchanged=["a.txt"]
    )
    assert diff_corpus(articles, {}).added == ["a.txt", "b.txt"]
    assert diff_corpus([], {}).empty


def test_rejected_files_do_not_stop_indexing(small: Settings, fake_embedder) -> None:
    corpus = small.corpus[0]
    (corpus / "broken.txt").write_bytes(b"\x00\x01\x02binary\x00garbage\xff" * 20)
    (corpus / "empty.md").write_text("   \n\n", encoding="utf-8")

    report = update_index(small, fake_embedder)

    assert report.rejected == [
        Rejected("broken.txt", "binary data, not text (NUL bytes)"),
        Rejected("empty.md", "no text in it"),
    ]
    assert report.written and report.n_articles == 2
    assert report.diff == CorpusDiff(added=["bank.txt", "football.txt"])
    store = FaissStore.load(small.index_dir)
    assert sorted(store.articles) == ["bank.txt", "football.txt"]
    assert report.embedded == len(store) == report.n_chunks


def test_deleted_then_restored_article_gets_new_ids(small: Settings, fake_embedder) -> None:
    update_index(small, fake_embedder)
    first = FaissStore.load(small.index_dir)
    bank_ids = [int(i) for c, i in zip(first.chunks, first.ids) if c.article_id == "bank.txt"]
    bank = small.corpus[0] / "bank.txt"
    bank.unlink()
    removed = update_index(small, fake_embedder)
    assert removed.diff.removed == ["bank.txt"] and removed.embedded == 0
    assert read_manifest(small.index_dir).next_id == first.manifest.next_id

    bank.write_text(BANK, encoding="utf-8")
    restored = update_index(small, fake_embedder)
    store = FaissStore.load(small.index_dir)
    new_ids = [int(i) for c, i in zip(store.chunks, store.ids) if c.article_id == "bank.txt"]
    assert restored.diff.added == ["bank.txt"] and restored.embedded == len(bank_ids)
    assert new_ids == list(range(first.manifest.next_id, first.manifest.next_id + len(bank_ids)))
    assert not set(new_ids) & set(bank_ids)
    np.testing.assert_array_equal(
        store.vectors()[[i for i, c in enumerate(store.chunks) if c.article_id == "bank.txt"]],
        first.vectors()[[i for i, c in enumerate(first.chunks) if c.article_id == "bank.txt"]],
    )


def test_vectors_belong_to_their_chunks_when_the_file_order_is_not_the_id_order(
    tmp_path: Path, fake_embedder
) -> None:
    """A JSONL file lists articles in its own order; the store keeps them sorted by id. Each
    chunk's stored vector must still be its own text's vector."""
    import json

    lines = [
        {"id": "zebra", "title": "Zebras", "text": "Zebras graze on the savanna grass every morning."},
        {"id": "apple", "title": "Apples", "text": "Apple orchards ripen in the autumn sunshine."},
        {"id": "mango", "title": "Mangoes", "text": "Mango harvests depend on the monsoon rains."},
    ]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "news.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    settings = Settings(index_dir=tmp_path / "index", corpus=(corpus,))
    update_index(settings, fake_embedder)
    store = FaissStore.load(settings.index_dir)
    assert [chunk.article_id for chunk in store.chunks] == ["apple", "mango", "zebra"]
    expected = fake_embedder.encode([f"{store.articles[c.article_id].title}\n{c.text}" for c in store.chunks])
    np.testing.assert_allclose(store.vectors(), expected, atol=1e-6)
