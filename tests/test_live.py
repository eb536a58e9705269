"""One writer at a time, readers that always see a whole index, and a running searcher that
picks up a new generation without a restart (qa.search.live.LiveSearcher)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import FakeEmbedder, copy_seeds
from corpora import ARTICLES, CHUNKING, write_corpus

from qa.config import Settings
from qa.indexing.faiss_store import FaissStore
from qa.indexing.generations import write_lock
from qa.indexing.indexer import update_index
from qa.indexing.manifest import read_manifest
from qa.search.live import LiveSearcher

QA = Path(sys.executable).with_name("qa")
EXTRA = "Ferry strike ends\n\nThe ferry crews of Saltby ended their strike on Thursday after a pay deal."


@pytest.fixture
def settings(tmp_path: Path, corpus_dir: Path) -> Settings:
    write_corpus(corpus_dir)
    settings = Settings(index_dir=tmp_path / "index", corpus=(corpus_dir,), chunking=CHUNKING)
    update_index(settings, FakeEmbedder())
    return settings


def test_a_second_qa_index_fails_at_once_naming_the_writer(tmp_path: Path) -> None:
    """Two real `qa index` processes: the first holds the lock (paused once it has read the
    corpus), the second exits 1 with a message that names the first and says what to do."""
    corpus = copy_seeds(tmp_path / "corpus")
    index_dir = tmp_path / "index"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    command = [str(QA), "index", str(corpus), "--index-dir", str(index_dir), "--quiet"]
    first = subprocess.Popen(command, env={**env, "QA_PAUSE_AT": "read"}, stderr=subprocess.PIPE, text=True)
    try:
        assert first.stderr.readline() == "qa-stage: read\n"
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert second.returncode == 1 and second.stdout == ""
        assert second.stderr.startswith(f"qa: error: {index_dir} is being written by process {first.pid} (since ")
        assert second.stderr.endswith("); wait for it to finish and try again\n")
        assert not (index_dir / "manifest.json").exists()  # the second one touched nothing
    finally:
        first.kill()
        first.wait(60)
    with write_lock(index_dir):  # the killed writer's lock died with it
        pass


def test_readers_always_load_a_whole_index_while_a_writer_writes(settings: Settings) -> None:
    """A reader loading in a loop while ten generations are written and swapped: every load
    succeeds and is consistent (the loader re-reads when the generation it began with goes)."""
    fake = FakeEmbedder()
    corpus = settings.corpus[0]
    stop = threading.Event()
    loads: list[tuple[str, int, int]] = []
    failures: list[BaseException] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                store = FaissStore.load(settings.index_dir)
                loads.append((store.manifest.generation, len(store.articles), len(store)))
            except BaseException as error:  # noqa: BLE001 - any failure fails the test
                failures.append(error)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for n in range(10):
            (corpus / f"extra-{n}.txt").write_text(EXTRA.replace("Thursday", f"day {n}"), encoding="utf-8")
            assert update_index(settings, fake).written
    finally:
        stop.set()
        thread.join(60)
    assert failures == []
    assert len({generation for generation, _, _ in loads}) >= 2  # it did see the index change
    for _, n_articles, n_chunks in loads:
        assert 3 <= n_articles <= 13 and n_chunks > n_articles
    assert read_manifest(settings.index_dir).n_articles == 13


def test_live_searcher_picks_up_a_new_generation(settings: Settings) -> None:
    fake = FakeEmbedder()
    live = LiveSearcher(settings, fake)
    first = live.generation
    assert live.reload() is False  # nothing changed
    assert live.ask("ferry strike pay deal", 3).hits[0].chunk.article_id != "ferry.txt"

    (settings.corpus[0] / "ferry.txt").write_text(EXTRA, encoding="utf-8")
    update_index(settings, fake)

    assert "ferry.txt" in live.store.articles  # no restart, no reload call
    result = live.ask("ferry strike pay deal", 3)
    assert result.hits[0].chunk.article_id == "ferry.txt"
    assert live.generation == read_manifest(settings.index_dir).generation != first
    assert live.problem is None


def test_live_searcher_keeps_answering_when_the_new_index_is_unusable(settings: Settings, capsys) -> None:
    fake = FakeEmbedder()
    live = LiveSearcher(settings, fake)
    before = live.generation
    other = FakeEmbedder()
    other.name, other.fingerprint = "other-model", "other002"
    update_index(settings, other)  # rebuilt with another model: this searcher's model cannot read it

    result = live.ask("apple harvest", 3)

    assert result.hits[0].chunk.article_id == "orchard.txt"
    assert live.generation == before
    assert live.problem.startswith("the index was built with the model 'other-model' (other002)")
    assert capsys.readouterr().err.startswith(f"qa: still answering from {before}: the index was built with")
    assert live.reload() is False  # the broken index is not retried on every question
    update_index(settings, fake)  # fixed: rebuilt with the right model
    assert live.reload() is True and live.problem is None


def test_live_searcher_answers_from_one_generation_while_they_change(settings: Settings) -> None:
    """Questions asked from four threads while generations are swapped: every answer is
    verbatim text of the store it came from, and none fails."""
    fake = FakeEmbedder()
    live = LiveSearcher(settings, fake)
    stop = threading.Event()
    failures: list[BaseException] = []
    answered = [0]

    def asker() -> None:
        while not stop.is_set():
            try:
                searcher = live.current()
                result = searcher.ask("harbour bridge repairs", 3)
                answer = result.answer
                assert answer.text == searcher.store.articles[answer.article_id].text[answer.start : answer.end]
                answered[0] += 1
            except BaseException as error:  # noqa: BLE001 - any failure fails the test
                failures.append(error)

    threads = [threading.Thread(target=asker) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for n in range(6):
            (settings.corpus[0] / "harbour.txt").write_text(ARTICLES["harbour.txt"] + f" Update {n}.", encoding="utf-8")
            update_index(settings, fake)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert failures == [] and answered[0] > 0
    assert live.current().store.articles["harbour.txt"].text.endswith(" Update 5.")


def test_an_upload_while_another_writer_holds_the_index_says_to_wait(settings: Settings, tmp_path: Path) -> None:
    """The chat's upload during a `qa index`: the file is saved into the corpus, the re-index is
    refused with the writer lock's message (the page shows it), and the index is untouched."""
    from qa.errors import IndexLockedError
    from qa.web.service import ChatService

    service = ChatService(settings, FakeEmbedder())
    upload = tmp_path / "ferry.txt"
    upload.write_text(EXTRA, encoding="utf-8")
    generation = read_manifest(settings.index_dir).generation
    with write_lock(settings.index_dir):  # as a running `qa index` would hold it
        with pytest.raises(IndexLockedError) as info:
            service.add([("ferry.txt", upload)])
    assert str(info.value).startswith(f"{settings.index_dir} is being written by process {os.getpid()} (since ")
    assert str(info.value).endswith("wait for it to finish and try again")
    assert (settings.corpus[0] / "ferry.txt").read_text(encoding="utf-8") == EXTRA
    assert read_manifest(settings.index_dir).generation == generation
    assert service.add([("ferry.txt", upload)]).report.diff.added == ["ferry.txt"]  # lock free: indexed
