"""Sentence boundaries with character offsets, tuned for news text.

Rules, in order:
- a line break, or a run of two or more spaces, always ends a sentence: news feeds run section
  headings into the text with only a double space (``...borders of Iran. Iran's membership in
  Shanghai organization paves way for strengthening ties with members  Responding to ...``);
- ``.``, ``!``, ``?`` or ``…`` (with any closing quotes or brackets after them) end a sentence when
  whitespace and then something that can start a sentence (not a lower-case letter) follow;
- but not after a known abbreviation (``Maj. Gen.``, ``Mr.``, ``U.S.``, ``No. 5``) or a lone initial.
"""

from __future__ import annotations

import re

# Lower-case, without the final full stop. "etc" is left out on purpose: it usually ends a sentence.
ABBREVIATIONS = frozenset(
    """
    mr mrs ms messrs dr prof sr jr st mt ft rev hon pres gov sen rep amb sec gen maj col lt capt cpt
    cmdr cdr adm sgt cpl pvt brig lt.col insp supt det no nos vol art fig figs p pp ch sec para
    approx est dept univ assn bros co corp inc ltd plc llc vs v jan feb mar apr jun jul aug sep sept
    oct nov dec mon tue tues wed thu thur thurs fri sat sun a.m p.m u.s u.k u.n e.u e.g i.e cf al
    """.split()
)

BREAK = re.compile(r"\n|[ \t\u00a0]{2,}")
TERMINATOR = re.compile(r"(?:[.!?…]+)[\"'”’»)\]]*(?=\s)")
WORD_BEFORE = re.compile(r"([\w.]+)\.$")
SPACE = re.compile(r"\s+")


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences of ``text[start:end]``, whitespace trimmed."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    block_start = start
    for brk in BREAK.finditer(text, start, end):
        spans.extend(_split_block(text, block_start, brk.start()))
        block_start = brk.end()
    spans.extend(_split_block(text, block_start, end))
    return spans


def _split_block(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans = []
    sentence_start = start
    for match in TERMINATOR.finditer(text, start, end):
        if not _opens_sentence(text, match.end(), end) or _is_abbreviation(text, start, match):
            continue
        spans.append((sentence_start, match.end()))
        sentence_start = match.end()
    spans.append((sentence_start, end))
    return [span for span in (_trim(text, *span) for span in spans) if span[0] < span[1]]


def _opens_sentence(text: str, position: int, end: int) -> bool:
    """Whitespace at ``position``, then anything but a lower-case letter (in any script)."""
    space = SPACE.match(text, position, end)
    return space is not None and space.end() < end and not text[space.end()].islower()


def _is_abbreviation(text: str, block_start: int, match: re.Match[str]) -> bool:
    if text[match.start()] != "." or match.end() - match.start() != 1:
        return False  # "!", "?", "..." or a closing quote: a real end
    word = WORD_BEFORE.search(text, max(block_start, match.start() - 20), match.end())
    if word is None:
        return False
    token = word.group(1).lower()
    return token in ABBREVIATIONS or (len(token) == 1 and token.isalpha())


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
