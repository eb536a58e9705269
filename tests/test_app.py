"""The web chat, started for real (`python app.py`) over a temporary copy of the corpus and
index, and driven through its API and in headless Chromium.

One server serves the whole module; the tests run in file order and build on each other where
that saves a page visit (an article uploaded in one is deleted in a later one). Screenshots land
in test-artifacts/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest
from conftest import ROOT, SEEDS, free_port, running_app

CHIEF = "Who is the chief of staff of the Iranian armed forces?"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
    "--disable-background-networking", "--disable-component-update",
]
WAIT_MS = 120_000
# An article the seeds do not hold, and one whose text is markup that must never run.
LIGHTHOUSE = (
    "Zephyr Point lighthouse reopens\n\n"
    "The Zephyr Point lighthouse was designed by the engineer Ada Morrow in 1887. "
    "After a restoration that took three years, the lighthouse reopened to visitors on Saturday."
)
SCRIPT_PAYLOAD = "<script>alert(1)</script>"
IMG_PAYLOAD = "<img src=x onerror=alert(1)>"
PAYLOAD = (
    "Quillfeather payload test\n\n"
    f"The quillfeather bulletin printed {SCRIPT_PAYLOAD} in its headline. "
    f"The quillfeather editor also pasted {IMG_PAYLOAD} into the caption."
)
QUESTION_SET = [
    {"id": "q1", "question": CHIEF, "kind": "fact",
     "answers": [{"article": "000_ae1cc4aba988a14c.txt", "text": "Mohammad Baqeri"}]},
    {"id": "q2", "question": "Who designed the Zephyr Point lighthouse?", "kind": "fact",
     "answers": [{"article": "lighthouse.txt", "text": "Ada Morrow"}]},
]


@dataclass
class App:
    url: str
    corpus: Path
    requests: list[str] = field(default_factory=list)  # every URL any page of the module asked for


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, seed_index) -> Iterator[App]:
    """`python app.py CORPUS --index-dir DIR` over copies of seeds/ and of its index (the
    repository's seeds/ is never written); yields its URL and corpus folder."""
    base = tmp_path_factory.mktemp("app")
    corpus = shutil.copytree(SEEDS, base / "corpus")
    index_dir = shutil.copytree(seed_index.index_dir, base / "index")
    with running_app([str(corpus), "--index-dir", str(index_dir)], base / "app.log", free_port()) as url:
        yield App(url, corpus)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Chromium is missing: run `make test`, which installs it"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@contextmanager
def page_of(browser, app: App, width: int = 1280, height: int = 900) -> Iterator[tuple[object, list[str]]]:
    """A fresh page on the app that records its requests (into ``app``) and every dialog
    (alert, confirm, ...) that fires, which it dismisses."""
    page = browser.new_page(viewport={"width": width, "height": height})
    dialogs: list[str] = []
    page.on("request", lambda request: app.requests.append(request.url))
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(app.url, wait_until="load")
    page.get_by_placeholder("Ask a question about the articles").wait_for(timeout=WAIT_MS)
    try:
        yield page, dialogs
    finally:
        page.close()


def ask(page, question: str) -> object:
    """Ask in the chat and return the reply's locator once it is shown."""
    replies = page.locator("#qa-chat .qa-reply, #qa-chat .qa-empty")
    before = replies.count()
    box = page.get_by_placeholder("Ask a question about the articles")
    box.fill(question)
    box.press("Enter")
    page.wait_for_function(
        "n => document.querySelectorAll('#qa-chat .qa-reply, #qa-chat .qa-empty').length > n",
        arg=before, timeout=WAIT_MS,
    )
    return replies.nth(before)


def source_shows(page, chunk_id: str) -> None:
    page.wait_for_function(
        "id => (document.querySelector('#qa-source .qa-cite') || {}).textContent === id", arg=chunk_id, timeout=WAIT_MS
    )


@pytest.mark.slow  # starts the app
def test_api_ask_returns_the_cli_json(server: App, seed_index, embedder) -> None:
    from gradio_client import Client

    from qa.search.searcher import open_searcher

    result = Client(server.url, verbose=False).predict(CHIEF, [], api_name="/ask")
    # What `qa ask --json` prints for the same index (the server's is a copy of it), scores to
    # float noise: the model runs in two processes.
    expected = open_searcher(seed_index, embedder).ask(CHIEF, 5).to_dict()
    assert [p.pop("score") for p in result["passages"]] == pytest.approx([p.pop("score") for p in expected["passages"]])
    assert result == expected
    assert set(result) == {"question", "abstained", "answer", "passages", "notice", "reason", "unsure"}
    assert result["question"] == CHIEF and result["abstained"] is False
    assert "Mohammad Baqeri" in result["passages"][0]["text"]
    assert result["answer"]["chunk_id"] == result["passages"][0]["chunk_id"]
    assert set(result["passages"][0]) == {
        "rank", "chunk_id", "article_id", "title", "text", "start", "end", "found_by", "date", "source", "url",
    }  # and "score", compared above


@pytest.mark.slow  # starts the app
def test_api_ask_takes_the_history(server: App) -> None:
    from gradio_client import Client

    result = Client(server.url, verbose=False).predict(
        "Where will they be held?", ["What kind of exercises did Iran and Pakistan agree to hold?"], api_name="/ask"
    )
    assert "southern waters of Iran" in result["answer"]["text"]


@pytest.mark.browser
def test_chat_highlights_the_answer_cites_it_and_opens_the_source(server: App, browser) -> None:
    with page_of(browser, server) as (page, dialogs):
        reply = ask(page, CHIEF)
        mark = reply.locator("mark.qa-answer").first
        assert "Mohammad Baqeri" in mark.inner_text()
        main = reply.locator(".qa-passage")
        assert "000_ae1cc4aba988a14c.txt#" in main.inner_text()
        assert "found by" in main.inner_text()
        # The next passages are closed cards with rank, score and the retrievers that found them.
        cards = reply.locator("details.qa-card")
        assert cards.count() == 4  # k = 5 by default: the answer's passage and four more
        summary = cards.first.locator("summary").inner_text()
        assert "#2 · score" in summary and ("dense #" in summary or "BM25 #" in summary)
        assert not cards.first.locator(".qa-text").is_visible()
        # The source viewer opened the article at the answer, marked and scrolled into view.
        answer_chunk = main.locator(".qa-cite").inner_text().rsplit(" · ", 1)[-1]
        source_shows(page, answer_chunk)
        target = page.locator("#qa-source mark#qa-scroll-target")
        assert "Mohammad Baqeri" in target.inner_text()
        assert page.locator("#qa-source mark.qa-in-passage").count() >= 1
        page.screenshot(path=str(ARTIFACTS / "chat.png"))
        # A card's "Show in article" opens its passage there, scrolled into view.
        cards.nth(2).locator("summary").click()
        card_chunk = cards.nth(2).locator(".qa-cite").inner_text().rsplit(" · ", 1)[-1]
        cards.nth(2).locator("button.qa-open").click()
        source_shows(page, card_chunk)
        passage = page.locator("#qa-source mark#qa-scroll-target")
        page.wait_for_function(
            "() => { const r = document.getElementById('qa-scroll-target').getBoundingClientRect();"
            " return r.top >= 0 && r.top < window.innerHeight; }", timeout=WAIT_MS,
        )
        assert passage.get_attribute("class") == "qa-in-passage"
        page.screenshot(path=str(ARTIFACTS / "source.png"), full_page=True)
        # The settings panel: k and the retrieval mode are honoured.
        page.locator("#qa-settings").get_by_text("Settings").click()
        set_slider(page, "#qa-k", 2)
        page.locator("#qa-mode").get_by_label("bm25").check()
        reply = ask(page, "Where will the joint naval exercises be held?")
        assert reply.locator(".qa-passage, details.qa-card").count() == 2
        assert reply.locator("mark.qa-answer").count() == 1
        assert dialogs == []


def set_slider(page, selector: str, value: int) -> None:
    """Set a Gradio slider through both of its inputs until both show the value: a typed or
    dragged value is applied on the slider's own time, which made a single attempt flaky."""
    wanted = str(value)
    shown = f"() => [...document.querySelectorAll('{selector} input')].map(input => input.value)"
    for _ in range(20):
        page.locator(f"{selector} input[type=range]").fill(wanted)
        number = page.locator(f"{selector} input[type=number]")
        number.fill(wanted)
        number.press("Tab")
        page.wait_for_timeout(250)
        if set(page.evaluate(shown)) == {wanted}:
            return
    raise AssertionError(f"the slider {selector} shows {page.evaluate(shown)}, not {wanted}")


@pytest.mark.browser
def test_phone_width_layout(server: App, browser) -> None:
    with page_of(browser, server, width=390, height=844) as (page, dialogs):
        reply = ask(page, "How long did the visit to Pakistan last?")
        assert "four days" in reply.locator("mark.qa-answer").inner_text()
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the page is {overflow} px wider than a phone screen"
        page.screenshot(path=str(ARTIFACTS / "phone.png"), full_page=True)
        assert dialogs == []


@pytest.mark.browser
def test_follow_up_in_the_browser_uses_the_conversation(server: App, browser) -> None:
    with page_of(browser, server) as (page, _):
        ask(page, "What kind of exercises did Iran and Pakistan agree to hold?")
        reply = ask(page, "Where will they be held?")
        assert "southern waters of Iran" in reply.locator("mark.qa-answer").inner_text()
        page.screenshot(path=str(ARTIFACTS / "follow-up.png"), full_page=True)


@pytest.mark.browser
def test_unanswerable_question_shows_the_abstention(server: App, browser) -> None:
    if not (ROOT / "qa" / "search" / "abstain.json").is_file():
        pytest.skip("qa/search/abstain.json (the calibrated abstention model) has not landed, so qa never abstains;"
                    " the abstention reply is covered by tests/test_render.py")
    with page_of(browser, server) as (page, _):
        reply = ask(page, "How old is Mohammad Baqeri?")  # on topic, but the article never says
        assert "The corpus does not answer this." in reply.inner_text()
        # and why: the answer type, checked (tests/test_mentions.py has the words)
        assert "No sentence of the closest passages that reads as an answer gives an age." in reply.inner_text()
        assert reply.locator("mark.qa-answer").count() == 0
        assert reply.locator("details.qa-card").count() >= 1  # the closest passages
        page.screenshot(path=str(ARTIFACTS / "abstention.png"), full_page=True)


@pytest.mark.browser
def test_upload_articles_then_ask_about_them_with_payloads_shown_as_text(server: App, browser) -> None:
    files = {"lighthouse.txt": LIGHTHOUSE, "payload.md": PAYLOAD, "tool.exe": "MZ", ".hidden.txt": "secret"}
    with page_of(browser, server) as (page, dialogs):
        page.get_by_role("tab", name="Corpus").click()
        upload = page.locator("#qa-upload input[type=file]")
        upload.set_input_files(
            [{"name": name, "mimeType": "text/plain", "buffer": text.encode()} for name, text in files.items()]
        )
        page.locator('#qa-upload td.filename[aria-label=".hidden.txt"]').wait_for(timeout=WAIT_MS)
        page.get_by_role("button", name="Add and index").click()
        status = page.locator("#qa-corpus-status")
        status.get_by_text("Added").wait_for(timeout=WAIT_MS)
        text = status.inner_text()
        assert "lighthouse.txt" in text and "payload.md" in text
        assert "tool.exe: unsupported file type '.exe'" in text
        assert ".hidden.txt: hidden or empty file names are not accepted" in text
        assert sorted(p.name for p in server.corpus.iterdir()) == [
            ".NOTICE", "000_ae1cc4aba988a14c.txt", "lighthouse.txt", "payload.md",
        ]
        table = page.locator("#qa-articles")
        table.get_by_text("lighthouse.txt").first.wait_for(timeout=WAIT_MS)
        assert "Zephyr Point lighthouse reopens" in table.inner_text()
        page.screenshot(path=str(ARTIFACTS / "corpus.png"), full_page=True)

        page.get_by_role("tab", name="Chat").click()
        reply = ask(page, "Who designed the Zephyr Point lighthouse?")
        assert "Ada Morrow" in reply.locator("mark.qa-answer").inner_text()
        assert "lighthouse.txt#0" in reply.locator(".qa-passage").inner_text()

        page.get_by_role("button", name="New conversation").click()
        page.wait_for_function("() => !document.querySelector('#qa-chat .qa-reply')", timeout=WAIT_MS)
        reply = ask(page, "What did the quillfeather bulletin print in the headline?")
        assert SCRIPT_PAYLOAD in reply.inner_text() and IMG_PAYLOAD in reply.inner_text()
        source_shows(page, "payload.md#0")
        source = page.locator("#qa-source").inner_text()
        assert SCRIPT_PAYLOAD in source and IMG_PAYLOAD in source
        assert page.locator("img[src='x']").count() == 0
        assert page.locator("#qa-chat script, #qa-source script").count() == 0
        page.wait_for_timeout(500)  # an onerror handler would have fired by now
        page.screenshot(path=str(ARTIFACTS / "payload.png"), full_page=True)
        assert dialogs == []


@pytest.mark.browser
def test_evaluate_tab_scores_an_uploaded_question_set(server: App, browser, tmp_path: Path) -> None:
    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(json.dumps(q) + "\n" for q in QUESTION_SET), encoding="utf-8")
    with page_of(browser, server) as (page, _):
        page.get_by_role("tab", name="Evaluate").click()
        page.locator("#qa-eval-questions input[type=file]").set_input_files(str(questions))
        page.locator('#qa-eval-questions [aria-label="questions.jsonl"]').first.wait_for(timeout=WAIT_MS)
        page.get_by_role("button", name="Run evaluation").click()
        report = page.locator("#qa-eval-report")
        report.get_by_text("answer_accuracy").first.wait_for(timeout=WAIT_MS)
        text = report.inner_text()
        assert "hit@1" in text and "Failures, hybrid" in text
        assert page.locator("#qa-eval-plot img").count() == 1
        page.screenshot(path=str(ARTIFACTS / "evaluate.png"), full_page=True)


