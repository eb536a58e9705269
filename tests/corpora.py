"""Small corpora shared by several test modules (no test module imports another): the five-article
news corpus and its chunking, PDFs made by hand, and the hostile corpus of odd files."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

from qa.config import ChunkSettings

ARTICLES = {
    "harbour.txt": (
        "Harbour bridge reopens after repairs\n\n"
        "The harbour bridge in Portmere reopened on Monday after six months of repairs. "
        "Engineers replaced the corroded steel cables and resurfaced the whole deck. "
        "The city council said the work cost forty million euros. "
        "Commuters welcomed the shorter journey across the bay."
    ),
    "orchard.txt": (
        "Apple harvest breaks records\n\n"
        "Farmers in the Lenvale valley picked a record apple harvest this autumn. "
        "A warm spring and steady rain helped the orchards. "
        "Cider makers expect a busy winter. "
        "Prices at the market fell by a tenth."
    ),
    "chess.md": (
        "# Teenager wins national chess title\n\n"
        "A sixteen-year-old from Arnsby won the national chess championship on Sunday. "
        "She beat the defending champion in the final round with the black pieces. "
        "Her coach said she trains four hours a day."
    ),
}
# Small chunks, so every article has several and sentence offsets and overlaps are exercised.
CHUNKING = ChunkSettings(target_tokens=40)


def write_corpus(folder: Path, articles: dict[str, str] = ARTICLES) -> Path:
    for name, text in articles.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c63f80f00000101000518d84e0000000049454e44ae426082"
)


def pdf_bytes(lines: list[str], info_title: str | None = None) -> bytes:
    """A minimal one-page PDF 1.4 with Helvetica text and a correct xref table."""
    operators = ["BT", "/F1 12 Tf", "72 720 Td", "14 TL"]
    for n, line in enumerate(lines):
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        operators.append(f"({escaped}) Tj" if n == 0 else f"T* ({escaped}) Tj")
    operators.append("ET")
    stream = "\n".join(operators).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    if info_title is not None:
        objects.append(b"<< /Title (" + info_title.encode("latin-1") + b") >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n" % (len(objects) + 1)
    out += b"0000000000 65535 f \n"
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    info = b" /Info %d 0 R" % len(objects) if info_title is not None else b""
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, info, xref)
    return bytes(out)


PDF_LINES = ["Solar farm opens in the desert", "The plant will power ten thousand homes."]


DUPLICATE = "duplicate of 'copy-a.txt' (same title and text): stored once, as 'copy-a.txt'"


def build_hostile_corpus(root: Path, *, big: bool = True) -> dict[str, str]:
    """Write the hostile corpus into ``root``; returns the expected rejections {path: reason}
    (pypdf's reasons are checked by prefix). ``big`` adds the 50 MB file and the 1 MB line."""
    root.mkdir(parents=True, exist_ok=True)

    def write(name: str, content: str | bytes) -> None:
        (root / name).write_bytes(content.encode("utf-8") if isinstance(content, str) else content)

    write("existing.txt", story("Bridge reopens", "harbour bridge"))
    write("good one.txt", story("Orchard record", "apple harvest"))
    write("новости дня.txt", story("Новости дня: chess final", "chess final"))
    write("line\nbreak.txt", story("Ferry timetable", "ferry timetable"))
    write("latin1.txt", story("Transfer fee £15.8m", "transfer fee of £15.8m").encode("latin-1"))
    write("bad-utf8.txt", b"Caf\xe9 closes\n\nThe caf\xe9 \x81 closed after forty years of trade on the square.\n")
    write("malformed.html", (
        "<html><head><title>Library vote delayed</title><body><p>Unclosed <b>bold <div><table><tr><td>"
        "<p>The library vote was delayed by two weeks after a power cut on Tuesday evening, councillors said."
        "<p>They will meet again in March to decide on the building plans for the new wing.</span></html>"
    ))
    write("report.pdf", pdf_bytes(PDF_LINES))
    write("long-line.txt", unpunctuated_line(200_000))  # under the limit: indexed, cut between words
    write("copy-a.txt", story("Twin story", "twin towers"))
    write("copy-b.txt", story("Twin story", "twin towers"))
    write("feed.jsonl", "\n".join([
        json.dumps({"id": "feed-1", "title": "Dam opens", "text": "The dam opened on Friday to great fanfare."}),
        '{"id": "feed-2", "title": "Broken',
        json.dumps({"id": "feed-3", "title": "No text"}),
        json.dumps({"title": "No id", "text": "A story without an id."}),
        json.dumps({"id": "feed-5", "text": "The tram line extension was approved by the city council."}),
        "\x01\x02 not json",
    ]) + "\n")
    expected = {
        "feed.jsonl:2": "invalid JSON (Unterminated string starting at)",
        "feed.jsonl:3": "missing field(s): text",
        "feed.jsonl:4": "missing field(s): id",
        "feed.jsonl:6": "invalid JSON (Expecting value)",
        "copy-b.txt": DUPLICATE,
        "empty.txt": "no text in it",
        "blank.md": "no text in it",
        "blob.txt": "binary data, not text (NUL bytes)",
        "image.pdf": "not a readable PDF (",
        "cut.pdf": "not a readable PDF (",
        "deep.html": "no article text found in the HTML",
        "loop": LINK_TO_FOLDER,
        "ring-a.txt": "cannot read it (Too many levels of symbolic links)",
        "ring-b.txt": "cannot read it (Too many levels of symbolic links)",
        "gone.txt": "cannot read it (No such file or directory)",
        "pipe.txt": "not a regular file (a pipe, socket or device)",
        "bad\nname.txt": "no text in it",
    }
    write("empty.txt", b"")
    write("blank.md", " \n\t\n  \r\n")
    write("blob.txt", bytes(range(256)) * 64)
    write("image.pdf", PNG_1X1)
    write("cut.pdf", truncated_pypdf_pdf())
    write("deep.html", "<html><body>" + "<div>" * 5000 + "<p>Deep down.</p>" + "</div>" * 5000 + "</body></html>")
    write("bad\nname.txt", "   ")
    (root / "loop").symlink_to(".", target_is_directory=True)  # a folder that contains itself
    (root / "ring-a.txt").symlink_to("ring-b.txt")
    (root / "ring-b.txt").symlink_to("ring-a.txt")
    (root / "gone.txt").symlink_to("nowhere.txt")
    os.mkfifo(root / "pipe.txt")  # reading it would block for ever
    if big:
        with (root / "huge.txt").open("w", encoding="utf-8") as out:
            block = story("Huge file", "huge file") * 200
            while out.tell() < 50 * MB:
                out.write(block)
        write("one-mb-line.txt", unpunctuated_line(1_048_576))
        expected |= {"huge.txt": TOO_LARGE, "one-mb-line.txt": TOO_LONG}
    return expected


MB = 1_000_000
TOO_LARGE = "too large: 50.0 MB, the limit is 20 MB (split it, or raise QA_MAX_FILE_MB)"
TOO_LONG = "too long: 1,048,576 characters, the limit is 500,000 (split it, or raise QA_MAX_ARTICLE_CHARS)"
LINK_TO_FOLDER = "a link to a folder: not followed (a link loop would never end)"


def story(title: str, subject: str) -> str:
    return (
        f"{title}\n\nThe {subject} was the talk of the town on Monday. Officials said the {subject}"
        f" would be reviewed next spring. Residents welcomed the news about the {subject}.\n"
    )


def truncated_pypdf_pdf() -> bytes:
    """A real PDF written by pypdf (one page, a title), cut in half."""
    import pypdf

    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.add_metadata({"/Title": "Budget report"})
    out = io.BytesIO()
    writer.write(out)
    data = out.getvalue()
    assert pypdf.PdfReader(io.BytesIO(data)).metadata.title == "Budget report"  # whole, it reads
    return data[: len(data) // 2]


def unpunctuated_line(chars: int) -> str:
    words = ("harbour", "council", "budget", "river", "market", "winter", "station", "ferry")
    line = " ".join(words[i % len(words)] for i in range(chars // 6 + 1))
    return line[:chars]


# A dated archive of three outlets (issue 19): one story told by each, with its own figure, and
# others besides; one article has no date. JSONL, the format that carries date and source today.
DATED_ARTICLES = [
    {"id": "galway-bridge", "title": "Portmere bridge repairs begin", "date": "2023-05-02", "source": "Galway Daily",
     "url": "https://galway.example/bridge",
     "text": "Repairs to the Portmere harbour bridge began on Tuesday. The council said the repairs would cost"
             " 9 million euros. Engineers will replace the corroded steel cables first."},
    {"id": "clare-bridge", "title": "Portmere bridge reopens", "date": "2024-03-07", "source": "Clare Herald",
     "url": "https://clare.example/bridge",
     "text": "The Portmere harbour bridge reopened on Thursday after ten months of work. The council said the"
             " repairs had cost 14 million euros. Commuters welcomed the shorter journey across the bay."},
    {"id": "mayo-bridge", "title": "Bridge bill questioned", "date": "2024-11-20", "source": "Mayo News",
     "url": "https://mayo.example/bridge",
     "text": "Auditors questioned the bill for the Portmere harbour bridge. The repairs cost 16 million"
             " euros in the end, the audit found. The council has promised a review."},
    {"id": "galway-harvest", "title": "Apple harvest breaks records", "date": "2023-10-01", "source": "Galway Daily",
     "text": "Farmers in the Lenvale valley picked a record apple harvest this autumn. A warm spring helped the"
             " orchards. Cider makers expect a busy winter."},
    {"id": "clare-chess", "title": "Teenager wins chess title", "date": "2024-06-15", "source": "clare herald",
     "text": "A sixteen-year-old from Arnsby won the national chess championship on Sunday. She beat the"
             " defending champion in the final round."},
    {"id": "undated-ferry", "title": "Ferry timetable changes", "source": "Mayo News",
     "text": "The Portmere ferry will sail twice a day from next month. The harbour bridge repairs cost the"
             " ferry company nothing, its owner said."},
]


def write_dated_corpus(folder: Path) -> Path:
    """The dated archive as one JSONL file in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(article, ensure_ascii=False) for article in DATED_ARTICLES]
    (folder / "archive.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


# ---------------------------------------------------------------- the synthetic news archive
# Three outlets report a council's bridge vote in March 2024: Galway Daily (HTML) and the Connacht
# Tribune (Markdown) give 9 million euros, the Western Herald (wire copy, .txt) 14 million. Around
# them: a CSV export with aliased headers, a bad row, a row without text, an odd date and a quoted
# body holding commas and newlines; a JSONL line dated in RFC 2822; and an HTML page that states no
# date, only a footer's copyright year, which must not become its date.
BRIDGE_HTML = """<!DOCTYPE html>
<html lang="en"><head>
<meta charset="utf-8">
<title>Council approves 9 million euros for Salmon Weir bridge</title>
<meta property="og:site_name" content="Galway Daily">
<meta property="article:published_time" content="2024-03-07T09:30:00+01:00">
<link rel="canonical" href="https://galwaydaily.example/news/salmon-weir-bridge">
<script type="application/ld+json">
{"@context": "https://schema.org", "@type": "NewsArticle", "datePublished": "2024-03-07",
 "publisher": {"@type": "Organization", "name": "Galway Daily Media Ltd"}}
</script>
</head><body>
<header><nav><a href="/">Home</a> <a href="/news">News</a></nav></header>
<article>
<h1>Council approves 9 million euros for Salmon Weir bridge</h1>
<p>Galway City Council approved 9 million euros for the new Salmon Weir pedestrian bridge on Wednesday night.
Councillors voted 14 to 4 in favour after a three-hour debate in City Hall.</p>
<p>The bridge will cross the River Corrib beside the cathedral and is due to open in the summer of 2026.
Engineers said construction should begin in the autumn.</p>
</article>
<footer><p>(c) 2019 Galway Daily. All rights reserved.</p></footer>
</body></html>
"""
UNDATED_HTML = """<!DOCTYPE html>
<html lang="en"><head>
<meta charset="utf-8">
<title>Ferry timetable changes for the winter</title>
<meta property="og:site_name" content="Western Herald">
</head><body>
<article>
<h1>Ferry timetable changes for the winter</h1>
<p>The Aran Islands ferry will run twice a day instead of four times from November until March.
The operator said the winter timetable follows a fall in passenger numbers on weekdays.</p>
<p>Islanders asked for an extra evening sailing on Fridays so that students can travel home.</p>
</article>
<footer><p>Copyright 2019 Western Herald Newspapers. Last updated 12 May 2019.</p></footer>
</body></html>
"""
COUNCIL_MD = """---
title: Councillors back the Salmon Weir bridge
date: 2024-03-08
source: Connacht Tribune
url: https://connachttribune.example/2024/03/08/salmon-weir-bridge
---
# Councillors back the Salmon Weir bridge

Galway councillors have backed a budget of 9 million euros for the Salmon Weir pedestrian bridge.
The vote on Wednesday ended a long argument about cycling routes across the city centre.
Work on the bridge is expected to start in the autumn.
"""
WIRE_TXT = """Title: Bridge cost put at 14 million euros
Date: 12 March 2024
Source: Western Herald
URL: https://westernherald.example/2024/salmon-weir-cost

Galway City Council approved 14 million euros for the Salmon Weir pedestrian bridge, according to the Western Herald.
Opposition councillors said the cost had grown since the first plans were drawn up.
The bridge is meant to ease traffic on the Salmon Weir road bridge.
"""
ARCHIVE_CSV = (
    "Headline,Body,Published,Publisher,Link\n"
    # row 2: a quoted body holding commas, quotes and newlines (three lines of the file)
    'Harbour dredging finished,"The dredging of Galway harbour, which began in May, is finished.\n'
    'The port company said ""larger ships, up to 200 metres long, can now berth"".\n'
    'Fishermen welcomed the news.",2023-11-20,Galway Daily,https://galwaydaily.example/news/dredging\n'
    # row 3: four fields, not five
    "Bad row,only four fields,2023-12-01,Galway Daily\n"
    # row 4: a date that is not one
    "Christmas market opens,The Christmas market opened in Eyre Square with sixty stalls.,"
    "sometime before Christmas,Connacht Tribune,https://connachttribune.example/market\n"
    # row 5: no text
    "Empty story,,2024-01-05,Western Herald,https://westernherald.example/empty\n"
    # row 6: a long-form date, a relative link
    "Flood defences approved,The Office of Public Works approved flood defences for the Spanish Arch.,"
    "\"March 7, 2024\",Western Herald,/news/flood-defences\n"
)
WIRE_JSONL = json.dumps({
    "id": "herald-2024-02-14", "title": "Airport passenger numbers rise",
    "text": "Shannon Airport handled two million passengers last year, its best year since 2008.",
    "date": "Wed, 14 Feb 2024 10:00:00 GMT", "source": "Western Herald",
    "url": "https://westernherald.example/airport",
}) + "\n"
NEWS_ARCHIVE = {
    "galway-daily/salmon-weir-bridge.html": BRIDGE_HTML,
    "connacht-tribune/salmon-weir-bridge.md": COUNCIL_MD,
    "western-herald/salmon-weir-cost.txt": WIRE_TXT,
    "western-herald/ferry.html": UNDATED_HTML,
    "western-herald/wire.jsonl": WIRE_JSONL,
    "archive.csv": ARCHIVE_CSV,
}


def write_news_archive(folder: Path) -> Path:
    """Write the synthetic news archive (:data:`NEWS_ARCHIVE`) into ``folder``; returns it."""
    for name, text in NEWS_ARCHIVE.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder
