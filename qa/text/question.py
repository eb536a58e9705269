"""What a question may be before it is searched: any text, made safe and of bounded length."""

from __future__ import annotations

import re
import unicodedata

MAX_QUESTION_CHARS = 2000
_SPACE = re.compile(r"\s+")
_LEADING = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")  # white space and control characters before the question


def clean_question(question: object) -> str:
    """The question as qa searches it: ``None`` becomes empty, another non-text value its
    ``str``; control characters (NUL, escape sequences) and lone surrogates (which cannot
    be encoded) become spaces; runs of white space one space (however long the run before the
    first word); the result is cut at a word after :data:`MAX_QUESTION_CHARS` characters. The
    model itself reads at most 256 word pieces (about 1,000 characters) and drops the rest; the
    cut keeps the tokenizer and BM25 from working through a 100,000-character paste. Any script
    (Persian, Urdu, Chinese) is kept."""
    if question is None:
        return ""
    text = question if isinstance(question, str) else str(question)
    # what comes before the first word goes first, so however much of it there is, the cut below keeps the words
    # (one of SQuAD v1.0 train's questions is thousands of spaces, then the question)
    leading = _LEADING.match(text)
    text = text[leading.end() :] if leading else text
    text = "".join(
        " " if unicodedata.category(char) in ("Cc", "Cs") else char for char in text[: 4 * MAX_QUESTION_CHARS]
    )
    text = _SPACE.sub(" ", text).strip()
    if len(text) > MAX_QUESTION_CHARS:
        cut = text.rfind(" ", 0, MAX_QUESTION_CHARS)
        text = text[: cut if cut > MAX_QUESTION_CHARS // 2 else MAX_QUESTION_CHARS]
    return text
