"""read_corpus: every supported format, broken inputs, walking order, ids and hashes."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
from conftest import DATASETS, SEEDS
from corpora import PDF_LINES, PNG_1X1, pdf_bytes

from qa.ingest.boundary import LINK_OUTSIDE
from qa.ingest.corpus import read_corpus
from qa.types import Rejected

SUPPORTED = ".csv .htm .html .jsonl .markdown .md .pdf .text .txt"


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def only_article(root: Path):
    corpus = read_corpus([root])
    assert corpus.rejected == []
    assert len(corpus.articles) == 1
    return corpus.articles[0]


def rejections(root: Path) -> dict[str, str]:
    corpus = read_corpus([root])
    assert corpus.articles == []
    return {rejected.path: rejected.reason for rejected in corpus.rejected}


# ---- formats ---------------------------------------------------------------------------------


def test_txt_title_is_the_first_line_and_text_is_kept(corpus_dir: Path) -> None:
    write(corpus_dir / "story.txt", "Bridge reopens\n\nThe bridge reopened on Monday.\n")
    doc = only_article(corpus_dir)
    assert (doc.id, doc.path, doc.title) == ("story.txt", "story.txt", "Bridge reopens")
    assert doc.text == "Bridge reopens\n\nThe bridge reopened on Monday.\n"
    assert (doc.date, doc.url, doc.source) == (None, None, None)


def test_txt_title_skips_blank_lines_and_spaces(corpus_dir: Path) -> None:
    write(corpus_dir / "story.text", "\n\n   Storm   warning issued  \nBody.")
    assert only_article(corpus_dir).title == "Storm warning issued"


def test_long_first_line_is_shortened_at_a_word(corpus_dir: Path) -> None:
    line = " ".join(["headline"] * 40)  # 359 characters
    write(corpus_dir / "long.txt", line + "\nBody.")
    title = only_article(corpus_dir).title
    assert title == " ".join(["headline"] * 17) + "…"  # 152 characters, then the ellipsis


def test_md_title_from_first_heading_not_on_line_one(corpus_dir: Path) -> None:
    write(
        corpus_dir / "note.md",
        "Filed by our correspondent\n\n# Flood defences approved ##\n\nThe council voted.\n",
    )
    doc = only_article(corpus_dir)
    assert doc.title == "Flood defences approved"
    assert doc.text.startswith("Filed by our correspondent\n")


def test_md_without_heading_uses_first_line(corpus_dir: Path) -> None:
    write(corpus_dir / "note.markdown", "#hashtag is not a heading\nText.")
    assert only_article(corpus_dir).title == "hashtag is not a heading"


HTML_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Harbour bridge reopens after repairs | The Coastal Times</title>
</head>
<body>
<nav>
  <ul>
    <li><a href="/">Home</a></li>
    <li><a href="/world">World news</a></li>
    <li><a href="/subscribe">Subscribe to our newsletter today</a></li>
  </ul>
</nav>
<article>
  <h1>Harbour bridge reopens after repairs</h1>
  <p>The harbour bridge reopened to traffic on Monday morning after eight months of repairs to its steel deck, the city council said.</p>
  <p>Engineers replaced more than four hundred rivets and repainted the main span, which had been closed since a storm damaged it last winter.</p>
  <p>The mayor said the work had cost twelve million dollars, slightly less than the original estimate, and thanked residents for their patience.</p>
  <p>Buses will return to their usual routes across the bridge from Wednesday, according to the transport authority.</p>
</article>
<footer>
  <p>Copyright 2024 The Coastal Times. All rights reserved.</p>
  <a href="/privacy">Privacy policy</a>
</footer>
</body>
</html>
"""  # noqa: E501 - a web page's paragraphs, one line each, as pages are written

HTML_PARAGRAPHS = [
    "The harbour bridge reopened to traffic on Monday morning after eight months of repairs to its"
    " steel deck, the city council said.",
    "Engineers replaced more than four hundred rivets and repainted the main span, which had been"
    " closed since a storm damaged it last winter.",
    "The mayor said the work had cost twelve million dollars, slightly less than the original"
    " estimate, and thanked residents for their patience.",
    "Buses will return to their usual routes across the bridge from Wednesday, according to the"
    " transport authority.",
]


