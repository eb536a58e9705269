"""The corpus boundary: which files under the corpus folders may be read at all.

A news archive unpacked from someone else's tarball can carry symbolic links, to
``~/.ssh/id_rsa`` or a ``.env`` as easily as to another article. A file whose real path lies
outside every corpus folder is refused by name with :data:`LINK_OUTSIDE`, so neither
``qa index``, the Ray engine nor the chat ever reads it. A link whose target stays inside a
corpus folder is read once: when two names reach the same file, the name that is not a link
(else the first in id order) keeps it and the other is reported with :data:`SAME_FILE`.
Names longer than the file system allows are refused with :data:`NAME_TOO_LONG`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

MAX_NAME_BYTES = 255  # NAME_MAX on Linux, macOS and Windows (in UTF-16 units there)
LINK_OUTSIDE = "a link to a file outside the corpus folders: not read (copy the file in if it belongs)"
SAME_FILE = "a link to {first}, which is read once, as {first}"
NAME_TOO_LONG = "the file name is {size} bytes long, over the limit of {limit}: rename the file"


def name_problem(name: str) -> str | None:
    """Why ``name`` (one path component) cannot be a file name here, or None."""
    size = len(name.encode("utf-8", "surrogateescape"))
    return NAME_TOO_LONG.format(size=size, limit=MAX_NAME_BYTES) if size > MAX_NAME_BYTES else None


def real_roots(roots: Iterable[Path]) -> list[str]:
    """The real paths of the corpus roots (a folder given as a link is its target)."""
    return [os.path.realpath(root) for root in roots]


def inside(real: str, roots: Iterable[str]) -> bool:
    """Whether the real path ``real`` is one of ``roots`` or lies under one of them."""
    return any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def screen(found: Mapping[str, Path], roots: Iterable[Path]) -> tuple[dict[str, Path], list[tuple[str, str]]]:
    """``found`` (id -> path, as the corpus walk found them) split into the files that may be
    read and the ``(id, reason)`` of those that may not: links leading out of the corpus
    folders, and second names of a file already read under another."""
    allowed = real_roots(roots)
    kept: dict[str, Path] = {}
    refused: list[tuple[str, str]] = []
    owner: dict[str, str] = {}  # real path -> the id that reads it
    # Plain files first, so a link never takes the id of the file it points at.
    order = sorted(found, key=lambda file_id: (os.path.islink(found[file_id]), file_id))
    for file_id in order:
        path = found[file_id]
        real = os.path.realpath(path)
        if not inside(real, allowed):
            refused.append((file_id, LINK_OUTSIDE))
        elif real in owner:
            refused.append((file_id, SAME_FILE.format(first=repr(owner[real]))))
        else:
            owner[real] = file_id
            kept[file_id] = path
    return {file_id: kept[file_id] for file_id in sorted(kept)}, refused
