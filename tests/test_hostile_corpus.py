"""A hostile corpus: every kind of bad file next to good ones, built in tmp at test time.

`qa index` must index every good file, report every bad one by name with the reason, store
identical articles once, exit 3, never crash or hang, and lose nothing already indexed. The
library run uses the FakeEmbedder (the mechanics do not depend on the model); one real
`qa index` run with the real model covers the command line.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEmbedder
from test_ingest import PDF_LINES, PNG_1X1, pdf_bytes

from qa.config import IngestLimits, Settings
from qa.errors import ConfigError
from qa.indexer import update_index
from qa.ingest import UNDECODABLE_FOLDER, UNDECODABLE_NAME, Corpus, Rejected, read_corpus
from qa.store import FaissStore, read_manifest

QA = Path(sys.executable).with_name("qa")
MB = 1_000_000
TOO_LARGE = "too large: 50.0 MB, the limit is 20 MB (split it, or raise QA_MAX_FILE_MB)"
TOO_LONG = "too long: 1,048,576 characters, the limit is 500,000 (split it, or raise QA_MAX_ARTICLE_CHARS)"
LINK_TO_FOLDER = "a link to a folder: not followed (a link loop would never end)"
DUPLICATE = "duplicate of 'copy-a.txt' (same title and text): stored once, as 'copy-a.txt'"


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


GOOD = {  # file -> the article id it gives
    "existing.txt": "existing.txt",
    "good one.txt": "good one.txt",
    "новости дня.txt": "новости дня.txt",
    "line\nbreak.txt": "line\nbreak.txt",
    "latin1.txt": "latin1.txt",
    "bad-utf8.txt": "bad-utf8.txt",
    "malformed.html": "malformed.html",
    "report.pdf": "report.pdf",
    "long-line.txt": "long-line.txt",
    "copy-a.txt": "copy-a.txt",
}
JSONL_IDS = ["feed-1", "feed-5"]


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


def check_rejections(rejected: list[Rejected], expected: dict[str, str]) -> None:
    got = {r.path: r.reason for r in rejected}
    assert sorted(got) == sorted(expected)
    for path, reason in expected.items():
        if reason.endswith("("):
            assert got[path].startswith(reason) and got[path].endswith(")"), (path, got[path])
        else:
            assert got[path] == reason, path


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("hostile") / "corpus"
    return root, build_hostile_corpus(root)


def test_read_corpus_keeps_every_good_file_and_names_every_bad_one(hostile) -> None:
    root, expected = hostile
    corpus = read_corpus([root])
    assert sorted(a.id for a in corpus.articles) == sorted([*GOOD.values(), *JSONL_IDS])
    check_rejections(corpus.rejected, expected)
    by_id = {a.id: a for a in corpus.articles}
    assert by_id["latin1.txt"].title == "Transfer fee £15.8m"
    assert by_id["bad-utf8.txt"].text.startswith("Café closes\n\nThe café \x81 closed")  # Latin-1 fallback
    assert "The library vote was delayed by two weeks" in by_id["malformed.html"].text
    assert by_id["новости дня.txt"].title == "Новости дня: chess final"
    assert len(by_id["long-line.txt"].text) == 200_000
    # a name with a newline is reported on one line
    assert str(Rejected("bad\nname.txt", "no text in it")) == "bad\\nname.txt: no text in it"


def test_update_index_over_a_hostile_corpus_loses_nothing(hostile, tmp_path: Path, counter) -> None:
    root, expected = hostile
    settings = Settings(index_dir=tmp_path / "index", corpus=(root,))
    fake = FakeEmbedder()
    # first, an index of the one article that was there before the hostile files came
    everything = read_corpus([root])
    first = Corpus(articles=[a for a in everything.articles if a.id == "existing.txt"])
    update_index(settings, fake, corpus=first)
    before = FaissStore.load(settings.index_dir)

    report = update_index(settings, fake)

    assert report.written
    check_rejections(report.rejected, expected)
    assert report.diff.unchanged == ["existing.txt"]
    assert sorted(report.diff.added) == sorted([*GOOD.values(), *JSONL_IDS][1:])
    store = FaissStore.load(settings.index_dir)
    assert sorted(store.articles) == sorted([*GOOD.values(), *JSONL_IDS])
    assert len(store) == store.manifest.n_chunks == report.n_chunks
    assert report.embedded == len(store) - len(before)  # only the new articles were embedded
    # the article indexed before keeps its chunks, FAISS ids and vectors
    old = [row for row, chunk in enumerate(store.chunks) if chunk.article_id == "existing.txt"]
    assert [store.chunks[row].id for row in old] == [chunk.id for chunk in before.chunks]
    np.testing.assert_array_equal(store.ids[old], before.ids)
    np.testing.assert_array_equal(store.vectors()[old], before.vectors())
    # the 200,000-character line without punctuation is cut between words into many chunks
    line = [chunk for chunk in store.chunks if chunk.article_id == "long-line.txt"]
    assert len(line) > 100
    assert all(not chunk.text.startswith(" ") and counter.count([chunk.text])[0] <= 256 for chunk in line)
    # identical articles are stored once
    assert "copy-b.txt" not in store.articles
    assert sum(a.sha256 == store.articles["copy-a.txt"].sha256 for a in store.articles.values()) == 1


def test_size_limits_are_configurable(hostile) -> None:
    from qa.config import settings_from_env

    root, _ = hostile
    corpus = read_corpus([root], IngestLimits(max_file_mb=60, max_article_chars=2_000_000))
    assert "one-mb-line.txt" in {a.id for a in corpus.articles}
    # read now, the 50 MB file is refused for its length instead, before it is chunked
    huge = {r.path: r.reason for r in corpus.rejected}["huge.txt"]
    assert huge.startswith("too long: 50,0") and huge.endswith("characters, the limit is 2,000,000 (split it,"
                                                              " or raise QA_MAX_ARTICLE_CHARS)")
    tight = read_corpus([root], IngestLimits(max_article_chars=100_000))
    assert {r.path: r.reason for r in tight.rejected}["long-line.txt"] == (
        "too long: 200,000 characters, the limit is 100,000 (split it, or raise QA_MAX_ARTICLE_CHARS)"
    )
    settings = settings_from_env({"QA_MAX_FILE_MB": "60", "QA_MAX_ARTICLE_CHARS": "2000000"})
    assert settings.limits == IngestLimits(max_file_mb=60.0, max_article_chars=2_000_000)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read a chmod 000 file; see the test below")
def test_unreadable_file_is_reported(corpus_dir: Path) -> None:
    (corpus_dir / "locked.txt").write_text("Locked\n\nNobody may read this.")
    (corpus_dir / "locked.txt").chmod(0)
    corpus = read_corpus([corpus_dir])
    assert corpus.rejected == [Rejected("locked.txt", "cannot read it (Permission denied)")]


def test_permission_denied_is_reported_even_as_root(corpus_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same outcome as a chmod 000 file, made by refusing the open (tests often run as root)."""
    (corpus_dir / "locked.txt").write_text("Locked\n\nNobody may read this.")
    (corpus_dir / "open.txt").write_text("Open\n\nAnyone may read this.")
    real_open = Path.open

    def refusing_open(self: Path, *args, **kwargs):
        if self.name == "locked.txt":
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refusing_open)
    corpus = read_corpus([corpus_dir])
    assert [a.id for a in corpus.articles] == ["open.txt"]
    assert corpus.rejected == [Rejected("locked.txt", "cannot read it (Permission denied)")]


