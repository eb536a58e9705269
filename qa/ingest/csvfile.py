"""CSV files: one article per row, as news dumps and spreadsheets export them.

The first row is the header. Its columns are matched case-insensitively, with the usual
aliases (:data:`COLUMNS`); other columns are ignored. A file whose header names no text column
is refused, saying which names would do. Rows are numbered as a spreadsheet numbers them, the
header being row 1 (a quoted field that spans lines is still one row); a row is named
``file.csv:ROW`` in the report and, when it has no ``id``, that is its id too. A row with the
wrong number of fields or no text is refused alone; a date that is not one is dropped with a
warning; the other rows are kept. Python's :mod:`csv` reads the quoting (fields holding commas,
quotes and newlines), strictly: a stray quote is reported with its row rather than read as the
start of a field that swallows the rows after it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from qa.ingest.metadata import text_of
from qa.ingest.readers import UnreadableError, dated, decode, make_article
from qa.types import Article, Rejected

COLUMNS = {
    "text": ("text", "body", "content", "article"),
    "title": ("title", "headline"),
    "date": ("date", "published", "publish_date", "pubdate"),
    "source": ("source", "publisher", "outlet"),
    "url": ("url", "link"),
    "id": ("id",),
}


def header_columns(header: list[str]) -> dict[str, int]:
    """Field -> the position of its column: of the names that match it, the first alias in
    :data:`COLUMNS` order (``text`` before ``body``), the leftmost when a name repeats."""
    names = [name.strip().lower() for name in header]
    found = {}
    for field, aliases in COLUMNS.items():
        for alias in aliases:
            if alias in names:
                found[field] = names.index(alias)
                break
    return found


def read_csv(data: bytes, path: str, rejected: list[Rejected], warnings: list[Rejected]) -> Iterator[Article]:
    """The articles of a CSV file, one per row (see the module docstring)."""
    text = decode(data)
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))  # an article may exceed the 128 KB default
    rows = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(rows, None)
    except csv.Error as error:
        raise UnreadableError(f"the header row is not valid CSV ({error})") from error
    if not header or not any(name.strip() for name in header):
        raise UnreadableError("no header row (the first row must name the columns, one of them the text)")
    columns = header_columns(header)
    if "text" not in columns:
        names = ", ".join(repr(name.strip()) for name in header if name.strip())
        raise UnreadableError(
            f"no text column: the header ({names}) names none of {', '.join(COLUMNS['text'])}"
            " (rename the column that holds the articles' text)"
        )
    number = 1
    while True:
        number += 1
        where = f"{path}:{number}"
        try:
            row = next(rows, None)
        except csv.Error as error:  # strict: a stray quote, or one never closed, is said, not swallowed
            rejected.append(Rejected(where, f"not valid CSV ({error}): a field holding quotes must be in double"
                                            ' quotes, with each quote inside it doubled ("")'))
            continue
        if row is None:
            return
        if not row or not any(field.strip() for field in row):
            continue  # a blank row
        if len(row) != len(header):
            rejected.append(Rejected(where, f"{len(row)} fields, but the header has {len(header)}"
                                            " (a field holding a comma or a newline must be in double quotes)"))
            continue
        body = row[columns["text"]]
        if not body.strip():
            rejected.append(Rejected(where, f"no text (the {header[columns['text']].strip()!r} column is empty)"))
            continue
        values = {name: row[position] for name, position in columns.items()}
        yield make_article(
            text_of(values.get("id")) or where, where, text_of(values.get("title")) or "", body,
            date=dated(where, values.get("date"), warnings),
            source=text_of(values.get("source")), url=text_of(values.get("url")),
        )