def test_html_article_text_is_extracted_with_its_title(corpus_dir: Path) -> None:
    write(corpus_dir / "bridge.html", HTML_PAGE)
    doc = only_article(corpus_dir)
    assert (doc.id, doc.title) == ("bridge.html", "Harbour bridge reopens after repairs")
    for paragraph in HTML_PARAGRAPHS:
        assert paragraph in doc.text
    assert doc.text.index(HTML_PARAGRAPHS[0]) < doc.text.index(HTML_PARAGRAPHS[3])


@pytest.mark.parametrize(
    "boilerplate",
    ["Subscribe to our newsletter today", "World news", "All rights reserved", "Privacy policy"],
)
def test_html_navigation_and_footer_are_dropped(corpus_dir: Path, boilerplate: str) -> None:
    write(corpus_dir / "bridge.html", HTML_PAGE)
    assert boilerplate not in only_article(corpus_dir).text


def test_htm_title_from_title_tag(corpus_dir: Path) -> None:
    write(
        corpus_dir / "vote.htm",
        "<html><head><title>Town hall vote delayed</title></head><body><div>"
        "<p>The town hall vote on the new library was delayed by two weeks after a power cut"
        " on Tuesday evening.</p>"
        "<p>Councillors said they would meet again on the twelfth of March to decide on the"
        " building plans.</p>"
        "</div></body></html>",
    )
    doc = only_article(corpus_dir)
    assert (doc.id, doc.title) == ("vote.htm", "Town hall vote delayed")
    assert doc.text == (
        "The town hall vote on the new library was delayed by two weeks after a power cut"
        " on Tuesday evening.\n"
        "Councillors said they would meet again on the twelfth of March to decide on the building plans."
    )


JSONL_LINES = [
    {"id": "a1", "title": "Dam opens", "text": "The dam opened.", "date": "2024-05-01",
     "url": "https://news.test/a1", "source": "Wire"},
    "{broken",
    {"id": "a2", "title": "No text here"},
    "",
    {"id": "a3", "text": "Second story.\r\nMore follows.", "date": 20240502},
    {"id": "a1", "text": "Same id again."},
    ["not", "an", "object"],
    {"id": "a4", "text": 42},
    {"text": "No id."},
    {"id": 7, "title": "", "text": "  Numeric id.  "},
]  # fmt: skip


@pytest.fixture
def jsonl_corpus(corpus_dir: Path):
    lines = [line if isinstance(line, str) else json.dumps(line) for line in JSONL_LINES]
    write(corpus_dir / "feed" / "data.jsonl", "\n".join(lines) + "\n")
    return read_corpus([corpus_dir])


def test_jsonl_good_lines_become_articles_with_metadata(jsonl_corpus) -> None:
    assert [(a.id, a.path, a.title) for a in jsonl_corpus.articles] == [
        ("a1", "feed/data.jsonl:1", "Dam opens"),
        ("a3", "feed/data.jsonl:5", "Second story."),
        ("7", "feed/data.jsonl:10", "Numeric id."),
    ]
    first, second, third = jsonl_corpus.articles
    assert (first.text, first.date, first.url, first.source) == (
        "The dam opened.", "2024-05-01", "https://news.test/a1", "Wire"
    )
    assert (second.text, second.date, second.url, second.source) == (
        "Second story.\nMore follows.", "2024-05-02", None, None  # the date normalised
    )
    assert third.text == "  Numeric id.  "


def test_jsonl_bad_lines_are_rejected_one_by_one(jsonl_corpus) -> None:
    assert {r.path: r.reason for r in jsonl_corpus.rejected} == {
        "feed/data.jsonl:2": "invalid JSON (Expecting property name enclosed in double quotes)",
        "feed/data.jsonl:3": "missing field(s): text",
        "feed/data.jsonl:6": "duplicate article id 'a1' (first in feed/data.jsonl:1)",
        "feed/data.jsonl:7": "a line must be a JSON object",
        "feed/data.jsonl:8": '"text" must be a non-empty string',
        "feed/data.jsonl:9": "missing field(s): id",
    }