def test_qa_index_on_a_hostile_corpus_exits_3_naming_each_bad_file(tmp_path: Path, embedder) -> None:
    """The real command and model on the hostile corpus without the two big files (their
    size checks need no model), over an index that already holds one article (built with the
    same model through the library, to save a process start)."""
    root = tmp_path / "corpus"
    expected = build_hostile_corpus(root, big=False)
    index_dir = tmp_path / "index"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    # keep the real model's work small: the long line is refused here by a lower limit
    env["QA_MAX_ARTICLE_CHARS"] = "20000"
    expected["long-line.txt"] = (
        "too long: 200,000 characters, the limit is 20,000 (split it, or raise QA_MAX_ARTICLE_CHARS)"
    )
    update_index(Settings(index_dir=index_dir, corpus=(root / "existing.txt",)), embedder)
    first_chunks = read_manifest(index_dir).n_chunks

    run = subprocess.run([str(QA), "index", str(root), "--index-dir", str(index_dir), "--quiet"],
                         env=env, capture_output=True, text=True, timeout=600)

    assert run.returncode == 3, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    lines = run.stdout.splitlines()
    skipped = lines[lines.index(f"  skipped {len(expected)}:") + 1 :]
    shown = {line.strip().split(": ", 1)[0]: line.strip().split(": ", 1)[1] for line in skipped}
    assert sorted(shown) == sorted(name.replace("\n", "\\n") for name in expected)
    for name, reason in expected.items():
        assert shown[name.replace("\n", "\\n")].startswith(reason)
    manifest = read_manifest(index_dir)
    good = sorted(name for name in GOOD if name != "long-line.txt")
    assert sorted(manifest.articles) == sorted([*good, *JSONL_IDS])
    assert manifest.articles["existing.txt"]["n_chunks"] == first_chunks
    store = FaissStore.load(index_dir)
    assert len(store) == manifest.n_chunks


def write_bytes_name(folder: Path, name: bytes, content: bytes | None) -> None:
    """A file whose name is ``name`` as bytes (a folder when ``content`` is None), or the test is
    skipped where the file system refuses names that are not UTF-8."""
    path = os.path.join(os.fsencode(folder), name)
    try:
        if content is None:
            os.mkdir(path)
        else:
            with open(path, "wb") as out:
                out.write(content)
    except OSError as error:  # e.g. EILSEQ: the file system stores names as UTF-8 only
        pytest.skip(f"the file system refuses a file name that is not valid UTF-8 ({error})")


