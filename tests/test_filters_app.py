"""Filters with the real model (issue 19): `qa ask` and `qa eval` with --since/--until/--source,
the Python API's since/until/source, and the chat's Settings (date range and source picker) in
Chromium. One dated archive of three outlets telling one story with different figures
(tests/corpora.py), so the filter decides which article answers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import free_port, running_app
from corpora import write_dated_corpus

import qa
from qa import cli
from qa.config import Settings

QUESTION = "How much did the Portmere harbour bridge repairs cost?"
CHROMIUM = "/usr/bin/chromium"  # as tests/test_app.py starts it
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]


@pytest.fixture(scope="module")
def dated_index(tmp_path_factory: pytest.TempPathFactory, embedder) -> Settings:
    from qa.indexing.indexer import update_index

    base = tmp_path_factory.mktemp("dated")
    settings = Settings(index_dir=base / "index", corpus=(write_dated_corpus(base / "corpus"),))
    update_index(settings, embedder)
    return settings


def answered_from(result: dict) -> str:
    """The article of the first passage, which the answer (when there is one) comes from too."""
    first = result["passages"][0]["article_id"]
    assert result["answer"] is None or result["answer"]["article_id"] == first
    return first


def ask_json(capsys: pytest.CaptureFixture[str], index: Settings, *options: str) -> dict:
    assert cli.main(["ask", QUESTION, "--index-dir", str(index.index_dir), "--json", *options]) == cli.EXIT_OK
    return json.loads(capsys.readouterr().out)


def test_cli_filters_decide_which_article_answers(dated_index: Settings, capsys) -> None:
    clare = ask_json(capsys, dated_index, "--source", "clare HERALD")
    assert {p["source"].casefold() for p in clare["passages"]} == {"clare herald"}
    assert answered_from(clare) == "clare-bridge" and "14 million" in clare["passages"][0]["text"]
    assert clare["notice"] is None
    late = ask_json(capsys, dated_index, "--since", "2024-06-01", "--until", "2024-12-31")
    assert answered_from(late) == "mayo-bridge" and "16 million" in late["passages"][0]["text"]
    assert all("2024-06-01" <= p["date"] <= "2024-12-31" for p in late["passages"])
    both = ask_json(capsys, dated_index, "--source", "Galway Daily", "--source", "Kerry Post")
    assert answered_from(both) == "galway-bridge"
    assert both["notice"].startswith("No article from Kerry Post in the corpus")


def test_cli_shows_date_and_source_and_says_when_nothing_matches(dated_index: Settings, capsys) -> None:
    index = ["--index-dir", str(dated_index.index_dir)]
    assert cli.main(["ask", QUESTION, *index, "--until", "2023-12-31", "-k", "2"]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "Portmere bridge repairs begin — Galway Daily, 2023-05-02" in out and "Mayo" not in out
    assert cli.main(["ask", QUESTION, *index, "--source", "Kerry Post"]) == cli.EXIT_OK
    assert capsys.readouterr().out.strip() == (
        "No article from Kerry Post in the corpus (its sources: Clare Herald, Galway Daily, Mayo News)."
    )
    empty = ask_json(capsys, dated_index, "--since", "2030-01-01")
    assert empty["abstained"] and empty["passages"] == [] and empty["answer"] is None
    assert empty["notice"] == (
        "No article matches the filter (dated 2030-01-01 or later): widen the dates or pick other sources."
    )
    for options, says in (
        (["--since", "7 March 2024"], "since date '7 March 2024' is not a date written YYYY-MM-DD"),
        (["--until", "2024-02-30"], "until date '2024-02-30' is not a date written YYYY-MM-DD"),
        (["--since", "2024-05-01", "--until", "2024-01-01"], "since 2024-05-01 is after until 2024-01-01"),
    ):
        assert cli.main(["ask", QUESTION, *index, *options]) == cli.EXIT_USAGE
        assert f"qa ask: {says}" in capsys.readouterr().err


def test_api_takes_since_until_and_source(dated_index: Settings) -> None:
    searcher = qa.open(dated_index.index_dir)
    early = searcher.ask(QUESTION, since="2023-01-01", until="2023-12-31")
    assert answered_from(early.to_dict()) == "galway-bridge"
    assert {hit.chunk.article_id for hit in early.hits} <= {"galway-bridge", "galway-harvest"}
    mayo = searcher.ask(QUESTION, source=["mayo news"], since="2024-01-01")  # the ferry story has no date
    assert answered_from(mayo.to_dict()) == "mayo-bridge"
    assert {hit.source for hit in searcher.search(QUESTION, 5, source="Mayo News")} == {"Mayo News"}
    with pytest.raises(qa.QAError, match="since date '2023' is not a date"):
        searcher.ask(QUESTION, since="2023")


def test_eval_takes_the_filter(dated_index: Settings, tmp_path: Path, capsys) -> None:
    questions = tmp_path / "questions.jsonl"
    questions.write_text(json.dumps({"id": "q1", "question": QUESTION, "kind": "how much",
                                     "answers": [{"article": "clare-bridge", "text": "14 million euros"}]}) + "\n")
    index = ["--index-dir", str(dated_index.index_dir), "--json", "--quiet", "--mode", "bm25"]
    assert cli.main(["eval", str(questions), *index, "--source", "Clare Herald"]) == cli.EXIT_OK
    kept = json.loads(capsys.readouterr().out)
    assert cli.main(["eval", str(questions), *index, "--source", "Galway Daily"]) == cli.EXIT_OK
    left_out = json.loads(capsys.readouterr().out)
    assert kept["hit_curve"]["bm25"]["1"] == 1.0 and left_out["hit_curve"]["bm25"]["1"] == 0.0
    assert cli.main(["eval", str(questions), *index, "--until", "yesterday"]) == cli.EXIT_USAGE
    assert "qa eval: until date 'yesterday'" in capsys.readouterr().err


@pytest.mark.browser
def test_chat_settings_filter_changes_which_article_answers(dated_index: Settings, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    corpus = shutil.copytree(dated_index.corpus[0], tmp_path / "corpus")
    index_dir = shutil.copytree(dated_index.index_dir, tmp_path / "index")
    with running_app([str(corpus), "--index-dir", str(index_dir)], tmp_path / "app.log", free_port()) as url, \
            sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = chromium.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url, wait_until="load")
            box = page.get_by_placeholder("Ask a question about the articles")
            box.wait_for(timeout=120_000)
            replies = page.locator("#qa-chat .qa-reply")

            def ask(question: str) -> str:
                before = replies.count()
                box.fill(question)
                box.press("Enter")
                page.wait_for_function("n => document.querySelectorAll('#qa-chat .qa-reply').length > n",
                                       arg=before, timeout=120_000)
                return replies.nth(before).inner_text()

            page.locator("#qa-settings").get_by_text("Settings").first.click()
            page.locator("#qa-sources input").click()
            page.get_by_role("option", name="Mayo News").click()
            page.keyboard.press("Escape")
            reply = ask(QUESTION)
            assert "mayo-bridge#0" in reply and "clare-" not in reply and "galway-" not in reply  # cards name chunks
            follow_up = ask("What did the audit find?")  # a follow-up keeps the filter
            assert "mayo-bridge#0" in follow_up and "clare-" not in follow_up and "galway-" not in follow_up
            remove = page.locator("#qa-sources").get_by_role("button", name="Remove Mayo News")
            (remove if remove.count() else page.locator("#qa-sources .token-remove").first).click()
            page.locator("#qa-since textarea, #qa-since input").first.fill("2023-01-01")
            page.locator("#qa-until textarea, #qa-until input").first.fill("2023-12-31")
            reply = ask(QUESTION)
            assert "galway-bridge#0" in reply and "mayo-" not in reply and "clare-" not in reply
            page.locator("#qa-since textarea, #qa-since input").first.fill("2030-01-01")
            page.locator("#qa-until textarea, #qa-until input").first.fill("")
            assert "No article matches the filter (dated 2030-01-01 or later)" in ask(QUESTION)
            page.locator("#qa-since textarea, #qa-since input").first.fill("March 2024")
            assert "the From date 'March 2024' is not a date written YYYY-MM-DD" in ask(QUESTION)
        finally:
            chromium.close()
