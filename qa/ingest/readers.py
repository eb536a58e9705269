"""The format readers: bytes of one .txt, .md, .html/.htm, .pdf, .jsonl or .csv file to articles,
with a clear reason when a file cannot be read. The corpus walk (qa.ingest.corpus) picks the
reader by suffix. Every reader is called ``reader(data, file_id, rejected, warnings)``: a part of
the file refused on its own (a JSONL line, a CSV row) goes to ``rejected``; what is kept but
was wrong (a date that is not one) goes to ``warnings``; a whole file refused raises
:class:`UnreadableError`. Dates, sources and URLs come from what the file states
(qa.ingest.metadata), never from a guess."""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterator

from qa.ingest.metadata import date_or_none, front_matter, html_metadata, text_header, text_of
from qa.text.jsonl import numbered_lines
from qa.text.names import is_utf8, replace_surrogates
from qa.types import Article, Rejected

TEXT_SUFFIXES = {".txt", ".text"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | MARKDOWN_SUFFIXES | HTML_SUFFIXES | {".jsonl", ".csv", ".pdf"}
MAX_TITLE_CHARS = 160


class UnreadableError(ValueError):
    """Raised by the format readers; the message is the reason shown to the user."""


def content_hash(title: str, text: str, *extra: str | None) -> str:
    digest = hashlib.sha256()
    for part in (title, text, *extra):
        digest.update((part or "").encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), falling back to Windows-1252, then Latin-1.

    Newlines are normalised to ``\\n``. Binary data is refused.
    """
    if b"\0" in data[:8192]:
        raise UnreadableError("binary data, not text (NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    return normalize_newlines(text)


def normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def title_from_text(text: str) -> str:
    """The first non-empty line, without Markdown heading marks, shortened at a word."""
    for line in text.split("\n"):
        line = line.strip().lstrip("#").strip()
        if line:
            return shorten(line)
    return ""


def shorten(line: str, limit: int = MAX_TITLE_CHARS) -> str:
    line = " ".join(line.split())
    if len(line) <= limit:
        return line
    cut = line.rfind(" ", 0, limit)
    return line[: cut if cut > limit // 2 else limit].rstrip(" ,;:—-") + "…"


def markdown_title(text: str) -> str:
    heading = re.search(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", text, flags=re.MULTILINE)
    return shorten(heading.group(1)) if heading else title_from_text(text)


def require_text(text: str) -> str:
    if not text.strip():
        raise UnreadableError("no text in it")
    return text


def make_article(article_id: str, path: str, title: str, text: str, **meta: str | None) -> Article:
    text, title = replace_surrogates(text), replace_surrogates(title)
    meta = {key: value if value is None else replace_surrogates(value) for key, value in meta.items()}
    title = shorten(title) if title.strip() else title_from_text(text)
    return Article(
        id=article_id,
        title=title,
        text=text,
        sha256=content_hash(title, text, *(meta.get(key) for key in ("date", "url", "source"))),
        path=path,
        **meta,
    )


def dated(where: str, value: object, warnings: list[Rejected]) -> str | None:
    """``value`` as an ISO date (qa.ingest.metadata.iso_date); None, and a warning naming
    ``where`` and the value, when it is not a date."""
    date, problem = date_or_none(value)
    if problem:
        warnings.append(Rejected(where, problem))
    return date


def header_meta(where: str, fields: dict, warnings: list[Rejected]) -> dict[str, str | None]:
    """date, source and url of a header's fields (front matter, a text header), normalised."""
    return {
        "date": dated(where, fields.get("date"), warnings),
        "source": text_of(fields.get("source")),
        "url": text_of(fields.get("url")),
    }


def read_text(data: bytes, article_id: str, rejected: list[Rejected], warnings: list[Rejected]) -> Iterator[Article]:
    """The whole file, unless it opens with a header block (``Title:``, ``Date:``, ``Source:``,
    ``URL:`` lines, then a blank line: qa.ingest.metadata.text_header), which is read and cut off."""
    header = text_header(require_text(decode(data)))
    text = require_text(header.body)
    title = text_of(header.fields.get("title")) or title_from_text(text)
    yield make_article(article_id, article_id, title, text, **header_meta(article_id, header.fields, warnings))


def read_markdown(
    data: bytes, article_id: str, rejected: list[Rejected], warnings: list[Rejected]
) -> Iterator[Article]:
    """The file without its YAML front matter (qa.ingest.metadata.front_matter), which gives its
    title, date, source and url; the title is else the first heading."""
    header = front_matter(require_text(decode(data)))
    if header.problem:
        warnings.append(Rejected(article_id, header.problem))
    text = require_text(header.body)
    title = text_of(header.fields.get("title")) or markdown_title(text)
    yield make_article(article_id, article_id, title, text, **header_meta(article_id, header.fields, warnings))


def read_html(data: bytes, article_id: str, rejected: list[Rejected], warnings: list[Rejected]) -> Iterator[Article]:
    """The page's text and title by trafilatura; its date, source and url from its structured
    metadata only (qa.ingest.metadata.html_metadata). trafilatura's own date is not used: htmldate
    guesses one from the text when the page states none (a footer's copyright year)."""
    import trafilatura  # a few hundred ms to import; only paid when there is HTML
    from trafilatura.settings import set_date_params

    html = decode(data)
    document = trafilatura.bare_extraction(
        html, include_comments=False, include_tables=True, favor_recall=True, with_metadata=True,
        date_extraction_params=set_date_params(False),  # no search of the text; and its result is unused
    )
    if document is None or isinstance(document, dict) or not (document.text or "").strip():  # dict: as_dict only
        raise UnreadableError("no article text found in the HTML")
    text = normalize_newlines(document.text or "")
    page = html_metadata(html)
    date = None
    for value in page.dates:  # the first that is a date; a warning if none is
        date, _ = date_or_none(value)
        if date:
            break
    else:
        if page.dates:
            dated(article_id, page.dates[0], warnings)
    yield make_article(
        article_id, article_id, document.title or title_from_text(text), text,
        date=date, url=page.url, source=page.source,
    )


def read_pdf(data: bytes, article_id: str, rejected: list[Rejected], warnings: list[Rejected]) -> Iterator[Article]:
    import pypdf

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise UnreadableError("the PDF is encrypted")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = (reader.metadata.title if reader.metadata else None) or ""
    except UnreadableError:
        raise
    except Exception as error:  # noqa: BLE001 - pypdf raises many kinds on damaged files
        raise UnreadableError(f"not a readable PDF ({type(error).__name__}: {error})") from error
    text = require_text(normalize_newlines("\n\n".join(page.strip() for page in pages)))
    yield make_article(article_id, article_id, title or title_from_text(text), text)


def read_jsonl(data: bytes, path: str, rejected: list[Rejected], warnings: list[Rejected]) -> Iterator[Article]:
    """One article per line: {"id", "title", "text"} and optional "date", "url", "source".

    A bad line is rejected on its own (``file.jsonl:LINE``); the other lines are kept. A date
    that is not one is dropped, with a warning naming the line and the value.
    """
    for number, line in numbered_lines(decode(data).split("\n")):
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            rejected.append(Rejected(where, f"invalid JSON ({error.msg})"))
            continue
        if not isinstance(record, dict):
            rejected.append(Rejected(where, "a line must be a JSON object"))
            continue
        missing = [key for key in ("id", "text") if record.get(key) in (None, "")]
        if missing:
            rejected.append(Rejected(where, f"missing field(s): {', '.join(missing)}"))
            continue
        text = record["text"]
        if not isinstance(text, str) or not text.strip():
            rejected.append(Rejected(where, '"text" must be a non-empty string'))
            continue
        if not is_utf8(str(record["id"])):  # an id is the article's name: not repaired, refused
            rejected.append(Rejected(where, '"id" has a lone surrogate escape (such as \\ud800), which is not'
                                            " a character: give the article another id"))
            continue
        meta = {key: text_of(record.get(key)) for key in ("url", "source")}
        meta["date"] = dated(where, record.get("date"), warnings)
        yield make_article(
            str(record["id"]), where, str(record.get("title") or ""), normalize_newlines(text), **meta
        )


READERS = {
    **{suffix: read_text for suffix in TEXT_SUFFIXES},
    **{suffix: read_markdown for suffix in MARKDOWN_SUFFIXES},
    **{suffix: read_html for suffix in HTML_SUFFIXES},
    ".pdf": read_pdf,
    ".jsonl": read_jsonl,
}
