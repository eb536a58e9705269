"""The web chat, started for real (`python app.py`) and driven through its API and in Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

from conftest import ROOT

CHIEF = "Who is the chief of staff of the Iranian armed forces?"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
    "--disable-background-networking", "--disable-component-update",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, seed_index) -> str:
    """`python app.py` over a copy of the seeds index; yields its URL."""
    index_dir = shutil.copytree(seed_index.index_dir, tmp_path_factory.mktemp("app") / "index")
    port = free_port()
    log = (tmp_path_factory.getbasetemp() / "app.log").open("w+")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "TQDM_DISABLE": "1"}
    process = subprocess.Popen(
        [sys.executable, "app.py", "--index-dir", str(index_dir), "--port", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
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
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_api_ask_returns_the_cli_json(server: str) -> None:
    from gradio_client import Client

    result = Client(server, verbose=False).predict(CHIEF, [], api_name="/ask")
    assert set(result) == {"question", "abstained", "answer", "passages"}
    assert result["question"] == CHIEF and result["abstained"] is False
    assert "Mohammad Baqeri" in result["passages"][0]["text"]
    assert result["answer"]["chunk_id"] == result["passages"][0]["chunk_id"]


def test_chat_in_browser_highlights_the_answer_and_stays_local(server: str) -> None:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Chromium is missing: run `make test`, which installs it"
    ARTIFACTS.mkdir(exist_ok=True)
    requests: list[str] = []
    dialogs: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda request: requests.append(request.url))
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.goto(server, wait_until="networkidle")
            box = page.get_by_placeholder("Ask a question about the articles")
            box.fill(CHIEF)
            box.press("Enter")
            mark = page.locator("mark.qa-answer").first
            mark.wait_for(timeout=120_000)
            assert "Mohammad Baqeri" in mark.inner_text()
            reply = page.locator(".qa-passage").first.inner_text()
            assert "000_ae1cc4aba988a14c.txt#" in reply
            page.screenshot(path=str(ARTIFACTS / "chat.png"), full_page=True)
        finally:
            browser.close()
    hosts = {urlparse(url).hostname for url in requests if urlparse(url).scheme in ("http", "https", "ws", "wss")}
    assert hosts == {"127.0.0.1"}, f"the page reached beyond the machine: {sorted(hosts)}"
    assert dialogs == []


def test_follow_up_in_the_browser_uses_the_conversation(server: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(server, wait_until="networkidle")
            box = page.get_by_placeholder("Ask a question about the articles")
            for question in ("What kind of exercises did Iran and Pakistan agree to hold?", "Where will they be held?"):
                box.fill(question)
                box.press("Enter")
                page.wait_for_function(
                    "n => document.querySelectorAll('mark.qa-answer').length >= n",
                    arg=2 if question.startswith("Where") else 1, timeout=120_000,
                )
            marks = page.locator("mark.qa-answer")
            assert "southern waters of Iran" in marks.nth(1).inner_text()
            page.screenshot(path=str(ARTIFACTS / "follow-up.png"), full_page=True)
        finally:
            browser.close()


def test_api_ask_takes_the_history(server: str) -> None:
    from gradio_client import Client

    result = Client(server, verbose=False).predict(
        "Where will they be held?", ["What kind of exercises did Iran and Pakistan agree to hold?"], api_name="/ask"
    )
    assert "southern waters of Iran" in result["answer"]["text"]
