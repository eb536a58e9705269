"""Issue 20's reproductions, each as a test that must now fail to get through: links out of the
corpus, other hosts and origins driving the chat, markup injected into the Evaluate report,
an upload taking over another file's article, things left behind, unlimited login guessing and
over-long names. The browser tests drive `python app.py` in headless Chromium."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from conftest import SEED_ARTICLE, SEEDS, FakeEmbedder, free_port, running_app

from qa.config import Settings
from qa.eval.questions import parse_question
from qa.indexing.indexer import update_index
from qa.indexing.stores import open_store
from qa.ingest.boundary import LINK_OUTSIDE, MAX_NAME_BYTES
from qa.ingest.corpus import read_corpus
from qa.text.question import MAX_QUESTION_CHARS
from qa.web import appcache, evalrun
from qa.web.hostguard import allowed_hosts, check_hosts, host_name
from qa.web.service import ChatService, save_uploads
from qa.web.throttle import MAX_LOCKOUT, Attempts

SECRET = "QA_SECRET_TOKEN=hunter2-quokka\n"
SEED_ID = SEED_ARTICLE.name
EVIL_LINK = '<a href="https://evil.example/login">please sign in again here</a>'


def fake_service(corpus: Path, index_dir: Path) -> ChatService:
    settings = Settings(index_dir=index_dir, corpus=(corpus,))
    update_index(settings, FakeEmbedder())
    return ChatService(settings, FakeEmbedder())


def upload(tmp_path: Path, name: str, text: str) -> tuple[str, Path]:
    path = tmp_path / "incoming" / f"{abs(hash(name))}"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return name, path


# -- 1. the corpus boundary ---------------------------------------------------------------------


def test_qa_index_refuses_a_link_out_of_the_corpus_by_name(tmp_path: Path, capsys) -> None:
    from qa.cli import main

    secret = tmp_path / "home" / ".env"
    secret.parent.mkdir()
    secret.write_text(SECRET)
    corpus = shutil.copytree(SEEDS, tmp_path / "corpus")
    (corpus / "x.txt").symlink_to(secret)
    index_dir = tmp_path / "index"
    status = main(["index", str(corpus), "--index-dir", str(index_dir)])
    out = capsys.readouterr()
    assert status == 3
    assert f"x.txt: {LINK_OUTSIDE}" in out.out + out.err
    store = open_store(index_dir)
    assert sorted(store.articles.ids) == [SEED_ID]
    assert all("hunter2" not in store.articles[article_id].text for article_id in store.articles.ids)


def test_a_link_inside_the_corpus_is_read_once(corpus_dir: Path) -> None:
    (corpus_dir / "z.txt").write_text("Zebra news\n\nThe zebra crossing was repainted.\n")
    (corpus_dir / "a-link.txt").symlink_to(corpus_dir / "z.txt")
    (corpus_dir / "sub").mkdir()
    (corpus_dir / "sub" / "again.txt").symlink_to("../z.txt")
    corpus = read_corpus([corpus_dir])
    assert [article.id for article in corpus.articles] == ["z.txt"]  # the plain file keeps its name
    assert [(r.path, r.reason) for r in corpus.rejected] == [
        ("a-link.txt", "a link to 'z.txt', which is read once, as 'z.txt'"),
        ("sub/again.txt", "a link to 'z.txt', which is read once, as 'z.txt'"),
    ]


def test_the_chat_upload_reports_a_planted_link_and_can_delete_it(tmp_path: Path, corpus_dir: Path) -> None:
    secret = tmp_path / "id_rsa"
    secret.write_text(SECRET)
    (corpus_dir / "harbour.txt").write_text("Harbour news\n\nThe harbour of Tern Bay was dredged in May.\n")
    service = fake_service(corpus_dir, tmp_path / "index")
    (corpus_dir / "key.txt").symlink_to(secret)  # unpacked from someone's tarball meanwhile
    update = service.add([upload(tmp_path, "orchard.md", "# Orchard\n\nApricots flowered early.\n")])
    assert [(r.path, r.reason) for r in update.report.rejected] == [("key.txt", LINK_OUTSIDE)]
    assert "key.txt" not in service.searcher.store.articles
    assert service.not_indexed() == [["key.txt", LINK_OUTSIDE]]
    service.delete_file("key.txt")
    assert (
        not (corpus_dir / "key.txt").is_symlink() and secret.read_text() == SECRET
    )  # the link, not its target
    assert service.not_indexed() == []
    with pytest.raises(Exception, match="not a corpus file left out of the index"):
        service.delete_file("harbour.txt")  # an indexed file goes through "Delete article"


# -- 4. an upload never takes another file's article --------------------------------------------


def test_an_upload_cannot_take_over_an_indexed_article(tmp_path: Path) -> None:
    corpus = shutil.copytree(SEEDS, tmp_path / "corpus")
    service = fake_service(corpus, tmp_path / "index")
    forged = json.dumps({"id": SEED_ID, "title": "Forged", "text": "FORGED text served under the real id."})
    update = service.add([upload(tmp_path, "0.jsonl", forged + "\n")])
    assert [(r.path, r.reason) for r in update.report.rejected] == [
        (
            "0.jsonl:1",
            f"article id {SEED_ID!r} belongs to {SEED_ID}, which is in the index: not replaced"
            " (give this article another id)",
        )
    ]
    article = service.searcher.store.articles[SEED_ID]
    assert (
        article.text == SEED_ARTICLE.read_text(encoding="utf-8").replace("\r\n", "\n")
        and "FORGED" not in article.text
    )
    assert update.removed == ["0.jsonl"] and not (corpus / "0.jsonl").exists()  # it gave nothing: not kept


def test_a_new_index_keeps_the_first_in_path_order_and_reports_the_other(corpus_dir: Path) -> None:
    (corpus_dir / "b.txt").write_text("Bee news\n\nBees.\n")
    (corpus_dir / "a.jsonl").write_text(json.dumps({"id": "b.txt", "text": "Claimed."}) + "\n")
    corpus = read_corpus([corpus_dir])
    assert [(a.id, a.path) for a in corpus.articles] == [("b.txt", "a.jsonl:1")]
    assert [(r.path, r.reason) for r in corpus.rejected] == [
        ("b.txt", "duplicate article id 'b.txt' (first in a.jsonl:1)")
    ]
    indexed = read_corpus([corpus_dir], owners={"b.txt": "b.txt"})  # once b.txt owns it, it keeps it
    assert [(a.id, a.path) for a in indexed.articles] == [("b.txt", "b.txt")]
    assert indexed.rejected[0].path == "a.jsonl:1" and "belongs to b.txt" in indexed.rejected[0].reason


# -- 5. nothing left behind, nothing unbounded ----------------------------------------------------


def test_a_failed_evaluation_leaves_no_folder(tmp_path: Path, corpus_dir: Path, monkeypatch) -> None:
    (corpus_dir / "harbour.txt").write_text("Harbour news\n\nThe harbour of Tern Bay was dredged in May.\n")
    service = fake_service(corpus_dir, tmp_path / "index")
    cache = tmp_path / f"{appcache.PREFIX}{os.getpid()}-test"
    cache.mkdir()
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(cache))
    broken = tmp_path / "broken.jsonl"
    broken.write_text(
        '{"id": "q1", "question": "Where?", "answers": [{"article": "nope.txt", "text": "x"}]}\n'
    )
    html, plot, files = evalrun.run(service, broken, ["hybrid"], "broken.jsonl", isolate=False)
    assert "could not run" in html and "nope.txt" in html and plot is None and files is None
    assert list(cache.iterdir()) == []
    good = tmp_path / "good.jsonl"
    good.write_text(
        '{"id": "q1", "question": "Where was the harbour dredged?", '
        '"answers": [{"article": "harbour.txt", "text": "Tern Bay"}]}\n'
    )
    html, plot, files = evalrun.run(service, good, ["hybrid"], "good.jsonl", isolate=False)
    assert plot is not None and all(
        Path(name).parent.parent == cache for name in files
    )  # swept with the cache


@pytest.mark.slow  # scores in a child process
def test_an_evaluation_runs_in_a_child_process_and_reports_its_errors(
    seed_index: Settings, embedder, tmp_path: Path, monkeypatch
) -> None:
    cache = tmp_path / f"{appcache.PREFIX}{os.getpid()}-child"
    cache.mkdir()
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(cache))
    service = ChatService(seed_index, embedder)
    good = tmp_path / "chief.jsonl"
    good.write_text(json.dumps({
        "id": "chief", "question": f"Who is the chief of staff of the Iranian armed forces? {EVIL_LINK}",
        "answers": [{"article": SEED_ID, "text": "Mohammad Baqeri"}],
    }) + "\n")
    ranx_before = "ranx" in sys.modules  # other tests of this process may have loaded it
    html, plot, files = evalrun.run(service, good, ["hybrid"], "chief.jsonl")
    assert "hit@1" in html and "Failures, hybrid (0 of 1)" in html and EVIL_LINK not in html
    assert plot is not None and files and all(Path(name).parent.parent == cache for name in files)
    assert ("ranx" in sys.modules) == ranx_before  # scored in the child: ranx and numba stay out of here
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "q", "question": "Who?", "answers": [{"article": "gone.txt", "text": "x"}]}\n')
    html, plot, files = evalrun.run(service, bad, ["hybrid"], "bad.jsonl")
    assert "could not run" in html and "gone.txt" in html and plot is None
    assert len(list(cache.iterdir())) == 1  # the failed run's folder is gone


def test_question_sets_are_bounded_and_their_questions_cut_as_ask_cuts_them(tmp_path: Path) -> None:
    line = json.dumps({"id": "big", "question": "why " * 2_500_000, "answers": []})
    assert len(parse_question(line, "set.jsonl:1").question) <= MAX_QUESTION_CHARS
    huge = tmp_path / "huge.jsonl"
    huge.write_text(line + "\n")
    assert "over the 5 MB limit for a question set" in evalrun.set_problem(huge)


def test_the_cache_is_swept_by_age_and_size_and_stale_folders_removed(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    folder.mkdir()
    now = time.time()
    for name, age, size in [("old", 4000, 10), ("big-old", 100, 900), ("new", 10, 200)]:
        (folder / name).mkdir()
        (folder / name / "f").write_bytes(b"x" * size)
        os.utime(folder / name, (now - age, now - age))
    assert appcache.sweep(folder, max_age=3600, max_bytes=500, now=now) == 2
    assert [path.name for path in folder.iterdir()] == ["new"]
    dead = tmp_path / f"{appcache.PREFIX}999999999-abc"
    mine = tmp_path / f"{appcache.PREFIX}{os.getpid()}-abc"
    dead.mkdir(), mine.mkdir()
    assert appcache.remove_stale(tmp_path) == [dead] and mine.exists()


def test_the_cache_folder_goes_with_the_chat_on_sigterm(tmp_path: Path) -> None:
    import signal
    import subprocess

    code = ("import sys, time; from qa.web import appcache;"
            " print(appcache.prepare(sys.argv[1]), flush=True); time.sleep(60)")
    process = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    folder = Path(process.stdout.readline().strip())
    assert folder.is_dir() and folder.parent == tmp_path
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 128 + signal.SIGTERM
    assert not folder.exists()


def test_forget_deletes_only_inside_the_apps_cache(tmp_path: Path, monkeypatch) -> None:
    cache = tmp_path / f"{appcache.PREFIX}{os.getpid()}-t"
    (cache / "h1").mkdir(parents=True)
    inside, outside = cache / "h1" / "up.txt", tmp_path / "keep.txt"
    inside.write_text("x"), outside.write_text("y")
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(cache))
    appcache.forget([inside, outside])
    assert not inside.exists() and not (cache / "h1").exists() and outside.exists()


# -- 6. login throttling --------------------------------------------------------------------------


def test_lockouts_double_up_to_an_hour() -> None:
    now = [0.0]
    attempts = Attempts(3, 60, clock=lambda: now[0])
    assert [attempts.failed("10.0.0.9") for _ in range(3)] == [0, 0, 60]
    assert attempts.wait("10.0.0.9") == 60 and attempts.wait("10.0.0.8") == 0
    now[0] = 61
    assert [attempts.failed("10.0.0.9") for _ in range(3)][-1] == 120
    for _ in range(10):
        now[0] += MAX_LOCKOUT + 1
        seconds = [attempts.failed("10.0.0.9") for _ in range(3)][-1]
    assert seconds == MAX_LOCKOUT
    attempts.succeeded("10.0.0.9")
    assert attempts.wait("10.0.0.9") == 0


@pytest.fixture
def guarded_app(tmp_path: Path, corpus_dir: Path) -> Iterator[str]:
    """The real Gradio app of the chat (fake embedder) with a login and the chat's middleware."""
    from qa.web.app import build_app, launch_options
    from qa.web.hostguard import server_middleware

    (corpus_dir / "harbour.txt").write_text("Harbour news\n\nThe harbour of Tern Bay was dredged in May.\n")
    app = build_app(fake_service(corpus_dir, tmp_path / "index"))
    port = free_port()
    middleware = server_middleware("127.0.0.1", login_attempts=3, login_lockout=30)
    app.launch(
        server_name="127.0.0.1",
        server_port=port,
        auth=[("ann", "right-horse")],
        prevent_thread_lock=True,
        app_kwargs={"middleware": middleware},
        quiet=True,
        **launch_options(),
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        app.close()


def post(url: str, data: bytes, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, data=data, headers=headers or {}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.slow  # starts the app
def test_login_guessing_is_locked_out_and_logged_without_the_password(guarded_app: str, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="qa.throttle")
    form = "application/x-www-form-urlencoded"

    def login(password: str) -> int:
        return post(
            f"{guarded_app}/login", f"username=ann&password={password}".encode(), {"Content-Type": form}
        )

    assert login("right-horse") == 200
    assert [login(f"guess-{n}") for n in range(3)] == [400, 400, 400]
    assert login("right-horse") == 429  # locked out: even the right password waits
    assert [login(f"guess-{n}") for n in range(97)].count(429) == 97
    logged = caplog.text
    assert "failed login from 127.0.0.1" in logged and "locked out for 30 s" in logged
    assert "guess-" not in logged and "right-horse" not in logged and "ann" not in logged


# -- 7. over-long names ---------------------------------------------------------------------------


def test_an_over_long_name_is_refused_with_a_reason_not_an_oserror(tmp_path: Path, corpus_dir: Path) -> None:
    name = "é" * 200 + ".txt"  # 404 bytes in UTF-8
    saved, rejected = save_uploads([upload(tmp_path, name, "Text.\n")], corpus_dir)
    assert saved == []
    assert (
        rejected[0].reason
        == f"the file name is 404 bytes long, over the limit of {MAX_NAME_BYTES}: rename the file"
    )


# -- 2. only the expected host --------------------------------------------------------------------


def test_allowed_hosts() -> None:
    assert allowed_hosts("127.0.0.1") == {"localhost", "127.0.0.1", "::1"}
    loopback = {"localhost", "127.0.0.1", "::1"}
    assert allowed_hosts("10.1.2.3", ["qa.internal:7860"]) == {"10.1.2.3", "qa.internal", *loopback}
    assert allowed_hosts("0.0.0.0", ["qa.internal"]) == {"qa.internal", *loopback}
    assert host_name("[::1]:7860") == "::1" and host_name("Evil.Example:7870") == "evil.example"
    with pytest.raises(Exception, match="--allowed-host"):
        check_hosts("0.0.0.0", [], 5, 60)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, seed_index) -> Iterator[tuple[str, Path]]:
    base = tmp_path_factory.mktemp("secure-app")
    corpus = shutil.copytree(SEEDS, base / "corpus")
    index_dir = shutil.copytree(seed_index.index_dir, base / "index")
    with running_app([str(corpus), "--index-dir", str(index_dir)], base / "app.log", free_port()) as url:
        yield url, corpus


def request_status(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def multipart(name: str, text: str) -> tuple[bytes, str]:
    boundary = "qa-boundary-7f3a"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
        f"Content-Type: text/plain\r\n\r\n{text}\r\n--{boundary}--\r\n"
    ).encode()
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.slow  # starts the app
def test_another_host_cannot_drive_the_chat(server) -> None:
    url, corpus = server
    port = urlparse(url).port
    evil = {
        "Host": f"evil.example:{port}",
        "Origin": f"http://evil.example:{port}",
        "Content-Type": "application/json",
    }
    join = json.dumps({"data": [], "fn_index": 0, "session_hash": "rebinding", "event_data": None}).encode()
    for fn_index in range(12):  # every event, the delete among them
        body = json.dumps({"data": [SEED_ID], "fn_index": fn_index, "session_hash": "rebinding"}).encode()
        assert request_status(url + "gradio_api/queue/join", body, evil) == 403
    assert request_status(url + "gradio_api/queue/join", join, {**evil, "Origin": url.rstrip("/")}) == 403
    assert request_status(url, headers={"Host": f"evil.example:{port}"}) == 403
    assert (corpus / SEED_ID).exists()
    assert request_status(url, headers={"Host": f"localhost:{port}"}) == 200


@pytest.mark.slow  # starts the app
def test_another_site_cannot_upload(server) -> None:
    url, _ = server
    body, kind = multipart("x.txt", "posted by another site")
    assert (
        request_status(
            url + "gradio_api/upload", body, {"Content-Type": kind, "Origin": "https://evil.example"}
        )
        == 403
    )
    assert request_status(url + "gradio_api/upload", body, {"Content-Type": kind, "Origin": "null"}) == 403
    assert (
        request_status(url + "gradio_api/upload", body, {"Content-Type": kind, "Origin": url.rstrip("/")})
        == 200
    )
    assert request_status(url + "gradio_api/upload", body, {"Content-Type": kind}) == 200  # curl, no Origin


# -- 3. every report escapes everything (browser) --------------------------------------------------


@pytest.mark.browser
def test_evaluate_report_shows_planted_markup_as_text_and_loads_nothing(server, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    url, corpus = server
    tracker = f'<img src="{url}tracker.png">'
    article = (
        "Kestrel ferry notice\n\n"
        f"The kestrel ferry operator wrote {EVIL_LINK} in its notice. "
        f"The kestrel ferry notice also carried {tracker} at the bottom. "
        "The kestrel ferry sails from Port Arven every morning at seven."
    )
    questions = tmp_path / "hostile.jsonl"
    questions.write_text(
        json.dumps(
            {
                "id": f"kestrel {tracker}",
                "kind": f"hostile {EVIL_LINK}",
                "question": f"What did the kestrel ferry operator write in its notice? {EVIL_LINK} {tracker}",
                "answers": [{"article": "kestrel.txt", "text": "Port Arven"}],
            }
        )
        + "\n",
        encoding="utf-8",
    )
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on("request", lambda request: requests.append(request.url))
            page.goto(url, wait_until="load")
            page.get_by_role("tab", name="Corpus").click()
            page.locator("#qa-upload input[type=file]").set_input_files(
                [
                    {"name": "kestrel.txt", "mimeType": "text/plain", "buffer": article.encode()},
                    {"name": "empty.txt", "mimeType": "text/plain", "buffer": b"   \n"},
                ]
            )
            page.locator('#qa-upload td.filename[aria-label="empty.txt"]').wait_for(timeout=120_000)
            page.get_by_role("button", name="Add and index").click()
            status = page.locator("#qa-corpus-status")
            status.get_by_text("removed again from the corpus folder").wait_for(timeout=120_000)
            assert "empty.txt" in status.inner_text() and not (corpus / "empty.txt").exists()

            page.get_by_role("tab", name="Evaluate").click()
            page.locator("#qa-eval-questions input[type=file]").set_input_files(str(questions))
            page.locator('#qa-eval-questions [aria-label="hostile.jsonl"]').first.wait_for(timeout=120_000)
            page.get_by_role("button", name="Run evaluation").click()
            report = page.locator("#qa-eval-report")
            report.get_by_text("Failures, hybrid").wait_for(timeout=120_000)
            page.wait_for_timeout(1000)  # an image would have been requested by now
            text = report.inner_text()
            assert EVIL_LINK in text and tracker in text  # shown as text
            assert report.locator("a").count() == 0 and report.locator("img").count() == 0
            assert page.locator('a[href*="evil.example"], img[src*="tracker"]').count() == 0
        finally:
            browser.close()
    hosts = {urlparse(u).hostname for u in requests if urlparse(u).scheme in ("http", "https", "ws", "wss")}
    assert hosts == {"127.0.0.1"}, f"the page reached beyond the machine: {sorted(hosts)}"
    assert not [u for u in requests if "tracker.png" in u]


@pytest.mark.browser
def test_not_indexed_files_are_listed_and_deleted_from_the_page(server, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    url, corpus = server
    secret = tmp_path / "id_rsa"
    secret.write_text(SECRET)
    (corpus / "key.txt").symlink_to(secret)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(url, wait_until="load")
            page.get_by_role("tab", name="Corpus").click()
            table = page.locator("#qa-not-indexed")
            page.wait_for_function(
                "() => (document.querySelector('#qa-not-indexed') || {}).innerText?.includes('key.txt')",
                timeout=120_000,
            )
            assert "a link to a file outside the corpus folders" in table.inner_text()
            page.locator("#qa-delete-file-choice input").click()
            page.get_by_role("option", name="key.txt").click()
            page.get_by_role("button", name="Delete file").click()
            page.locator("#qa-corpus-status").get_by_text("Deleted key.txt").wait_for(timeout=120_000)
        finally:
            browser.close()
    assert not (corpus / "key.txt").is_symlink() and secret.read_text() == SECRET
