"""An article's date, source and URL, from what its file states, never from a guess.

Dates are normalised to ISO ``YYYY-MM-DD`` by :func:`iso_date`, strictly: the forms below are
read, anything else is refused (the caller keeps the article without a date and warns).

- ISO 8601 dates and date-times, ``2024-03-07``, ``2024-03-07T23:30:00-05:00``: the date as
  written (the zone is not applied, so a late-evening story keeps its local date); and the
  basic form ``20240307``;
- ``2024/03/07`` (year first);
- ``7 March 2024``, ``7 Mar 2024``, ``March 7, 2024``, ``Mar 7 2024``, with or without a
  weekday in front (``Thursday, 7 March 2024``);
- RFC 2822 (e-mail and RSS): ``Thu, 07 Mar 2024 10:00:00 GMT``, the date as written.

``03/07/2024`` is refused: it is 3 July in most of the world and March 7 in the United States,
and one file may mix writers, so qa does not pick.

The other readers of structure live here too: HTML's structured metadata
(:func:`html_metadata`), Markdown's YAML front matter (:func:`front_matter`) and a plain-text
file's header block (:func:`text_header`).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

ISO_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)?)?", re.ASCII
)
YEAR_FIRST = re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})", re.ASCII)
ISO_BASIC = re.compile(r"(\d{4})(\d{2})(\d{2})", re.ASCII)
WEEKDAY = (r"(?:(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday"
           r"|mon|tues|tue|wed|thurs|thur|thu|fri|sat|sun)\.?,?\s+)?")
DAY_MONTH_YEAR = re.compile(WEEKDAY + r"(\d{1,2})(?:st|nd|rd|th)?\s+([a-z]+)\.?,?\s+(\d{4})", re.IGNORECASE)
MONTH_DAY_YEAR = re.compile(WEEKDAY + r"([a-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})", re.IGNORECASE)
RFC_2822 = re.compile(r"(?:[a-z]{3},\s*)?\d{1,2}\s+[a-z]{3}\s+\d{4}\s+\d{2}:\d{2}", re.IGNORECASE)
MONTHS = {
    name: number
    for number, names in enumerate(
        [("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",), ("june", "jun"),
         ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"), ("october", "oct"),
         ("november", "nov"), ("december", "dec")],
        start=1,
    )
    for name in names
}
DATE_FORMS = "YYYY-MM-DD, an ISO date-time, YYYY/MM/DD, '7 March 2024', 'March 7, 2024' or RFC 2822"


class DateError(ValueError):
    """A date in a form :func:`iso_date` does not read; the message says which forms it does."""


def iso_date(value: object) -> str:
    """``value`` (a string, or a ``date``/``datetime`` as YAML gives) as ``YYYY-MM-DD``;
    :class:`DateError` if it is not one of the forms in the module docstring."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = " ".join(str(value).split())
    found = None
    if match := ISO_DATE_TIME.fullmatch(text):
        found = tuple(int(part) for part in match.groups())
    elif (match := YEAR_FIRST.fullmatch(text)) or (match := ISO_BASIC.fullmatch(text)):
        found = tuple(int(part) for part in match.groups())
    elif (match := DAY_MONTH_YEAR.fullmatch(text)) and match.group(2).lower() in MONTHS:
        found = (int(match.group(3)), MONTHS[match.group(2).lower()], int(match.group(1)))
    elif (match := MONTH_DAY_YEAR.fullmatch(text)) and match.group(1).lower() in MONTHS:
        found = (int(match.group(3)), MONTHS[match.group(1).lower()], int(match.group(2)))
    elif RFC_2822.match(text):
        try:
            return email.utils.parsedate_to_datetime(text).date().isoformat()
        except (TypeError, ValueError):
            pass
    if found is not None:
        try:
            return dt.date(*found).isoformat()
        except ValueError:
            pass
    raise DateError(f"date {text[:80]!r} is not understood (write {DATE_FORMS})")


