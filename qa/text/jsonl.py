"""The lines of a JSONL (or TSV) file numbered as an editor shows them, blank lines skipped, so
every reader of one (articles, question sets, BEIR, `qa ask --questions`) can name a bad line
as ``file:LINE``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator


def numbered_lines(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    """(number from 1, line) of every line that is not blank. The caller splits the text (or
    passes an open file), as its format says lines end."""
    for number, line in enumerate(lines, start=1):
        if line.strip():
            yield number, line
