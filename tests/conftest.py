"""Shared fixtures: the real model (loaded once, on the default onnx-int8 backend, and on torch for
the tests about torch), a seeds index built once, a fake embedder. Shared corpora: corpora.py."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from qa.config import DEFAULT_BACKEND, Settings, packaged_model_dir, settings_from_env  # noqa: E402
from qa.embed.protocol import l2_normalize  # noqa: E402
from qa.ingest.chunk import TokenCounter  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
SEED_ARTICLE = SEEDS / "000_ae1cc4aba988a14c.txt"
SHARED = ROOT.parent / "shared"
DATASETS = SHARED / "datasets"


class FakeEmbedder:
    """A tiny deterministic embedder for unit tests: hashed bag of lower-cased words,
    L2-normalised. Texts that share words score higher, so rankings are knowable."""

    name = "fake-bag-of-words"
    fingerprint = "fake0001"
    base_fingerprint = "fake0001"
    backend = ""  # none of qa's: the manifest records it as such

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim
        self.calls: list[int] = []  # how many texts each encode() call got

    def encode(self, texts, *, progress: bool = False) -> np.ndarray:
        self.calls.append(len(texts))
        return self.vectors(texts)

    def encode_spans(self, texts, spans, *, progress: bool = False):
        """Each text's vector, and each span's vector as if the span were a text of its own."""
        self.calls.append(len(texts))
        pooled = [
            self.vectors([text[start:end] for start, end in text_spans]) for text, text_spans in zip(texts, spans)
        ]
        return self.vectors(texts), pooled

    def vectors(self, texts) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                bucket = int(hashlib.sha256(word.encode()).hexdigest(), 16) % self.dim
                vectors[row, bucket] += 1.0
        return l2_normalize(vectors)


@pytest.fixture(scope="session")
def model_dir() -> Path:
    return packaged_model_dir()


@pytest.fixture(scope="session")
def counter(model_dir: Path) -> TokenCounter:
    return TokenCounter(model_dir)


@pytest.fixture(scope="session")
def embedder(model_dir: Path):
    """The real all-MiniLM-L6-v2 on the backend users get (onnx-int8), loaded once for the run.
    Its ONNX export is made once into the usual cache (QA_CACHE_DIR, else ~/.cache/qa)."""
    from qa.embed.backends import make_embedder

    return make_embedder(settings_from_env().with_(model_dir=model_dir), DEFAULT_BACKEND)


@pytest.fixture(scope="session")
def torch_embedder(model_dir: Path):
    """The real all-MiniLM-L6-v2 on sentence-transformers (torch), for the tests about torch."""
    from qa.embed.torch_backend import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(model_dir)


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory: pytest.TempPathFactory, embedder) -> Settings:
    """Settings of an index of seeds/ built once with the real model (treat as read-only)."""
    from qa.indexing.indexer import update_index

    index_dir = tmp_path_factory.mktemp("seed-index")
    settings = Settings(index_dir=index_dir, corpus=(SEEDS,))
    update_index(settings, embedder)
    return settings


@pytest.fixture(scope="session")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic news archive (tests/corpora.py: three outlets, every format); read only."""
    from corpora import write_news_archive

    return write_news_archive(tmp_path_factory.mktemp("news"))


@pytest.fixture(scope="session")
def archive_index(archive: Path, tmp_path_factory: pytest.TempPathFactory, embedder) -> Settings:
    """The archive indexed with the real model (one build for every module that asks it)."""
    from qa.indexing.indexer import update_index

    settings = Settings(index_dir=tmp_path_factory.mktemp("news-index"), corpus=(archive,))
    update_index(settings, embedder)
    return settings


@pytest.fixture
def chromium() -> Iterator[object]:
    """Debian's Chromium driven by Playwright (never `playwright install`)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    """An empty corpus folder to fill."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    return folder


def copy_seeds(target: Path) -> Path:
    shutil.copytree(SEEDS, target, dirs_exist_ok=True)
    return target


def stop(process: subprocess.Popen, timeout: float = 20) -> None:
    """End a server a test started: terminate, then kill if it does not exit in time."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_app(args: Sequence[str], log_path: Path, port: int, env: dict[str, str] | None = None) -> Iterator[str]:
    """`python app.py ARGS --port PORT`, waited for until its page answers; yields its URL and
    stops it (terminate, then kill) afterwards. Fails the test with the log if it cannot start."""
    log = log_path.open("w+")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "TQDM_DISABLE": "1",
           **(env or {})}
    process = subprocess.Popen(
        [sys.executable, "app.py", *args, "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 300
    try:
        while True:
            if process.poll() is not None:
                log.seek(0)
                pytest.fail(f"app.py exited with {process.returncode}:\n{log.read()}")
            try:
                urllib.request.urlopen(url, timeout=5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"app.py did not answer on {url}:\n{log.read()}")
                time.sleep(1)
        yield url
    finally:
        stop(process)
        log.close()