def date_or_none(value: object) -> tuple[str | None, str | None]:
    """(the ISO date, None), or (None, the warning) when ``value`` is not a date :func:`iso_date`
    reads. An empty value is no date and no warning."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    try:
        return iso_date(value), None
    except DateError as error:
        return None, f"{error}: kept without a date"


def text_of(value: object) -> str | None:
    """A metadata value as one line of text, None when empty or not a scalar."""
    if value is None or isinstance(value, (dict, list)):
        return None
    text = " ".join(str(value).split())
    return text or None


# ---------------------------------------------------------------- HTML


@dataclass(frozen=True)
class PageMetadata:
    """What an HTML page states about itself; each field None when it states nothing."""

    dates: tuple[str, ...] = ()  # the candidate dates, best first, as written
    source: str | None = None
    url: str | None = None


def html_metadata(html: str) -> PageMetadata:
    """The page's structured metadata, read with lxml: the date from ``<meta
    property="article:published_time">``, then JSON-LD ``datePublished``, then the first
    ``<time datetime>``; the source from ``og:site_name``, then JSON-LD ``publisher.name``; the
    URL from ``<link rel="canonical">``, then ``og:url``. Text is never searched for dates."""
    import lxml.html

    try:
        tree = lxml.html.fromstring(html.encode("utf-8"))
    except (ValueError, lxml.etree.ParserError):
        return PageMetadata()
    meta: dict[str, str] = {}
    for element in tree.iter("meta"):
        key = (element.get("property") or element.get("name") or "").strip().lower()
        content = element.get("content")
        if key and content and key not in meta:
            meta[key] = content.strip()
    objects = list(json_ld(tree))
    dates = [meta.get("article:published_time")]
    dates += [item.get("datePublished") for item in objects]
    dates += [element.get("datetime") for element in tree.iter("time")][:1]
    publishers = [publisher_name(item.get("publisher")) for item in objects]
    canonical = next((link.get("href") for link in tree.iter("link")
                      if "canonical" in (link.get("rel") or "").lower().split() and link.get("href")), None)
    return PageMetadata(
        dates=tuple(text for text in map(text_of, dates) if text),
        source=next((text for text in map(text_of, [meta.get("og:site_name"), *publishers]) if text), None),
        url=text_of(canonical) or text_of(meta.get("og:url")),
    )


def json_ld(tree: Any) -> Iterator[Mapping[str, Any]]:
    """Every JSON object in the page's ``application/ld+json`` scripts (lists and ``@graph``
    opened); a script that is not valid JSON is passed over."""
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json":
            continue
        try:
            data = json.loads(script.text or "")
        except ValueError:
            continue
        stack = [data]
        while stack:
            item = stack.pop(0)
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                yield item
                if isinstance(item.get("@graph"), list):
                    stack.extend(item["@graph"])


def publisher_name(publisher: object) -> str | None:
    if isinstance(publisher, list):
        return next((name for name in map(publisher_name, publisher) if name), None)
    if isinstance(publisher, dict):
        return text_of(publisher.get("name"))
    return text_of(publisher)


# ---------------------------------------------------------------- Markdown and plain text

FRONT_MATTER_KEYS = ("title", "date", "source", "url")


@dataclass(frozen=True)
class Header:
    """Metadata read from the top of a file, the body without it, and what was wrong with it."""

    fields: dict[str, Any]  # of FRONT_MATTER_KEYS, as found
    body: str
    problem: str | None = None


def front_matter(text: str) -> Header:
    """Markdown's YAML front matter: a ``---`` line first in the file, YAML, then a ``---`` (or
    ``...``) line. The block is not part of the body. With no closing line there is no front
    matter (a first ``---`` is then a rule). A block that is not valid YAML, or not a mapping,
    is kept as body text, with the problem said: nothing the author wrote is dropped."""
    lines = text.split("\n")
    if not lines or lines[0].rstrip() != "---":
        return Header({}, text)
    end = next((i for i, line in enumerate(lines[1:], start=1) if line.rstrip() in ("---", "...")), None)
    if end is None:
        return Header({}, text)
    import yaml

    try:
        data = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 2})" if mark is not None else ""
        return Header({}, text, f"the front matter is not valid YAML{where}: indexed as body text")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return Header({}, text, "the front matter is not a mapping of keys to values: indexed as body text")
    fields = {str(key).strip().lower(): value for key, value in data.items()}
    return Header({key: fields[key] for key in FRONT_MATTER_KEYS if key in fields},
                  "\n".join(lines[end + 1:]).lstrip("\n"))


TEXT_HEADER_LINE = re.compile(r"(title|date|source|url)[ \t]*:[ \t]*(.*)", re.IGNORECASE)


def text_header(text: str) -> Header:
    """A plain-text file's leading header block, as wire copy has: ``Title:``, ``Date:``,
    ``Source:`` and ``URL:`` lines (keys in any case, each at most once), ended by a blank line.
    Only a block made of such lines and nothing else is a header; otherwise the file is all
    body (a headline, a blank line and the story stays as it is)."""
    lines = text.split("\n")
    fields: dict[str, str] = {}
    for i, line in enumerate(lines):
        if not line.strip():
            if fields:
                return Header(fields, "\n".join(lines[i + 1:]).lstrip("\n"))
            return Header({}, text)
        match = TEXT_HEADER_LINE.fullmatch(line.strip())
        if match is None or match.group(1).lower() in fields:
            return Header({}, text)
        fields[match.group(1).lower()] = match.group(2).strip()
    return Header({}, text)  # no blank line after it: not a header