@pytest.mark.browser
def test_delete_an_article(server: App, browser) -> None:
    with page_of(browser, server) as (page, _):
        page.get_by_role("tab", name="Corpus").click()
        choice = page.locator("#qa-delete-choice input")
        choice.click()
        page.get_by_role("option", name="lighthouse.txt").click()
        page.get_by_role("button", name="Delete article").click()
        page.locator("#qa-corpus-status").get_by_text("Deleted lighthouse.txt").wait_for(timeout=WAIT_MS)
        assert not (server.corpus / "lighthouse.txt").exists()
        assert "lighthouse.txt" not in page.locator("#qa-articles").inner_text()
    from gradio_client import Client

    result = Client(server.url, verbose=False).predict("Who designed the Zephyr Point lighthouse?", [], api_name="/ask")
    assert all(passage["article_id"] != "lighthouse.txt" for passage in result["passages"])


@pytest.mark.browser  # checks what the pages above requested
def test_the_pages_made_no_request_beyond_the_machine(server: App) -> None:
    """Every request of every page above (scripts, styles, fonts, API calls) went to 127.0.0.1:
    no CDN, no analytics."""
    assert server.requests, "no page of this module was visited"
    hosts = {urlparse(u).hostname for u in server.requests if urlparse(u).scheme in ("http", "https", "ws", "wss")}
    assert hosts == {"127.0.0.1"}, f"the page reached beyond the machine: {sorted(hosts)}"


def test_serve_off_loopback_needs_a_password(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    run = subprocess.run(
        [sys.executable, "app.py", str(tmp_path), "--host", "0.0.0.0", "--index-dir", str(tmp_path / "index")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode != 0
    assert "refusing to serve on 0.0.0.0 without a password" in run.stderr
    assert "--auth USER:PASSWORD or --auth-file FILE" in run.stderr
    assert not (tmp_path / "index").exists()  # refused before any work