def test_duplicate_id_across_files_is_rejected(corpus_dir: Path) -> None:
    write(corpus_dir / "a.jsonl", json.dumps({"id": "same", "text": "First."}))
    write(corpus_dir / "b.jsonl", json.dumps({"id": "same", "text": "Second."}))
    corpus = read_corpus([corpus_dir])
    assert [(a.id, a.text) for a in corpus.articles] == [("same", "First.")]
    assert corpus.rejected == [Rejected("b.jsonl:1", "duplicate article id 'same' (first in a.jsonl:1)")]


def test_pdf_text_is_read_back(corpus_dir: Path) -> None:
    write(corpus_dir / "report.pdf", pdf_bytes(PDF_LINES))
    doc = only_article(corpus_dir)
    assert (doc.id, doc.title) == ("report.pdf", "Solar farm opens in the desert")
    assert doc.text == "Solar farm opens in the desert\nThe plant will power ten thousand homes."


def test_pdf_title_comes_from_its_metadata(corpus_dir: Path) -> None:
    write(corpus_dir / "report.pdf", pdf_bytes(PDF_LINES, info_title="Annual energy report"))
    assert only_article(corpus_dir).title == "Annual energy report"


def test_latin1_pound_sign_is_decoded(corpus_dir: Path) -> None:
    write(corpus_dir / "fee.txt", b"Transfer fee \xa315.8m\n\nChelsea paid \xa315.8m for him.\n")
    doc = only_article(corpus_dir)
    assert doc.title == "Transfer fee £15.8m"
    assert doc.text == "Transfer fee £15.8m\n\nChelsea paid £15.8m for him.\n"


def test_windows_1252_quotes_are_decoded(corpus_dir: Path) -> None:
    write(corpus_dir / "quote.txt", b"He said \x93yes\x94 \x96 twice.")
    assert only_article(corpus_dir).text == "He said “yes” – twice."


def test_utf8_bom_is_dropped(corpus_dir: Path) -> None:
    write(corpus_dir / "bom.txt", b"\xef\xbb\xbfHeadline\nBody.")
    doc = only_article(corpus_dir)
    assert (doc.title, doc.text) == ("Headline", "Headline\nBody.")


def test_real_bbc_latin1_file(corpus_dir: Path) -> None:
    archive = DATASETS / "bbc-news" / "bbc-fulltext.tar.gz"
    if not archive.is_file():
        pytest.skip(f"dataset not available: {archive}")
    with tarfile.open(archive) as tar:
        data = tar.extractfile("bbc/sport/199.txt").read()
    assert b"\xa3" in data  # the one Latin-1 byte of the original release
    write(corpus_dir / "sport" / "199.txt", data)
    doc = only_article(corpus_dir)
    assert (doc.id, doc.title) == ("sport/199.txt", "Chelsea sack Mutu")
    assert "a £15.8m signing from Parma" in doc.text
    assert "\ufffd" not in doc.text


# ---- broken inputs ---------------------------------------------------------------------------


def test_binary_data_named_txt_is_rejected(corpus_dir: Path) -> None:
    write(corpus_dir / "blob.txt", b"GIF89a\x00\x01\x02\x03binary")
    assert rejections(corpus_dir) == {"blob.txt": "binary data, not text (NUL bytes)"}


def test_png_named_pdf_is_rejected(corpus_dir: Path) -> None:
    write(corpus_dir / "image.pdf", PNG_1X1)
    [reason] = rejections(corpus_dir).values()
    assert reason.startswith("not a readable PDF (")


