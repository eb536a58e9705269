"""The chat's "Also reported by" and "Reported differently by" lines (issue 19, scope 4): under
the answer, each outlet a button that opens its article in the source viewer with its sentence
marked; corpus text escaped.

The archive's values are read off tests/corpora.py by hand: the Galway Daily (7 March 2024) and
the Connacht Tribune (Markdown, 8 March 2024) give 9 million euros for the Salmon Weir bridge,
the Western Herald (wire copy, 12 March 2024) 14 million."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from conftest import ROOT, free_port, running_app

from qa.config import Settings
from qa.types import Answer, Chunk, Corroboration, Hit, Result
from qa.web.render import article_request, parse_article_request, result_html

CHROMIUM = "/usr/bin/chromium"
BRIDGE_QUESTION = "How much did the council approve for the Salmon Weir bridge on Wednesday night?"
WAIT_MS = 120_000
ARTIFACTS = ROOT / "test-artifacts"
TEXT = "Council approves. Galway City Council approved 9 million euros for the bridge."
TRIBUNE = Corroboration(
    "connacht-tribune/salmon-weir-bridge.md", "Councillors back the Salmon Weir bridge", "2024-03-08",
    "Connacht Tribune", "Galway councillors have backed a budget of 9 million euros for the Salmon Weir pedestrian"
    " bridge.", 43, 140,
)
HERALD = Corroboration(
    "western-herald/salmon-weir-cost.txt", "Bridge cost put at 14 million euros", "2024-03-12", "Western Herald",
    "Galway City Council approved 14 million euros for the Salmon Weir pedestrian bridge, according to the Western"
    " Herald.", 0, 117,
)


def reply(also_in: tuple[Corroboration, ...] = (), differs: tuple[Corroboration, ...] = ()) -> str:
    chunk = Chunk("g.html#0", "g.html", 0, 0, len(TEXT), TEXT, ((0, 17), (18, len(TEXT))))
    answer = Answer(TEXT[18:], "g.html#0", "g.html", 18, len(TEXT), also_in=also_in, differs=differs)
    return result_html(Result("q", answer, (Hit(1, 0.9, chunk, "Council approves"),)))


def line(page: str, css: str) -> str:
    """The text a reader sees of the ``<p class="... css">`` line (tags dropped, entities read)."""
    found = re.search(rf'<p class="qa-reported {css}">(.*?)</p>', page)
    assert found, f"no {css} line in {page}"
    return html.unescape(re.sub(r"<[^>]*>", "", found.group(1)))


def test_the_line_names_each_outlet_and_date_as_a_button_under_the_answer() -> None:
    page = reply(also_in=(TRIBUNE,), differs=(HERALD,))
    assert line(page, "qa-also") == "Also reported by Connacht Tribune, 8 March 2024"
    assert line(page, "qa-differs") == "Reported differently by Western Herald, 12 March 2024"
    assert (
        '<p class="qa-reported qa-also">Also reported by <button class="qa-open-article" type="button"'
        ' title="“Galway councillors have backed a budget of 9 million euros for the Salmon Weir pedestrian bridge.”'
        ' (Councillors back the Salmon Weir bridge)" value="43 140 connacht-tribune/salmon-weir-bridge.md">'
        'Connacht Tribune, <time datetime="2024-03-08">8 March 2024</time></button></p>'
    ) in page
    assert 'value="0 117 western-herald/salmon-weir-cost.txt">Western Herald, <time' in page
    # under the answer sentence, above its passage: support first, then disagreement
    order = [page.index(mark) for mark in ("qa-answer-line", "qa-also", "qa-differs", "qa-passage")]
    assert order == sorted(order)


def test_several_entries_read_as_a_list_and_missing_source_or_date_are_left_out() -> None:
    untitled = Corroboration("t.txt", "Tuam notes", None, "Tuam Herald", "9 million euros.", 0, 16)
    sourceless = Corroboration("b.txt", "Bridge story", "2024-03-09", None, "9 million euros.", 0, 16)
    assert line(reply(also_in=(TRIBUNE, untitled, sourceless)), "qa-also") == (
        "Also reported by Connacht Tribune, 8 March 2024; Tuam Herald and Bridge story, 9 March 2024"
    )
    assert line(reply(also_in=(TRIBUNE, sourceless)), "qa-also") == (
        "Also reported by Connacht Tribune, 8 March 2024 and Bridge story, 9 March 2024"
    )


def test_without_entries_there_is_no_line() -> None:
    page = reply()
    assert "qa-reported" not in page and "qa-open-article" not in page
    only_support = reply(also_in=(TRIBUNE,))
    assert "qa-also" in only_support and "qa-differs" not in only_support and "Reported differently" not in only_support
    chunk = Chunk("g.html#0", "g.html", 0, 0, len(TEXT), TEXT, ((0, len(TEXT)),))
    abstained = result_html(Result("q", None, (Hit(1, 0.1, chunk, "T"),), abstained=True))
    assert "qa-reported" not in abstained


def test_hostile_sources_titles_sentences_and_ids_are_escaped() -> None:
    hostile = Corroboration('x" onclick="alert(1)', '<i>t</i>" onmouseover="alert(2)', "2024-03-08", "<b>x</b>",
                            '<script>alert(3)</script>"', 0, 5)
    page = reply(also_in=(hostile,), differs=(hostile,))
    assert "<b>" not in page and "<i>" not in page and "<script>" not in page
    assert ' onclick="' not in page and ' onmouseover="' not in page
    assert line(page, "qa-also") == "Also reported by <b>x</b>, 8 March 2024"
    assert line(page, "qa-differs") == "Reported differently by <b>x</b>, 8 March 2024"
    assert '>&lt;b&gt;x&lt;/b&gt;, <time datetime="2024-03-08">' in page
    value = re.search(r'class="qa-open-article" type="button" title="[^"]*" value="([^"]*)"', page)
    assert value and parse_article_request(html.unescape(value.group(1))) == ('x" onclick="alert(1)', 0, 5)


def test_an_article_request_reads_back_and_anything_else_is_none() -> None:
    for article_id in ("a.txt", "folder/with space.md", "archive.csv:4", "odd|id#0"):
        assert parse_article_request(article_request(article_id, 43, 140)) == (article_id, 43, 140)
    for request in ("", "43 140", "43 140 ", "a 140 x", "-1 5 x", "a.txt#0", "43  140 x", "² 5 x"):
        assert parse_article_request(request) is None


# ---------------------------------------------------------------- in the browser, for real





def viewer_shows(page, title: str) -> None:
    page.wait_for_function(
        "t => (document.querySelector('#qa-source .qa-article .qa-title') || {}).textContent === t",
        arg=title, timeout=WAIT_MS,
    )


@pytest.mark.browser
def test_the_chat_lists_who_else_reported_it_and_opens_their_sentence(archive: Path, archive_index: Settings,
                                                                      chromium, tmp_path: Path) -> None:
    with running_app([str(archive), "--index-dir", str(archive_index.index_dir)], tmp_path / "app.log",
                     free_port()) as url:
        page = chromium.new_page(viewport={"width": 1280, "height": 900})
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(url, wait_until="load")
        box = page.get_by_placeholder("Ask a question about the articles")
        box.wait_for(timeout=WAIT_MS)
        box.fill(BRIDGE_QUESTION)
        box.press("Enter")
        reply = page.locator("#qa-chat .qa-reply").first
        reply.wait_for(timeout=WAIT_MS)
        assert "9 million euros" in reply.locator(".qa-answer-line").inner_text()
        # the exact answer is bold, in the answer line and inside the passage's marked sentence
        assert reply.locator(".qa-answer-line strong.qa-span").inner_text() == "9 million euros"
        assert reply.locator(".qa-passage mark.qa-answer strong.qa-span").inner_text() == "9 million euros"
        weight = reply.locator(".qa-answer-line strong.qa-span").evaluate("m => getComputedStyle(m).fontWeight")
        assert int(weight) >= 700
        also, differs = reply.locator("p.qa-also"), reply.locator("p.qa-differs")
        assert also.inner_text() == "Also reported by Connacht Tribune, 8 March 2024"
        assert differs.inner_text() == "Reported differently by Western Herald, 12 March 2024"
        # the viewer opens at the answer's own article (the Galway Daily) ...
        viewer_shows(page, "Council approves 9 million euros for Salmon Weir bridge")
        # ... and an entry opens its article there, its sentence marked and scrolled to
        also.get_by_role("button", name="Connacht Tribune, 8 March 2024").click()
        viewer_shows(page, "Councillors back the Salmon Weir bridge")
        mark = page.locator("#qa-source mark.qa-answer")
        assert mark.count() == 1 and mark.get_attribute("id") == "qa-scroll-target"
        assert mark.inner_text() == (
            "Galway councillors have backed a budget of 9 million euros for the Salmon Weir pedestrian bridge."
        )
        assert "Connacht Tribune · " in page.locator("#qa-source .qa-from").inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "also-reported.png"))
        differs.get_by_role("button", name="Western Herald, 12 March 2024").click()
        viewer_shows(page, "Bridge cost put at 14 million euros")
        assert "14 million euros" in page.locator("#qa-source mark.qa-answer").inner_text()
        assert dialogs == []
        page.close()