def undecodable_corpus(root: Path) -> dict[str, str]:
    """Good files next to a file, a folder (holding a good file) and a file with a newline whose
    names are not valid UTF-8; returns the report lines expected for them, {shown name: reason}."""
    root.mkdir(parents=True)
    (root / "good one.txt").write_text(story("Orchard record", "apple harvest"), encoding="utf-8")
    (root / "новости дня.txt").write_text(story("Новости дня: chess final", "chess final"), encoding="utf-8")
    write_bytes_name(root, b"caf\xe9.txt", story("Cafe closes", "cafe").encode("utf-8"))  # Latin-1 é
    write_bytes_name(root, b"news\n\xff.txt", story("Ferry timetable", "ferry timetable").encode("utf-8"))
    write_bytes_name(root, b"d\xe9p\xf4t", None)
    depot = story("Depot story", "bus depot").encode("utf-8")
    write_bytes_name(root / "d\udce9p\udcf4t", b"inside.txt", depot)  # a str path: surrogateescape
    return {
        "caf\\xe9.txt": UNDECODABLE_NAME,
        "d\\xe9p\\xf4t": UNDECODABLE_FOLDER,
        "news\\n\\xff.txt": UNDECODABLE_NAME,
    }


def test_names_that_are_not_utf8_are_reported_escaped_and_nothing_else_is_lost(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    undecodable_corpus(root)
    (root / "feed.jsonl").write_text("\n".join([  # JSON's escapes can make lone surrogates too
        '{"id": "feed-1", "title": "Dam \\ud800 opens", "text": "The dam \\udce9 opened on Friday."}',
        '{"id": "feed-\\ud800", "text": "The tram line was approved."}',
    ]) + "\n", encoding="utf-8")

    corpus = read_corpus([root])

    assert sorted(a.id for a in corpus.articles) == ["feed-1", "good one.txt", "новости дня.txt"]
    # the report holds the names with the bytes that are not UTF-8 escaped: it can be written anywhere
    assert corpus.rejected == [
        Rejected("caf\\xe9.txt", UNDECODABLE_NAME),
        Rejected("d\\xe9p\\xf4t", UNDECODABLE_FOLDER),
        Rejected("news\n\\xff.txt", UNDECODABLE_NAME),
        Rejected("feed.jsonl:2", '"id" has a lone surrogate escape (such as \\ud800), which is not a'
                                 " character: give the article another id"),
    ]
    assert [str(r) for r in corpus.rejected[:3]] == [
        "caf\\xe9.txt: the file name is not valid UTF-8: rename the file",
        "d\\xe9p\\xf4t: the folder name is not valid UTF-8: not read (rename the folder)",
        "news\\n\\xff.txt: the file name is not valid UTF-8: rename the file",
    ]
    # in an article's text and title a lone surrogate becomes U+FFFD, one character for one
    feed = corpus.articles[0]
    assert (feed.title, feed.text) == ("Dam \ufffd opens", "The dam \ufffd opened on Friday.")
    # a corpus root or index directory that is not UTF-8 is refused before anything is written
    with pytest.raises(ConfigError, match=r"^the corpus path .*caf\\xe9\.txt is not valid UTF-8: rename it$"):
        Settings(corpus=(root / "caf\udce9.txt",))
    with pytest.raises(ConfigError, match=r"^the index directory idx\\xe9 is not valid UTF-8: rename it$"):
        Settings(index_dir=Path("idx\udce9"))


def test_qa_index_refuses_names_that_are_not_utf8_and_keeps_the_index(tmp_path: Path) -> None:
    """The bug: `qa index` died with `UnicodeEncodeError: surrogates not allowed` writing
    articles.jsonl. Now such a file is refused by name, with the reason, and the rest indexed;
    a second run over the same corpus finds the index up to date and leaves it as it was."""
    root = tmp_path / "corpus"
    expected = undecodable_corpus(root)
    index_dir = tmp_path / "index"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    command = [str(QA), "index", str(root), "--index-dir", str(index_dir), "--quiet"]


    def run_qa_index() -> subprocess.CompletedProcess:
        run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        assert run.returncode == 3, run.stdout + run.stderr  # EXIT_REJECTED: some files were skipped
        assert "Traceback" not in run.stderr
        lines = run.stdout.splitlines()
        skipped = lines[lines.index(f"  skipped {len(expected)}:") + 1 :]
        assert skipped == [f"    {name}: {reason}" for name, reason in expected.items()]  # one line each
        return run

    first = run_qa_index()
    built = read_manifest(index_dir)
    articles = (index_dir / built.generation / "articles.jsonl").read_bytes()
    second = run_qa_index()  # nothing changed: it embeds nothing and writes nothing

    assert "  added 2: good one.txt, новости дня.txt" in first.stdout.splitlines()
    assert sorted(built.articles) == ["good one.txt", "новости дня.txt"]
    assert f"The index in {index_dir} is up to date with {root}" in second.stdout
    kept = read_manifest(index_dir)
    assert (kept.generation, kept.built_at) == (built.generation, built.built_at)
    assert kept.articles == built.articles
    assert (index_dir / kept.generation / "articles.jsonl").read_bytes() == articles
    store = FaissStore.load(index_dir)
    assert sorted(store.articles) == sorted(built.articles)
    assert len(store) == built.n_chunks > 0
