"""Read a corpus folder into articles: .txt, .md, .html/.htm, .jsonl, .csv and .pdf.

A file that cannot be read is reported (:class:`Rejected`, with the reason) and skipped;
it never stops the run. What is kept but was wrong in it (a date that is not one) is reported
the same way, as a warning, and skips nothing. So is a file or folder whose name is not valid UTF-8 (on Linux a name
is bytes; Python holds the bytes UTF-8 cannot decode as lone surrogates): the index, the report
and the chat all write names as UTF-8, so such a name is refused, shown with those bytes
escaped (``caf\\xe9.txt``), and the user is asked to rename it. Walks are sorted, so the same
folder always gives the same articles.
An article whose content (title, text and metadata) equals an earlier one's is stored once:
the later copy is reported as a duplicate of the first. Files and articles beyond the
:class:`~qa.config.IngestLimits` are refused with the limit named.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from qa.config import IngestLimits
from qa.ingest.boundary import screen
from qa.ingest.csvfile import read_csv
from qa.ingest.owners import keepers, refusal
from qa.ingest.readers import READERS, SUPPORTED_SUFFIXES, UnreadableError
from qa.text.names import is_utf8
from qa.types import Article, Rejected

LINK_TO_FOLDER = "a link to a folder: not followed (a link loop would never end)"
UNDECODABLE_NAME = "the file name is not valid UTF-8: rename the file"
UNDECODABLE_FOLDER = "the folder name is not valid UTF-8: not read (rename the folder)"
FORMATS = {**READERS, ".csv": read_csv}  # suffix -> reader (qa.ingest.readers)


@dataclass
class Corpus:
    """What reading the corpus produced."""

    articles: list[Article] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    warnings: list[Rejected] = field(default_factory=list)  # kept, but something in it was wrong


def corpus_files(
    roots: Iterable[Path], rejected: list[Rejected] | None = None, paths: dict[str, Path] | None = None
) -> Iterator[tuple[Path, str]]:
    """(file, id) for every file under the roots, sorted by id; hidden files and folders are
    skipped. The id is the path relative to the root (the file name when the root is a file);
    with several roots, relative to the folder that holds them all, so ids stay distinct.
    Symbolic links to folders are not followed, so a link loop cannot trap the walk; neither are
    files and folders whose names are not valid UTF-8 (:func:`is_utf8`) read, nor files reached
    through a link out of the corpus folders (:mod:`qa.ingest.boundary`): each of these is reported in
    ``rejected`` when given. ``paths``, when given, receives id -> path of every file seen,
    refused links included (so the chat can delete one)."""
    roots = [Path(root) for root in roots if Path(root).exists()]
    if not roots:
        return
    bases = [root if root.is_dir() else root.parent for root in roots]
    base = os.path.commonpath([os.path.abspath(b) for b in bases]) if len(roots) > 1 else os.path.abspath(bases[0])
    found = {}
    refused = []  # (id, reason)
    for root in roots:
        if root.is_file():
            file_id = relative_id(root, base)
            if is_utf8(file_id):
                found[file_id] = root
            else:
                refused.append((file_id, UNDECODABLE_NAME))
            continue
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in dirs:
                if os.path.islink(os.path.join(folder, name)):
                    refused.append((relative_id(Path(folder) / name, base), LINK_TO_FOLDER))
                elif not is_utf8(name):
                    refused.append((relative_id(Path(folder) / name, base), UNDECODABLE_FOLDER))
            dirs[:] = [d for d in dirs if is_utf8(d)]
            for name in files:
                if name.startswith("."):
                    continue
                path = Path(folder) / name
                file_id = relative_id(path, base)
                if is_utf8(file_id):
                    found[file_id] = path
                else:
                    refused.append((file_id, UNDECODABLE_NAME))
    if paths is not None:
        paths.update(found)
    found, outside = screen(found, roots)  # links out of the corpus, second names of one file
    if rejected is not None:
        rejected.extend(Rejected(file_id, reason) for file_id, reason in sorted(refused + outside))
    for file_id in sorted(found):
        yield found[file_id], file_id


def relative_id(path: Path, base: str) -> str:
    """``path`` relative to ``base``, with "/" separators; links are not resolved."""
    return Path(os.path.relpath(os.path.abspath(path), base)).as_posix()


def list_corpus(roots: Iterable[Path]) -> tuple[list[tuple[Path, str]], list[Rejected]]:
    """The files to read under the roots, as (file, id) sorted by id, and what was refused before
    any file is read: roots that do not exist, and links to folders."""
    roots = list(roots)
    rejected = [Rejected(str(root), "no such file or folder") for root in roots if not Path(root).exists()]
    files = list(corpus_files(roots, rejected))
    return files, rejected


def read_corpus(
    roots: Iterable[Path], limits: IngestLimits | None = None, owners: Mapping[str, str] | None = None
) -> Corpus:
    """Every article under the roots, and every file that was skipped with the reason.

    Articles with the same content hash as an earlier one (in id order) are skipped as
    duplicates of it, so identical articles are stored once. ``owners``: see :func:`merge_files`."""
    limits = limits or IngestLimits()
    files, rejected = list_corpus(roots)
    return merge_files(rejected, (read_file(path, file_id, limits) for path, file_id in files), owners)


@dataclass(frozen=True)
class ParsedFile:
    """What one file gave: its articles, what of it was refused (the file, some of its JSONL
    lines or CSV rows, or its articles over the length limit), in the order they were found, and
    the warnings about what was kept (a date that is not one)."""

    articles: tuple[Article, ...] = ()
    rejected: tuple[Rejected, ...] = ()
    warnings: tuple[Rejected, ...] = ()


def merge_files(
    rejected: Iterable[Rejected], parsed: Iterable[ParsedFile], owners: Mapping[str, str] | None = None
) -> Corpus:
    """The corpus made of the files' articles, taken in order (the files sorted by id): an
    article whose id or content an earlier one had is refused as its duplicate, except that an
    id in ``owners`` (id -> file, the index's) stays with that file (:mod:`qa.ingest.owners`).
    ``rejected`` comes first in the report, then each file's refusals and duplicates in turn."""
    corpus = Corpus(rejected=list(rejected))
    files, owners = list(parsed), owners or {}
    keep = keepers(files, owners)
    seen: dict[str, str] = {}
    by_content: dict[str, str] = {}
    for file in files:
        corpus.rejected.extend(file.rejected)
        corpus.warnings.extend(file.warnings)
        for article in file.articles:
            if article.id in seen or keep.get(article.id, article.path) != article.path:
                corpus.rejected.append(Rejected(article.path, refusal(article.id, keep[article.id], owners)))
                continue
            if article.sha256 in by_content:
                first = by_content[article.sha256]
                corpus.rejected.append(
                    Rejected(article.path, f"duplicate of {first!r} (same title and text): stored once, as {first!r}")
                )
                continue
            seen[article.id] = article.path
            by_content[article.sha256] = article.id
            corpus.articles.append(article)
    return corpus


def read_file(path: Path, file_id: str, limits: IngestLimits | None = None) -> ParsedFile:
    """One file read (:func:`load_file`) and parsed (:func:`parse_file`)."""
    limits = limits or IngestLimits()
    try:
        data = load_file(path, file_id, limits)
    except UnreadableError as error:
        return ParsedFile(rejected=(Rejected(file_id, str(error)),))
    return parse_file(data, file_id, limits)


def load_file(path: Path, file_id: str, limits: IngestLimits) -> bytes:
    """The bytes of a file of a supported type, within the size limit; :class:`UnreadableError`
    with the reason otherwise. Nothing in it is decoded yet."""
    suffix = PurePosixPath(file_id).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        kind = f"'{suffix}'" if suffix else "a file with no extension"
        supported = " ".join(sorted(SUPPORTED_SUFFIXES))
        raise UnreadableError(f"unsupported file type {kind} (supported: {supported})")
    try:
        return read_bounded(path, limits)
    except OSError as error:
        raise UnreadableError(f"cannot read it ({error.strerror or error})") from error


def parse_file(data: bytes, file_id: str, limits: IngestLimits) -> ParsedFile:
    """The articles in the bytes of the file ``file_id`` (its suffix says the format), and what
    was refused. Needs no file system: the Ray engine runs it where the bytes were sent."""
    suffix = PurePosixPath(file_id).suffix.lower()
    rejected: list[Rejected] = []
    warnings: list[Rejected] = []
    try:
        articles = list(FORMATS[suffix](data, file_id, rejected, warnings))
    except UnreadableError as error:
        return ParsedFile(rejected=(*rejected, Rejected(file_id, str(error))), warnings=tuple(warnings))
    kept = []
    for article in articles:
        if len(article.text) > limits.max_article_chars:
            rejected.append(Rejected(article.path, (
                f"too long: {len(article.text):,} characters, the limit is {limits.max_article_chars:,}"
                " (split it, or raise QA_MAX_ARTICLE_CHARS)"
            )))
        else:
            kept.append(article)
    return ParsedFile(tuple(kept), tuple(rejected), tuple(warnings))


def read_bounded(path: Path, limits: IngestLimits) -> bytes:
    """The bytes of a regular file no larger than the limit. A pipe or device would block or
    never end, and a huge file would take hours to embed, so neither is read at all."""
    info = os.stat(path)  # follows links; a link loop raises OSError (ELOOP)
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableError("not a regular file (a pipe, socket or device)")
    limit = int(limits.max_file_mb * 1_000_000)
    if info.st_size > limit:
        raise UnreadableError(
            f"too large: {info.st_size / 1e6:.1f} MB, the limit is {limits.max_file_mb:g} MB"
            " (split it, or raise QA_MAX_FILE_MB)"
        )
    with path.open("rb") as handle:
        return handle.read(limit + 1)