def test_truncated_pdf_is_rejected(corpus_dir: Path) -> None:
    data = pdf_bytes(PDF_LINES)
    write(corpus_dir / "cut.pdf", data[: len(data) // 2])
    [reason] = rejections(corpus_dir).values()
    assert reason.startswith("not a readable PDF (")


@pytest.mark.parametrize(
    "name, replacements",
    [
        # the trailer is a number, not a dictionary: pypdf raises AttributeError
        ("trailer-number.pdf", [(b"trailer\n<<", b"trailer5<<")]),
        # a damaged catalog and stream end: pypdf raises LimitReachedError (a self-reference loop)
        ("loop.pdf", [(b"/Type /Catalog", b"/T\xcfpe /Catalog"), (b"endstream", b"endstrYam")]),
    ],
)
def test_damaged_pdf_is_rejected_not_raised(corpus_dir: Path, name: str, replacements) -> None:
    """Fails today: read_pdf only catches PdfReadError, ValueError, KeyError, TypeError, OSError and
    RecursionError, so other pypdf errors escape read_corpus and stop the whole run."""
    data = pdf_bytes(PDF_LINES)
    for old, new in replacements:
        assert len(old) == len(new) and old in data  # same length: the xref offsets stay right
        data = data.replace(old, new)
    write(corpus_dir / name, data)
    write(corpus_dir / "zz-good.txt", "Still read\nafter the damaged PDF.")
    corpus = read_corpus([corpus_dir])
    assert [a.id for a in corpus.articles] == ["zz-good.txt"]
    assert [r.path for r in corpus.rejected] == [name]
    assert corpus.rejected[0].reason.startswith("not a readable PDF (")


@pytest.mark.parametrize("name", ["empty.txt", "empty.md"])
@pytest.mark.parametrize("content", [b"", b"  \n\t\n \r\n"])
def test_empty_and_whitespace_files_are_rejected(corpus_dir: Path, name: str, content: bytes) -> None:
    write(corpus_dir / name, content)
    assert rejections(corpus_dir) == {name: "no text in it"}


def test_unsupported_extension_is_rejected_naming_supported_types(corpus_dir: Path) -> None:
    write(corpus_dir / "photo.png", PNG_1X1)
    write(corpus_dir / "README", "Some notes.")
    assert rejections(corpus_dir) == {
        "README": f"unsupported file type a file with no extension (supported: {SUPPORTED})",
        "photo.png": f"unsupported file type '.png' (supported: {SUPPORTED})",
    }


def test_upper_case_extension_is_supported(corpus_dir: Path) -> None:
    write(corpus_dir / "SHOUT.TXT", "Loud headline\nBody.")
    assert only_article(corpus_dir).id == "SHOUT.TXT"


def test_a_bad_file_does_not_stop_the_others(corpus_dir: Path) -> None:
    write(corpus_dir / "a.txt", "First\nok.")
    write(corpus_dir / "b.txt", b"\x00\x00")
    write(corpus_dir / "c.txt", "Third\nok.")
    corpus = read_corpus([corpus_dir])
    assert [a.id for a in corpus.articles] == ["a.txt", "c.txt"]
    assert [r.path for r in corpus.rejected] == ["b.txt"]


# ---- walking, ids, roots ---------------------------------------------------------------------


def test_hidden_files_and_folders_are_skipped_silently(corpus_dir: Path) -> None:
    write(corpus_dir / ".NOTICE", "licence notice")
    write(corpus_dir / ".draft.txt", "Draft\nNot for indexing.")
    write(corpus_dir / ".git" / "notes.txt", "Git\nInternal.")
    write(corpus_dir / "sub" / ".cache" / "x.txt", "Cached\nCopy.")
    write(corpus_dir / "sub" / "visible.txt", "Visible\nIndexed.")
    corpus = read_corpus([corpus_dir])
    assert [a.id for a in corpus.articles] == ["sub/visible.txt"]
    assert corpus.rejected == []


def test_walk_is_recursive_sorted_and_ids_are_relative_posix_paths(corpus_dir: Path) -> None:
    for name in ["z.txt", "b/a.txt", "a/c/d.txt", "a/b.txt", "m.txt"]:  # created out of order
        write(corpus_dir / name, f"{name}\nBody.")
    corpus = read_corpus([corpus_dir])
    # sorted by id (the relative path), whatever the folder depth
    assert [a.id for a in corpus.articles] == ["a/b.txt", "a/c/d.txt", "b/a.txt", "m.txt", "z.txt"]
    assert [a.path for a in corpus.articles] == [a.id for a in corpus.articles]
    assert [a.title for a in corpus.articles] == [a.id for a in corpus.articles]


def test_root_that_is_a_file_gets_its_name_as_id(corpus_dir: Path) -> None:
    path = write(corpus_dir / "deep" / "er" / "one.txt", "Only one\nBody.")
    corpus = read_corpus([path])
    assert [(a.id, a.path) for a in corpus.articles] == [("one.txt", "one.txt")]
    assert corpus.rejected == []


def test_missing_root_is_rejected(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    corpus = read_corpus([missing])
    assert corpus.articles == []
    assert corpus.rejected == [Rejected(str(missing), "no such file or folder")]


def test_seeds_folder_gives_one_article() -> None:
    corpus = read_corpus([SEEDS])
    assert corpus.rejected == []
    assert [a.id for a in corpus.articles] == ["000_ae1cc4aba988a14c.txt"]
    assert corpus.articles[0].title.startswith("TEHRAN — Expressing confidence over the results")


# ---- hashes and newlines ---------------------------------------------------------------------


def test_same_content_under_two_names_is_stored_once(corpus_dir: Path) -> None:
    write(corpus_dir / "copy1.txt", "Twin\nSame words.")
    write(corpus_dir / "copy2.txt", "Twin\nSame words.")
    corpus = read_corpus([corpus_dir])
    # the hash covers content, not the file name: the first in id order is kept
    assert [a.id for a in corpus.articles] == ["copy1.txt"]
    assert corpus.rejected == [
        Rejected("copy2.txt", "duplicate of 'copy1.txt' (same title and text): stored once, as 'copy1.txt'")
    ]


def test_hash_is_stable_for_identical_input(corpus_dir: Path) -> None:
    write(corpus_dir / "a.txt", "Headline\nBody.")
    assert read_corpus([corpus_dir]).articles[0].sha256 == read_corpus([corpus_dir]).articles[0].sha256
    assert len(read_corpus([corpus_dir]).articles[0].sha256) == 64


@pytest.mark.parametrize(
    "before, after",
    [
        ("Headline\nBody.", "Headline\nBody!"),
        ("Headline\nBody.", "Headline\nBody. "),
        ("# Old title\nBody.", "# New title\nBody."),
    ],
)
def test_hash_changes_when_the_text_changes(corpus_dir: Path, before: str, after: str) -> None:
    path = write(corpus_dir / "a.md", before)
    old = only_article(corpus_dir).sha256
    write(path, after)
    assert only_article(corpus_dir).sha256 != old


def test_hash_changes_when_jsonl_metadata_changes(corpus_dir: Path) -> None:
    path = write(corpus_dir / "a.jsonl", json.dumps({"id": "x", "text": "Body.", "url": "https://a.test/1"}))
    old = only_article(corpus_dir).sha256
    write(path, json.dumps({"id": "x", "text": "Body.", "url": "https://a.test/2"}))
    assert only_article(corpus_dir).sha256 != old


@pytest.mark.parametrize("newline", [b"\r\n", b"\r"])
def test_newlines_are_normalised(corpus_dir: Path, newline: bytes) -> None:
    write(corpus_dir / "dos.txt", newline.join([b"Title", b"Line one.", b"Line two.", b""]))
    doc = only_article(corpus_dir)
    assert doc.text == "Title\nLine one.\nLine two.\n"
    assert doc.title == "Title"


def test_crlf_and_lf_versions_have_the_same_hash(corpus_dir: Path) -> None:
    write(corpus_dir / "dos.txt", b"Title\r\nBody.\r\n")
    write(corpus_dir / "unix.txt", b"Title\nBody.\n")
    corpus = read_corpus([corpus_dir])
    assert [a.id for a in corpus.articles] == ["dos.txt"]
    assert [r.reason for r in corpus.rejected] == [
        "duplicate of 'dos.txt' (same title and text): stored once, as 'dos.txt'"
    ]


def test_several_roots_get_ids_relative_to_their_common_folder(corpus_dir: Path) -> None:
    for name in ["sport/001.txt", "tech/001.txt", "tech/002.txt"]:
        write(corpus_dir / name, f"{name}\nBody.")
    corpus = read_corpus([corpus_dir / "tech", corpus_dir / "sport"])
    assert [a.id for a in corpus.articles] == ["sport/001.txt", "tech/001.txt", "tech/002.txt"]
    assert corpus.rejected == []


def test_a_link_out_of_the_corpus_is_refused_by_name(corpus_dir: Path, tmp_path: Path) -> None:
    outside = write(tmp_path / "elsewhere" / "real.txt", "Linked\nBody.")
    (corpus_dir / "link.txt").symlink_to(outside)
    corpus = read_corpus([corpus_dir])
    assert corpus.articles == []
    assert [(r.path, r.reason) for r in corpus.rejected] == [("link.txt", LINK_OUTSIDE)]
