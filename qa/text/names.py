"""File names as qa shows and stores them: UTF-8 or refused, one line each. Linux names are bytes;
Python holds the bytes UTF-8 cannot decode as lone surrogates, and every report, manifest and
page qa writes is UTF-8."""

from __future__ import annotations

import unicodedata


def is_utf8(name: str) -> bool:
    """Whether ``name`` can be written as UTF-8: False for a file name whose bytes are not valid
    UTF-8 (decoded by Python with ``surrogateescape``) and for any other lone surrogate."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def escape_undecodable(name: str) -> str:
    """``name`` with what UTF-8 cannot encode shown escaped: a byte of a file name that is not
    valid UTF-8 as ``\\xNN`` (the byte itself), any other lone surrogate as ``\\uNNNN``."""
    if is_utf8(name):
        return name
    return "".join(
        f"\\x{ord(char) - 0xDC00:02x}" if "\udc80" <= char <= "\udcff"
        else f"\\u{ord(char):04x}" if "\ud800" <= char <= "\udfff"
        else char
        for char in name
    )


def printable(name: str) -> str:
    """A file name fit for one line of a report: control characters (a newline in a name)
    shown escaped, so one name cannot pose as two lines, and bytes that are not UTF-8 too
    (:func:`escape_undecodable`), so printing it cannot fail."""
    name = escape_undecodable(name)
    if all(unicodedata.category(char) != "Cc" for char in name):
        return name
    return "".join(char.encode("unicode_escape").decode("ascii") if unicodedata.category(char) == "Cc" else char
                   for char in name)


def replace_surrogates(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD: pypdf can extract them from a PDF's
    character map, and a JSON ``"\\ud800"`` escape makes one, but they are not characters and
    UTF-8 cannot store them. One character for one, so offsets into the text do not move."""
    if is_utf8(text):
        return text
    return "".join("\ufffd" if "\ud800" <= char <= "\udfff" else char for char in text)
