"""Beyond one machine: ingestion on a two-node Ray cluster and the Milvus (Lite) store give the
index and the answers the local engine and the FAISS store give.

The Ray cluster is real: a head and a worker node started with `ray start` on 127.0.0.1 (usage
statistics off, token authentication with a fresh token, files in a temp dir), once for the
module, and stopped at the end, even on failure, by signalling the two process groups this
module started (not `ray stop --force`, which would stop every Ray process on the machine).
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, SEED_ARTICLE, SEEDS
from corpora import DUPLICATE, build_hostile_corpus

from qa.cli import read_questions
from qa.config import IngestLimits, SearchSettings, Settings
from qa.errors import ConfigError
from qa.eval.indexes import CachingEmbedder
from qa.indexing.faiss_store import FaissStore
from qa.indexing.indexer import update_index
from qa.indexing.protocol import require
from qa.indexing.stores import open_store, parse_store
from qa.search.searcher import Searcher
from qa.text.conversation import contextualize

for _module, _extra in (("ray", "ray"), ("pymilvus", "milvus")):
    # found, not imported: the Ray engine sets Ray's environment before Ray is first imported
    if importlib.util.find_spec(_module) is None:
        pytest.skip(f"the scale-out tests need qa[{_extra}]: pip install -e '.[test]'", allow_module_level=True)

from qa.indexing.milvus_store import DocumentFrequencies, MilvusStore, disconnect, keyword_texts  # noqa: E402
from qa.indexing.ray_engine import RayEngine  # noqa: E402

SEED_ID = SEED_ARTICLE.name
QUESTIONS = read_questions(ROOT / "qa" / "data" / "seeds.jsonl")
VECTOR_TOLERANCE = 1e-5  # per component; both engines run the same model, in batches of other shapes
SENTENCE_TOLERANCE = 1e-3  # sentence vectors are stored as float16: a float32 difference can flip one ulp
BIN = Path(sys.executable).parent
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1"}
# `ray start` for a worker node resolves --node-ip-address=127.0.0.1 to the machine's external
# address; this keeps the address given, so the worker listens on 127.0.0.1 like the head.
WORKER_START = (
    "import sys, ray._private.services as services; services.resolve_ip_for_localhost = lambda host: host;"
    " from ray.scripts.scripts import main; sys.argv[0] = 'ray'; sys.exit(main())"
)
ARTICLES = {
    "football.txt": "Rovers beat City in late drama\n\nNorthgate Rovers beat Eastfield City 2-1 on Saturday. "
    "Striker Tomas Berg scored the winning goal in the 89th minute with a header from a corner.",
    "bank.txt": "Central bank raises interest rates\n\nThe National Bank of Veloria raised its main interest rate "
    "to 4.5 percent on Thursday. Governor Anna Kessler said inflation remained too high.",
    "volcano.txt": "Volcano erupts on Isla Brava\n\nThe Monte Fuego volcano erupted on Tuesday night. "
    "Authorities evacuated 2,000 residents from villages on its southern slopes.",
}
FOOTBALL_CHANGED = (
    "Rovers thrash City at Riverside Park\n\nNorthgate Rovers beat Eastfield City 4-0 on Saturday. "
    "Striker Tomas Berg scored a hat-trick, all three goals coming in the first half."
)

pytestmark = pytest.mark.scaleout  # a Ray cluster and Milvus Lite: `make test` runs it, `make check` does not


# -- the cluster ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"`ray start` exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"Ray's head did not listen on 127.0.0.1:{port} in {seconds} s")


def stop_group(process: subprocess.Popen) -> None:
    """Stop `ray start --block` and every process it started (they share its process group)."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        time.sleep(1)  # let the group's other members exit after its leader
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A head and a worker node on 127.0.0.1, one CPU each; yields the head's address."""
    temp = tmp_path_factory.mktemp("ray")
    port = free_port()
    env = {**os.environ, **RAY_ENV, "RAY_AUTH_TOKEN": secrets.token_hex(32), "PYTHONPATH": str(ROOT)}
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats", "--block"]
    processes = []
    with pytest.MonkeyPatch.context() as patch:
        for name in ("RAY_USAGE_STATS_ENABLED", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN"):
            patch.setenv(name, env[name])
        patch.delenv("RAY_ADDRESS", raising=False)
        try:
            head = [str(BIN / "ray"), "start", "--head", f"--port={port}", "--include-dashboard=false",
                    f"--temp-dir={temp}", *common]
            processes.append(subprocess.Popen(
                head, env={**env, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}, start_new_session=True,
                stdout=(temp / "head.log").open("w"), stderr=subprocess.STDOUT,
            ))
            wait_for_port(port, processes[0])
            worker = [sys.executable, "-c", WORKER_START, "start", f"--address=127.0.0.1:{port}", *common]
            processes.append(subprocess.Popen(
                worker, env=env, start_new_session=True, stdout=(temp / "worker.log").open("w"),
                stderr=subprocess.STDOUT,
            ))
            yield f"127.0.0.1:{port}"
        finally:
            if "ray" in sys.modules and sys.modules["ray"].is_initialized():
                sys.modules["ray"].shutdown()
            for process in reversed(processes):
                stop_group(process)


@pytest.fixture(scope="module")
def engine(ray_cluster: str, embedder) -> Iterator[RayEngine]:
    """The Ray engine connected to the module's cluster, once both nodes have joined."""
    # small batches and passes, so that both nodes parse and embed, and parsing takes several passes
    runner = RayEngine(Settings(), embedder, address=ray_cluster, articles_per_batch=1, files_per_batch=1,
                       bytes_per_pass=100_000)
    ray = runner._start()
    deadline = time.monotonic() + 90
    while sum(node["Alive"] for node in ray.nodes()) < 2 and time.monotonic() < deadline:
        time.sleep(1)
    yield runner
    runner.close()


# -- Ray: the same index as the local engine ----------------------------------------------------


@pytest.fixture(scope="module")
def ray_seed_index(tmp_path_factory: pytest.TempPathFactory, engine: RayEngine, embedder) -> Settings:
    settings = Settings(index_dir=tmp_path_factory.mktemp("ray-seeds"), corpus=(SEEDS,))
    report = update_index(settings, embedder, engine=engine)
    assert report.embedded == len(FaissStore.load(settings.index_dir))
    return settings


def test_cluster_is_two_nodes_on_loopback(engine: RayEngine) -> None:
    import ray

    nodes = [node for node in ray.nodes() if node["Alive"]]
    assert len(nodes) == 2
    assert {node["NodeManagerAddress"] for node in nodes} == {"127.0.0.1"}
    assert ray.cluster_resources()["CPU"] == 2.0


def test_ray_build_equals_local_build(ray_seed_index: Settings, seed_index: Settings) -> None:
    remote, local = FaissStore.load(ray_seed_index.index_dir), FaissStore.load(seed_index.index_dir)
    assert list(remote.chunks) == list(local.chunks) and len(local.chunks) == 9
    assert remote.ids.tolist() == local.ids.tolist() == list(range(9))
    assert remote.articles == local.articles
    assert np.abs(remote.vectors() - local.vectors()).max() <= VECTOR_TOLERANCE
    build = {"built_at", "build_seconds", "files", "generation"}
    ours, theirs = remote.manifest.to_json(), local.manifest.to_json()
    assert {key: value for key, value in ours.items() if key not in build} == {
        key: value for key, value in theirs.items() if key not in build
    }
    # every file but the vectors is byte for byte the same (bm25s's vocabulary is sorted now)
    same = {name: entry for name, entry in ours["files"].items() if name != "vectors.faiss"}
    assert same == {name: entry for name, entry in theirs["files"].items() if name != "vectors.faiss"}


@pytest.fixture(scope="module")
def cached(embedder) -> CachingEmbedder:
    """The real model, each question encoded once (in one batch) for the whole module."""
    caching = CachingEmbedder(embedder)
    caching.encode([contextualize(question, history) for _, question, history in QUESTIONS])
    return caching


def top10(settings: Settings, embedder, search: SearchSettings | None = None) -> dict[str, list[str]]:
    searcher = Searcher(open_store(settings.index_dir), embedder, search)
    return {
        question_id: [hit.chunk.id for hit in searcher.search(question, 10, history=history)]
        for question_id, question, history in QUESTIONS
    }


def test_ray_and_local_indexes_rank_alike_for_seed_questions(ray_seed_index, seed_index, cached) -> None:
    ours, theirs = top10(ray_seed_index, cached), top10(seed_index, cached)
    assert len(ours) == 69 and all(len(ranked) == 9 for ranked in ours.values())
    assert ours == theirs


def write_corpus(folder: Path, step: str) -> None:
    if step == "build":
        shutil.copy(SEED_ARTICLE, folder / SEED_ID)
        for name in ("football.txt", "bank.txt"):
            (folder / name).write_text(ARTICLES[name], encoding="utf-8")
    elif step == "add":
        (folder / "volcano.txt").write_text(ARTICLES["volcano.txt"], encoding="utf-8")
    elif step == "change-delete":
        (folder / "football.txt").write_text(FOOTBALL_CHANGED, encoding="utf-8")
        (folder / "bank.txt").unlink()


def assert_same_index(ours, theirs) -> None:
    assert list(ours.chunks) == list(theirs.chunks)
    assert ours.ids.tolist() == theirs.ids.tolist()
    assert ours.articles == theirs.articles
    assert ours.manifest.next_id == theirs.manifest.next_id
    assert np.abs(ours.vectors() - theirs.vectors()).max() <= VECTOR_TOLERANCE
    sentences = np.abs(ours.sentence_matrix.astype(np.float32) - theirs.sentence_matrix.astype(np.float32))
    assert sentences.max() <= SENTENCE_TOLERANCE


def test_ray_refuses_a_link_out_of_the_corpus_and_reads_an_inside_one_once(tmp_path: Path, engine: RayEngine) -> None:
    from qa.ingest.boundary import LINK_OUTSIDE

    secret = tmp_path / "id_rsa"
    secret.write_text("QA_SECRET_TOKEN=hunter2\n")
    corpus = shutil.copytree(SEEDS, tmp_path / "corpus")
    (corpus / "x.txt").symlink_to(secret)
    (corpus / "again.txt").symlink_to(corpus / SEED_ID)
    read = engine.read_corpus([corpus], IngestLimits())
    assert [article.id for article in read.articles] == [SEED_ID]
    assert [(r.path, r.reason) for r in read.rejected] == [
        ("again.txt", f"a link to {SEED_ID!r}, which is read once, as {SEED_ID!r}"), ("x.txt", LINK_OUTSIDE),
    ]


def test_ray_incremental_sends_only_new_and_changed(tmp_path: Path, engine: RayEngine, ray_cluster, embedder) -> None:
    """Build, add, change+delete: after each step the Ray-built index equals the local one, and
    only the new or changed articles' chunks were embedded. The add step runs through the CLI."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    remote = Settings(index_dir=tmp_path / "ray", corpus=(corpus,))
    local = Settings(index_dir=tmp_path / "local", corpus=(corpus,))
    for step in ("build", "add", "change-delete"):
        write_corpus(corpus, step)
        expected = update_index(local, embedder)
        if step == "add":
            run = subprocess.run(
                [str(BIN / "qa"), "index", str(corpus), "--index-dir", str(remote.index_dir), "--engine", "ray",
                 "--ray-address", ray_cluster, "--quiet"],
                env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=600,
            )
            assert run.returncode == 0, run.stderr
            assert "added 1: volcano.txt" in run.stdout and "unchanged 3; embedded 1 chunks" in run.stdout
        else:
            report = update_index(remote, embedder, engine=engine)
            assert report.embedded == expected.embedded
            assert (report.diff.added, report.diff.changed, report.diff.removed) == (
                expected.diff.added, expected.diff.changed, expected.diff.removed)
        assert_same_index(FaissStore.load(remote.index_dir), FaissStore.load(local.index_dir))
    assert expected.embedded == 1 and expected.diff.changed == ["football.txt"]
    assert expected.diff.removed == ["bank.txt"]


def test_ray_parses_bad_files_and_duplicates_as_locally(tmp_path: Path, engine: RayEngine, ray_cluster,
                                                        embedder, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hostile corpus (a bad file of every kind, a duplicate, bad JSONL lines, an article over
    the length limit, refused on a worker after parsing) read through the cluster: the same
    report, in the same order, and the same index as locally; the command exits 3 and prints
    the same skipped files."""
    root = tmp_path / "corpus"
    build_hostile_corpus(root, big=False)
    limits = IngestLimits(max_article_chars=100_000)  # long-line.txt: refused after parsing, on a worker
    remote = Settings(index_dir=tmp_path / "ray", corpus=(root,), limits=limits)
    local = replace(remote, index_dir=tmp_path / "local")
    expected = update_index(local, embedder)

    def not_here(*args, **kwargs):
        raise AssertionError("parse_file ran on the driver")

    monkeypatch.setattr("qa.ingest.corpus.parse_file", not_here)  # the workers import their own qa.ingest.corpus
    report = update_index(remote, embedder, engine=engine)
    monkeypatch.undo()
    assert report.rejected == expected.rejected
    reasons = {rejected.path: rejected.reason for rejected in report.rejected}
    assert reasons["copy-b.txt"] == DUPLICATE and reasons["long-line.txt"].startswith("too long: 200,000")
    assert len(reasons) == 18 and reasons["feed.jsonl:2"].startswith("invalid JSON")
    assert report.diff == expected.diff and len(report.diff.added) == 11
    assert report.embedded == expected.embedded
    assert_same_index(FaissStore.load(remote.index_dir), FaissStore.load(local.index_dir))
    run = subprocess.run(
        [str(BIN / "qa"), "index", str(root), "--index-dir", str(tmp_path / "cli"), "--engine", "ray",
         "--ray-address", ray_cluster, "--backend", "torch", "--quiet"],
        env={**os.environ, "PYTHONPATH": str(ROOT), "QA_MAX_ARTICLE_CHARS": "100000"},
        capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 3, run.stderr
    skipped = run.stdout.split("  skipped 18:\n", 1)[1].splitlines()
    assert skipped == [f"    {rejected}" for rejected in expected.rejected]


def test_ray_actors_embed_with_the_drivers_backend(tmp_path: Path, ray_cluster) -> None:
    """With the default ONNX int8 backend the actors run int8 too (the fingerprints would not
    match otherwise): the same chunks and the same vectors as a local int8 build. Dynamic int8
    scales activations by the whole run, so each text runs alone and Ray's other batches
    change nothing (beyond float rounding in the sentence vectors' float16 storage)."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write_corpus(corpus, "build")
    stores = {}
    for where, extra in (("local", []), ("ray", ["--engine", "ray", "--ray-address", ray_cluster])):
        run = subprocess.run(
            [str(BIN / "qa"), "index", str(corpus), "--index-dir", str(tmp_path / where), "--backend", "onnx-int8",
             "--quiet", *extra],
            env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=600,
        )
        assert run.returncode == 0, run.stderr
        stores[where] = FaissStore.load(tmp_path / where)
    local, remote = stores["local"], stores["ray"]
    assert remote.manifest.backend == local.manifest.backend == "onnx-int8"
    assert remote.manifest.model_fingerprint == local.manifest.model_fingerprint
    assert [c.id for c in remote.chunks] == [c.id for c in local.chunks]
    np.testing.assert_allclose(remote.vectors(), local.vectors(), atol=VECTOR_TOLERANCE)
    np.testing.assert_allclose(
        remote.sentence_rows(range(len(remote))), local.sentence_rows(range(len(local))), atol=1e-3
    )


# -- Milvus: the same answers as FAISS ----------------------------------------------------------


@pytest.fixture(scope="module")
def milvus_seed_index(tmp_path_factory: pytest.TempPathFactory, seed_index: Settings, embedder) -> Settings:
    """The seeds index moved into Milvus Lite: no article is embedded again."""
    folder = tmp_path_factory.mktemp("milvus-seeds")
    shutil.copytree(seed_index.index_dir, folder / "index")
    settings = Settings(index_dir=folder / "index", corpus=(SEEDS,), store=f"milvus://{folder}/seeds.db")
    report = update_index(settings, embedder)
    assert report.written and report.embedded == 0
    return settings


def test_milvus_store_is_recorded_and_opened(milvus_seed_index: Settings, seed_index: Settings) -> None:
    store = open_store(milvus_seed_index.index_dir)
    assert isinstance(store, MilvusStore)
    assert store.manifest.store == {
        "kind": "milvus", "uri": str(Path(milvus_seed_index.store.removeprefix("milvus://"))),
        "collection": "qa_chunks",
    }
    folder = milvus_seed_index.index_dir / store.manifest.generation
    assert sorted(p.name for p in folder.iterdir()) == [
        "articles.ids.json", "articles.jsonl", "articles.offsets.npy", "chunks", "df.json", "sentences.npy",
    ]
    faiss_store = FaissStore.load(seed_index.index_dir)
    assert list(store.chunks) == list(faiss_store.chunks)
    np.testing.assert_array_equal(store.vectors(), faiss_store.vectors())  # stored and read back exactly
    np.testing.assert_array_equal(store.sentence_matrix, faiss_store.sentence_matrix)


def test_milvus_bm25_scores_are_bm25s_scores(milvus_seed_index: Settings, seed_index: Settings) -> None:
    milvus, faiss_store = open_store(milvus_seed_index.index_dir), FaissStore.load(seed_index.index_dir)
    for _, question, _ in QUESTIONS:
        scores, rows = milvus.search_keyword(question, 100)
        expected_scores, expected_rows = faiss_store.search_keyword(question, 100)
        assert rows.tolist() == expected_rows.tolist(), question
        np.testing.assert_allclose(scores, expected_scores, rtol=1e-5)
    terms = {"baqeri", "pakistan", "naval", "zzzz"}
    assert milvus.keyword.idf(terms) == pytest.approx(faiss_store.keyword.idf(terms), rel=1e-12)


def test_milvus_and_faiss_rank_alike_for_seed_questions(milvus_seed_index, seed_index, cached) -> None:
    assert top10(milvus_seed_index, cached) == top10(seed_index, cached)


def test_milvus_hybrid_search_fuses_in_milvus(milvus_seed_index, embedder) -> None:
    """hybrid_search with RRFRanker(60): the passage both legs rank first scores 2 / (60 + 1)."""
    store = open_store(milvus_seed_index.index_dir)
    question = "Who is the chief of staff of the Iranian armed forces?"
    vector = embedder.encode([question])[0]
    assert store.search(vector[None, :], 1)[1][0][0] == store.search_keyword(question, 1)[1][0] == 0
    scores, rows = store.search_hybrid(vector, question, 9, ranker="rrf")
    assert rows[0] == 0 and scores[0] == pytest.approx(2 / 61, rel=1e-6)
    assert sorted(rows.tolist()) == list(range(9))
    scores, rows = store.search_hybrid(vector, question, 3, ranker="weighted", dense_weight=0.4)
    assert rows[0] == 0 and len(rows) == 3 and scores[0] >= scores[1] >= scores[2]


def test_ask_through_cli_on_milvus(milvus_seed_index: Settings, seed_index: Settings) -> None:
    """`qa ask --json` on the Milvus index gives the answer and passages the FAISS searcher gives."""
    from qa.search.searcher import open_searcher

    question = "Who is the chief of staff of the Iranian armed forces?"
    expected = open_searcher(seed_index).ask(question, 3).to_dict()
    disconnect(parse_store(milvus_seed_index.store))  # Milvus Lite: one process per file
    run = subprocess.run(
        [str(BIN / "qa"), "ask", question, "--json", "-k", "3", "--index-dir", str(milvus_seed_index.index_dir)],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["answer"] == expected["answer"] and "Mohammad Baqeri" in result["answer"]["text"]
    assert result["passages"][0]["chunk_id"] == f"{SEED_ID}#0"
    assert [p["chunk_id"] for p in result["passages"]] == [p["chunk_id"] for p in expected["passages"]]


def test_chat_answers_from_milvus(milvus_seed_index: Settings, seed_index: Settings, tmp_path: Path) -> None:
    """`python app.py` (qa serve) on the Milvus index answers through its API as on FAISS."""
    from gradio_client import Client

    from qa.search.searcher import open_searcher

    question = "Where can Tehran and Islamabad establish joint bases?"
    expected = open_searcher(seed_index).ask(question, seed_index.k).to_dict()  # the chat shows k passages
    disconnect(parse_store(milvus_seed_index.store))  # Milvus Lite: one process per file
    port = free_port()
    log = (tmp_path / "app.log").open("w+")
    process = subprocess.Popen(
        [sys.executable, "app.py", str(SEEDS), "--index-dir", str(milvus_seed_index.index_dir), "--port", str(port)],
        cwd=ROOT, env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "TQDM_DISABLE": "1"},
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 300
        while True:
            assert process.poll() is None, f"app.py exited: {log.seek(0) or log.read()}"
            try:
                client = Client(f"http://127.0.0.1:{port}/", verbose=False)
                break
            except Exception:  # noqa: BLE001 - not up yet
                assert time.monotonic() < deadline, "app.py did not start"
                time.sleep(1)
        result = client.predict(question, [], api_name="/ask")
    finally:
        process.terminate()
        process.wait(timeout=60)
    assert result["answer"] == expected["answer"] and "Mirjavah" in result["answer"]["text"]
    assert [p["chunk_id"] for p in result["passages"]] == [p["chunk_id"] for p in expected["passages"]]


def test_milvus_incremental_add_change_delete(tmp_path: Path, embedder) -> None:
    """After each step the Milvus index equals the FAISS one; Milvus holds exactly the live chunks;
    the document frequencies kept up to date step by step equal a fresh count."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    milvus = Settings(index_dir=tmp_path / "milvus", corpus=(corpus,), store=f"milvus://{tmp_path}/m.db")
    faiss_settings = Settings(index_dir=tmp_path / "faiss", corpus=(corpus,))
    for step in ("build", "add", "change-delete"):
        write_corpus(corpus, step)
        report = update_index(milvus, embedder)
        assert report.embedded == update_index(faiss_settings, embedder).embedded
        ours, theirs = open_store(milvus.index_dir), FaissStore.load(faiss_settings.index_dir)
        assert_same_index(ours, theirs)
        stored = ours.client.query(ours.collection, filter="id >= 0", output_fields=["id", "chunk_id"])
        assert sorted(entity["id"] for entity in stored) == sorted(ours.ids.tolist())
        assert {entity["chunk_id"] for entity in stored} == {chunk.id for chunk in ours.chunks}
        fresh = DocumentFrequencies.count(keyword_texts(ours.chunks, ours.articles))
        assert (ours.keyword.n_docs, ours.keyword.n_terms, ours.keyword.df) == (fresh.n_docs, fresh.n_terms, fresh.df)
        searcher, reference = Searcher(ours, embedder), Searcher(theirs, embedder)
        for question in ("Who scored for Rovers?", "How many residents were evacuated?", "What did the bank do?"):
            assert [h.chunk.id for h in searcher.search(question, 5)] == [
                h.chunk.id for h in reference.search(question, 5)]
    assert {chunk.article_id for chunk in ours.chunks} == {SEED_ID, "football.txt", "volcano.txt"}
    assert report.diff.changed == ["football.txt"] and report.diff.removed == ["bank.txt"]


# -- configuration ------------------------------------------------------------------------------


def test_parse_store(tmp_path: Path) -> None:
    assert parse_store(None) == parse_store("faiss") == {}
    assert parse_store(f"milvus://{tmp_path}/x.db") == {
        "kind": "milvus", "uri": f"{tmp_path}/x.db", "collection": "qa_chunks"}
    assert parse_store("milvus://milvus.internal:19530?collection=news") == {
        "kind": "milvus", "uri": "http://milvus.internal:19530", "collection": "news"}
    for bad, says in (("elastic://x", "unknown store"), ("milvus://", "needs a file"),
                      ("milvus://host", "HOST:PORT"), ("milvus://h:1?collection=1x", "collection name")):
        with pytest.raises(ConfigError, match=says):
            parse_store(bad)


@pytest.mark.parametrize(("module", "extra", "flag"), [("pymilvus", "milvus", "--store milvus://"),
                                                        ("ray", "ray", "--engine ray")])
def test_missing_extra_is_named(monkeypatch: pytest.MonkeyPatch, module: str, extra: str, flag: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(ConfigError) as error:
        require(module, extra, flag)
    assert f"{flag} needs the {module} package" in str(error.value)
    assert f"pip install 'qa[{extra}]'" in str(error.value)


def test_simple_path_imports_neither_ray_nor_milvus(seed_index: Settings) -> None:
    code = (
        "import sys\nfrom qa.cli import main\n"
        f"main(['info', '--index-dir', {str(seed_index.index_dir)!r}])\n"
        "from qa.search.searcher import open_searcher\nfrom qa.config import Settings\nfrom pathlib import Path\n"
        f"open_searcher(Settings(index_dir=Path({str(seed_index.index_dir)!r})))\n"
        "print(sorted(m for m in ('ray', 'pymilvus', 'milvus_lite') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
    assert "store FAISS + bm25s" in out
    assert out.strip().splitlines()[-1] == "[]"
