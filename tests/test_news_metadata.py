"""Dates, sources and URLs (issue 19): read from what every format states, normalised, reported
when wrong, and carried by every passage, in `qa ask --json` and on the chat's cards.

The expected values are read off the synthetic archive in tests/corpora.py by hand."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, free_port, running_app
from corpora import ARCHIVE_CSV, BRIDGE_HTML, UNDATED_HTML

from qa.config import Settings
from qa.ingest.corpus import parse_file, read_corpus
from qa.ingest.metadata import DateError, front_matter, html_metadata, iso_date, text_header
from qa.ingest.owners import article_file_id
from qa.types import Rejected

CHROMIUM = "/usr/bin/chromium"
BRIDGE_QUESTION = "How much did Galway City Council approve for the Salmon Weir bridge?"
BAD_DATE = (
    "date 'sometime before Christmas' is not understood (write YYYY-MM-DD, an ISO date-time, YYYY/MM/DD,"
    " '7 March 2024', 'March 7, 2024' or RFC 2822): kept without a date"
)
# id -> (title, date, source, url), worked out from tests/corpora.py
EXPECTED = {
    "archive.csv:2": ("Harbour dredging finished", "2023-11-20", "Galway Daily",
                      "https://galwaydaily.example/news/dredging"),
    "archive.csv:4": ("Christmas market opens", None, "Connacht Tribune", "https://connachttribune.example/market"),
    "archive.csv:6": ("Flood defences approved", "2024-03-07", "Western Herald", "/news/flood-defences"),
    "connacht-tribune/salmon-weir-bridge.md": (
        "Councillors back the Salmon Weir bridge", "2024-03-08", "Connacht Tribune",
        "https://connachttribune.example/2024/03/08/salmon-weir-bridge"),
    "galway-daily/salmon-weir-bridge.html": (
        "Council approves 9 million euros for Salmon Weir bridge", "2024-03-07", "Galway Daily",
        "https://galwaydaily.example/news/salmon-weir-bridge"),
    "herald-2024-02-14": ("Airport passenger numbers rise", "2024-02-14", "Western Herald",
                          "https://westernherald.example/airport"),
    "western-herald/ferry.html": ("Ferry timetable changes for the winter", None, "Western Herald", None),
    "western-herald/salmon-weir-cost.txt": (
        "Bridge cost put at 14 million euros", "2024-03-12", "Western Herald",
        "https://westernherald.example/2024/salmon-weir-cost"),
}



@pytest.fixture(scope="module")
def corpus(archive: Path):
    return read_corpus([archive])


# ---------------------------------------------------------------- dates


@pytest.mark.parametrize(("value", "iso"), [
    ("2024-03-07", "2024-03-07"),
    ("20240307", "2024-03-07"),
    ("2024-03-07T23:30:00-05:00", "2024-03-07"),  # the date as written, not moved to UTC
    ("2024-03-07T01:30:00+09:00", "2024-03-07"),
    ("2024-03-07 10:00", "2024-03-07"),
    ("2024-03-07T10:00:00.123Z", "2024-03-07"),
    ("2024/03/07", "2024-03-07"),
    ("2024/3/7", "2024-03-07"),
    ("7 March 2024", "2024-03-07"),
    ("7 Mar 2024", "2024-03-07"),
    ("7th March 2024", "2024-03-07"),
    ("Thursday, 7 March 2024", "2024-03-07"),
    ("March 7, 2024", "2024-03-07"),
    ("Sept 30 2023", "2023-09-30"),
    ("Thu, 07 Mar 2024 10:00:00 GMT", "2024-03-07"),
    ("Thu, 07 Mar 2024 23:00:00 -0800", "2024-03-07"),
    (dt.date(2024, 3, 7), "2024-03-07"),  # YAML front matter gives dates
    (dt.datetime(2024, 3, 7, 22, 0), "2024-03-07"),
])
def test_dates_in_the_accepted_forms_become_iso(value, iso) -> None:
    assert iso_date(value) == iso


@pytest.mark.parametrize("value", [
    "03/07/2024",  # 3 July or March 7: not guessed
    "7/3/2024",
    "2024-02-30",  # no such day
    "2024-13-01",
    "2024",
    "March 2024",
    "7 Smarch 2024",
    "next Tuesday",
    "(c) 2019",
    "2024-03-07 and more",
])
def test_other_dates_are_refused_not_guessed(value) -> None:
    with pytest.raises(DateError, match="is not understood"):
        iso_date(value)


# ---------------------------------------------------------------- the archive, every reader


def test_every_article_of_the_archive_has_its_stated_metadata(corpus) -> None:
    got = {article.id: (article.title, article.date, article.source, article.url) for article in corpus.articles}
    assert got == EXPECTED


def test_bad_csv_rows_are_reported_by_row_and_skipped_alone(corpus) -> None:
    assert [(r.path, r.reason) for r in corpus.rejected] == [
        ("archive.csv:3", "4 fields, but the header has 5 (a field holding a comma or a newline must be in"
                          " double quotes)"),
        ("archive.csv:5", "no text (the 'Body' column is empty)"),
    ]


def test_an_odd_date_keeps_the_article_with_a_warning_naming_the_row_and_value(corpus) -> None:
    assert corpus.warnings == [Rejected("archive.csv:4", BAD_DATE)]
    assert "archive.csv:4" in {article.id for article in corpus.articles}


def test_a_quoted_csv_field_keeps_its_commas_quotes_and_newlines(corpus) -> None:
    article = next(article for article in corpus.articles if article.id == "archive.csv:2")
    assert article.text == (
        "The dredging of Galway harbour, which began in May, is finished.\n"
        'The port company said "larger ships, up to 200 metres long, can now berth".\n'
        "Fishermen welcomed the news."
    )
    assert article.path == "archive.csv:2" and article_file_id(article.path) == "archive.csv"


def test_front_matter_and_header_blocks_are_not_in_the_body(corpus) -> None:
    by_id = {article.id: article for article in corpus.articles}
    markdown = by_id["connacht-tribune/salmon-weir-bridge.md"].text
    assert markdown.startswith("# Councillors back the Salmon Weir bridge\n\nGalway councillors have backed")
    assert "---" not in markdown and "source:" not in markdown and "connachttribune.example" not in markdown
    wire = by_id["western-herald/salmon-weir-cost.txt"].text
    assert wire.startswith("Galway City Council approved 14 million euros")
    assert "Title:" not in wire and "westernherald.example" not in wire


def test_the_footer_copyright_year_is_never_the_date(corpus) -> None:
    import trafilatura

    # what was used before: trafilatura's date, which htmldate guesses from the footer
    assert str(trafilatura.bare_extraction(UNDATED_HTML, with_metadata=True).date).startswith("2019")
    by_id = {article.id: article for article in corpus.articles}
    assert by_id["western-herald/ferry.html"].date is None
    assert by_id["galway-daily/salmon-weir-bridge.html"].date == "2024-03-07"
    assert "(c) 2019" in BRIDGE_HTML


def test_html_source_is_og_site_name_before_the_json_ld_publisher() -> None:
    page = html_metadata(BRIDGE_HTML)
    assert page.dates == ("2024-03-07T09:30:00+01:00", "2024-03-07")
    assert (page.source, page.url) == ("Galway Daily", "https://galwaydaily.example/news/salmon-weir-bridge")


def test_html_json_ld_and_time_elements_are_read_when_there_are_no_meta_tags() -> None:
    json_ld = (
        '<html><head><script type="application/ld+json">{"@graph": [{"@type": "WebSite"},'
        ' {"@type": "NewsArticle", "datePublished": "2023-05-01T08:00:00Z",'
        ' "publisher": [{"name": "Clare Echo"}]}]}</script></head><body><p>x</p></body></html>'
    )
    assert (html_metadata(json_ld).dates, html_metadata(json_ld).source) == (("2023-05-01T08:00:00Z",), "Clare Echo")
    timed = '<html><body><time datetime="2022-01-09">9 Jan</time><time datetime="2021-01-01">old</time></body></html>'
    assert html_metadata(timed) == type(html_metadata(timed))(dates=("2022-01-09",))
    broken = '<html><head><script type="application/ld+json">{not json</script></head><body>x</body></html>'
    assert html_metadata(broken).dates == ()


def test_an_html_date_that_is_not_one_falls_back_to_the_next_then_warns() -> None:
    body = "<article><p>" + "The ferry sailed on time again this week. " * 4 + "</p></article>"
    fallback = (f'<html><head><meta property="article:published_time" content="yesterday">'
                f'<script type="application/ld+json">{{"datePublished": "2024-01-02"}}</script></head>'
                f"<body>{body}</body></html>")
    parsed = parse_file(fallback.encode(), "a.html", Settings().limits)
    assert (parsed.articles[0].date, parsed.warnings) == ("2024-01-02", ())
    only_bad = (f'<html><head><meta property="article:published_time" content="yesterday"></head>'
                f"<body>{body}</body></html>")
    parsed = parse_file(only_bad.encode(), "b.html", Settings().limits)
    assert parsed.articles[0].date is None
    assert [(w.path, w.reason.split(" is not")[0]) for w in parsed.warnings] == [("b.html", "date 'yesterday'")]


# ---------------------------------------------------------------- Markdown and plain text


def test_malformed_front_matter_is_kept_as_body_with_a_warning() -> None:
    text = "---\ntitle: [unclosed\n---\nThe story.\n"
    parsed = parse_file(text.encode(), "notes.md", Settings().limits)
    assert parsed.articles[0].text == text
    assert parsed.warnings == (
        Rejected("notes.md", "the front matter is not valid YAML (line 2): indexed as body text"),
    )
    listed = parse_file(b"---\n- a\n- b\n---\nBody.\n", "list.md", Settings().limits)
    assert listed.warnings[0].reason == "the front matter is not a mapping of keys to values: indexed as body text"


def test_front_matter_date_that_is_not_one_warns_and_an_unclosed_block_is_body() -> None:
    parsed = parse_file(b"---\ndate: soon\nSource: Clare Echo\n---\nBody here.\n", "a.md", Settings().limits)
    article = parsed.articles[0]
    assert (article.text, article.date, article.source, article.title) == (
        "Body here.\n", None, "Clare Echo", "Body here."
    )
    assert [w.path for w in parsed.warnings] == ["a.md"] and "'soon'" in parsed.warnings[0].reason
    assert front_matter("---\nA rule, then text.\n").body == "---\nA rule, then text.\n"


def test_a_txt_header_needs_only_header_lines_then_a_blank_line() -> None:
    header = text_header("DATE: 2024-03-07\nsource:  Wire \n\n\nBody.")
    assert (header.fields, header.body) == ({"date": "2024-03-07", "source": "Wire"}, "Body.")
    for text in (
        "Title: Headline\nBody straight after it.\n",  # no blank line: not a header
        "Title: A\nSubtitle: B\n\nBody.\n",  # a line that is not a header key
        "Title: A\nTitle: B\n\nBody.\n",  # a key twice
        "Storm hits coast\n\nThe storm hit the coast.\n",  # a BBC file: headline, blank line, body
        "\nTitle: A\n\nBody.\n",  # not at the very start
    ):
        assert text_header(text).fields == {} and text_header(text).body == text


def test_plain_txt_files_and_the_seed_article_read_as_before(tmp_path: Path) -> None:
    seed = next((ROOT / "seeds").glob("000_*.txt"))
    article = read_corpus([seed]).articles[0]
    assert article.text == seed.read_text(encoding="utf-8").replace("\r\n", "\n")
    assert (article.date, article.source, article.url) == (None, None, None)
    assert article.title.startswith("TEHRAN")


# ---------------------------------------------------------------- CSV


def test_csv_without_a_text_column_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "dump.csv").write_text("headline,published\nA,2024-01-01\n", encoding="utf-8")
    result = read_corpus([tmp_path])
    assert result.articles == []
    assert result.rejected == [Rejected("dump.csv", "no text column: the header ('headline', 'published') names none"
                                                    " of text, body, content, article (rename the column that holds"
                                                    " the articles' text)")]


def test_csv_ids_come_from_the_id_column_and_a_bom_and_crlf_are_fine(tmp_path: Path) -> None:
    (tmp_path / "feed.csv").write_bytes(
        b"\xef\xbb\xbfID,Content,Date,Outlet,URL\r\nx1,First story.,2024/01/02,Clare Echo,https://e.test/1\r\n"
        b',"Second, story.",,,\r\n'
    )
    articles = read_corpus([tmp_path]).articles
    assert [(a.id, a.path, a.text, a.date, a.source, a.url) for a in articles] == [
        ("x1", "feed.csv:2", "First story.", "2024-01-02", "Clare Echo", "https://e.test/1"),
        ("feed.csv:3", "feed.csv:3", "Second, story.", None, None, None),
    ]


def test_csv_stray_quotes_are_reported_by_row_and_the_other_rows_kept(tmp_path: Path) -> None:
    (tmp_path / "cut.csv").write_text('text,n\nGood row.,1\n"Stray" quote,2\nAlso good.,3\n"Never closed\nmore\n',
                                      encoding="utf-8")
    result = read_corpus([tmp_path])
    assert [a.text for a in result.articles] == ["Good row.", "Also good."]
    assert [(r.path, r.reason.split(":")[0]) for r in result.rejected] == [
        ("cut.csv:3", "not valid CSV (',' expected after '\"')"),
        ("cut.csv:5", "not valid CSV (unexpected end of data)"),
    ]


# ---------------------------------------------------------------- reports


def test_the_index_report_and_the_chat_status_carry_the_warnings(
    archive: Path, tmp_path: Path, fake_embedder, capsys: pytest.CaptureFixture[str]
) -> None:
    from qa.cli import print_index_report
    from qa.indexing.indexer import update_index
    from qa.web.app import status_html
    from qa.web.service import Update

    settings = Settings(index_dir=tmp_path / "index", corpus=(archive,))
    report = update_index(settings, fake_embedder)
    print_index_report(report, settings)  # what `qa index` prints
    printed = capsys.readouterr().out
    assert "  warnings 1 (indexed all the same):\n    archive.csv:4: date 'sometime before Christmas'" in printed
    assert report.warnings == [Rejected("archive.csv:4", BAD_DATE)]
    assert [r.path for r in report.rejected] == ["archive.csv:3", "archive.csv:5"]
    assert report.n_articles == len(EXPECTED)
    page = status_html(Update(report=report))
    assert "Indexed, with warnings (1):" in page and "archive.csv:4: date &#x27;sometime before Christmas&#x27;" in page


def test_the_ray_parse_stage_carries_warnings_across() -> None:
    from qa.indexing.ray_engine import parse_batch, parsed_from_json

    batch = {"id": [json.dumps("archive.csv")], "data": [ARCHIVE_CSV.encode()], "position": [0]}
    parsed = parsed_from_json(parse_batch(batch, {})["parsed"][0])
    assert parsed == parse_file(ARCHIVE_CSV.encode(), "archive.csv", Settings().limits)
    assert parsed.warnings == (Rejected("archive.csv:4", BAD_DATE),)


def test_the_chat_names_a_csv_rows_reason_by_row() -> None:
    from qa.web.refused import reasons_by_file

    assert reasons_by_file([Rejected("a.csv:3", "no text"), Rejected("b.jsonl:2", "invalid JSON")]) == {
        "a.csv": "row 3: no text", "b.jsonl": "line 2: invalid JSON",
    }


# ---------------------------------------------------------------- passages, for real



def test_every_passage_of_the_python_api_carries_date_source_and_url(archive_index: Settings, embedder) -> None:
    from qa.indexing.stores import open_store
    from qa.search.reader import reader_for
    from qa.search.searcher import Searcher

    searcher = Searcher(open_store(archive_index.index_dir), embedder, reader=reader_for(archive_index))
    result = searcher.ask(BRIDGE_QUESTION, k=8)
    assert len(result.hits) == 8
    for hit in result.hits:
        title, date, source, url = EXPECTED[hit.chunk.article_id]
        assert (hit.title, hit.date, hit.source, hit.url) == (title, date, source, url)
    assert {hit.source for hit in result.hits} == {"Galway Daily", "Connacht Tribune", "Western Herald"}
    plain = searcher.search(BRIDGE_QUESTION, k=3)
    assert all((hit.date, hit.source, hit.url) == EXPECTED[hit.chunk.article_id][1:] for hit in plain)


@pytest.mark.slow  # a process that loads the model
def test_qa_ask_json_passages_carry_date_source_and_url(archive_index: Settings) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "qa.cli", "ask", "--json", "--index-dir", str(archive_index.index_dir), "-k", "8",
         BRIDGE_QUESTION],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=True,
    )
    passages = json.loads(out.stdout)["passages"]
    assert len(passages) == 8
    for passage in passages:
        assert [passage["title"], passage["date"], passage["source"], passage["url"]] == list(
            EXPECTED[passage["article_id"]]
        )
    bridge = next(p for p in passages if p["article_id"] == "galway-daily/salmon-weir-bridge.html")
    assert (bridge["date"], bridge["source"]) == ("2024-03-07", "Galway Daily")



@pytest.mark.browser
def test_the_chat_shows_date_and_source_on_every_card(archive: Path, archive_index: Settings, chromium,
                                                       tmp_path: Path) -> None:
    with running_app([str(archive), "--index-dir", str(archive_index.index_dir)], tmp_path / "app.log",
                     free_port()) as url:
        page = chromium.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url, wait_until="load")
        box = page.get_by_placeholder("Ask a question about the articles")
        box.wait_for(timeout=120_000)
        box.fill(BRIDGE_QUESTION)
        box.press("Enter")
        reply = page.locator("#qa-chat .qa-reply").first
        reply.wait_for(timeout=120_000)
        cards = reply.locator("details.qa-card")
        assert cards.count() >= 2
        for i in range(cards.count()):  # on the closed card, in its one-line summary
            summary = cards.nth(i).locator("summary")
            article_id = summary.locator(".qa-cite").inner_text().rsplit(" · ", 1)[-1].rsplit("#", 1)[0]
            _, date, source, _ = EXPECTED[article_id]
            when = summary.locator(".qa-when")
            assert when.is_visible()
            assert when.inner_text() == " · ".join(
                part for part in (source, date and dt.date.fromisoformat(date).strftime("%-d %B %Y")) if part
            )
        main = reply.locator(".qa-passage .qa-from").first.inner_text()
        assert any(source in main for source in ("Galway Daily", "Connacht Tribune", "Western Herald"))
        # the source viewer: the answer's article, with its date and source
        page.wait_for_function("() => document.querySelector('#qa-source .qa-article') !== null", timeout=120_000)
        viewer = page.locator("#qa-source .qa-from").inner_text()
        assert any(f"{source} · " in viewer for source in ("Galway Daily", "Connacht Tribune", "Western Herald"))
        page.close()


def test_a_csv_row_cannot_take_an_indexed_articles_id(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(json.dumps({"id": "x", "text": "Indexed story."}) + "\n", encoding="utf-8")
    (tmp_path / "0.csv").write_text("id,text\nx,Newcomer.\ny,Other.\n", encoding="utf-8")
    result = read_corpus([tmp_path], owners={"x": "a.jsonl"})
    assert [(a.id, a.path) for a in result.articles] == [("y", "0.csv:3"), ("x", "a.jsonl:1")]
    assert result.rejected == [Rejected("0.csv:2", "article id 'x' belongs to a.jsonl:1, which is in the index:"
                                                   " not replaced (give this article another id)")]


def test_a_card_shows_the_passages_own_date_and_source_escaped() -> None:
    from qa.types import Chunk, Hit, Result
    from qa.web.render import passage_html

    chunk = Chunk("a.csv:2#0", "a.csv:2", 0, 0, 5, "Body.", ((0, 5),))
    hit = Hit(1, 0.5, chunk, "T", date="2024-03-07", source="<img src=x onerror=alert(1)>",
              url="javascript:alert(1)")
    page = passage_html(hit, Result("q", None, (hit,)), card=True)
    summary = page.split("</summary>")[0]
    assert ('<span class="qa-when"><span class="qa-outlet">&lt;img src=x onerror=alert(1)&gt;</span> · '
            '<time datetime="2024-03-07">7 March 2024</time></span>') in summary
    assert "<img" not in page and "<a " not in page and "javascript:alert(1)" in page
    undated = passage_html(Hit(1, 0.5, chunk, "T"), Result("q", None, (hit,)), card=True)
    assert "qa-when" not in undated
