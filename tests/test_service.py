"""The chat's corpus management without the web: upload names, saving, indexing, deleting;
and who may reach the chat. Uses the fake embedder, so rankings are knowable and fast."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from qa.config import Settings
from qa.errors import ConfigError
from qa.ingest.owners import article_file_id
from qa.web.app import is_loopback, server_auth
from qa.web.service import MAX_UPLOAD_BYTES, ChatService, save_uploads, upload_problem


def upload(tmp_path: Path, name: str, text: str = "Some article text.\n") -> tuple[str, Path]:
    """An upload as Gradio hands it over: the name the browser sent and a temporary file."""
    path = tmp_path / "incoming" / str(abs(hash(name)))
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return name, path


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("..", "hidden or empty"),
        (".env", "hidden or empty"),
        ("", "hidden or empty"),
        ("notes.exe", "unsupported file type '.exe'"),
        ("README", "unsupported file type a file with no extension"),
        ("bad\nname.txt", "control characters"),
        ("caf\udce9.txt", "the file name is not valid UTF-8: rename the file"),  # the byte 0xE9, not UTF-8
        ("lone\ud800.txt", "the file name is not valid UTF-8: rename the file"),  # a JSON "\ud800" escape
    ],
)
def test_upload_problem_names_the_reason(name: str, reason: str) -> None:
    assert reason in upload_problem(name, 10)


def test_upload_problem_accepts_every_supported_format_under_the_size_limit() -> None:
    for name in ("a.txt", "b.MD", "c.html", "d.htm", "e.jsonl", "f.pdf"):
        assert upload_problem(name, MAX_UPLOAD_BYTES) is None
    assert "over the 20 MB limit" in upload_problem("a.txt", MAX_UPLOAD_BYTES + 1)


def test_save_uploads_keeps_only_the_base_name_inside_the_folder(tmp_path: Path, corpus_dir: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("not to be overwritten")
    (corpus_dir / "link.txt").symlink_to(outside)
    big_name, big = upload(tmp_path, "big.txt")
    os.truncate(big, MAX_UPLOAD_BYTES + 1)
    saved, rejected = save_uploads(
        [
            upload(tmp_path, "../../escape.txt"), upload(tmp_path, "..\\windows.md"), upload(tmp_path, "sub/../.."),
            upload(tmp_path, "link.txt"), (big_name, big), upload(tmp_path, "tool.exe"),
        ],
        corpus_dir,
    )
    assert saved == ["escape.txt", "windows.md"]
    assert sorted(p.name for p in corpus_dir.iterdir()) == ["escape.txt", "link.txt", "windows.md"]
    assert not (tmp_path / "escape.txt").exists() and outside.read_text() == "not to be overwritten"
    assert [(r.path, r.reason.split(":")[0].split(" (")[0]) for r in rejected] == [
        ("sub/../..", "hidden or empty file names are not accepted"),
        ("link.txt", "the name points outside the corpus folder"),
        ("big.txt", "20.0 MB is over the 20 MB limit for one file"),
        ("tool.exe", "unsupported file type '.exe'"),
    ]


def test_article_file_id_strips_the_jsonl_line_only() -> None:
    assert article_file_id("news.jsonl:12") == "news.jsonl"
    assert article_file_id("a:b.txt") == "a:b.txt"
    assert article_file_id("sub/x.txt") == "sub/x.txt"


@pytest.fixture
def service(corpus_dir: Path, tmp_path: Path, fake_embedder) -> ChatService:
    """A chat service over a one-article corpus indexed with the fake embedder."""
    from qa.indexing.indexer import update_index

    (corpus_dir / "harbour.txt").write_text("Harbour news\n\nThe harbour of Tern Bay was dredged in May.\n")
    settings = Settings(index_dir=tmp_path / "index", corpus=(corpus_dir,))
    update_index(settings, fake_embedder)
    return ChatService(settings, fake_embedder)


def test_added_articles_are_indexed_and_answered_from(service: ChatService, tmp_path: Path) -> None:
    lines = [{"id": "wire-1", "title": "Glacier", "text": "The Vatna glacier lost ten metres of ice."},
             {"id": "wire-2", "title": "Comet", "text": "A comet named Ostrova passed the sun."}]
    update = service.add([
        upload(tmp_path, "orchard.md", "# Orchard\n\nThe apricot orchard of Lindell flowered early.\n"),
        upload(tmp_path, "wire.jsonl", "".join(json.dumps(line) + "\n" for line in lines)),
        upload(tmp_path, "empty.txt", "   \n"),
    ])
    assert update.saved == ["orchard.md", "wire.jsonl"]
    assert [str(r) for r in update.report.rejected] == ["empty.txt: no text in it"]
    assert update.removed == ["empty.txt"]  # refused, so not left in the corpus folder
    assert not (service.settings.corpus[0] / "empty.txt").exists()
    assert [row[:3] for row in service.articles()] == [
        ["harbour.txt", 1, "Harbour news"], ["orchard.md", 1, "Orchard"],
        ["wire-1", 1, "Glacier"], ["wire-2", 1, "Comet"],
    ]
    assert service.articles()[2][3] == "wire.jsonl"
    result = service.ask("apricot orchard Lindell", 1)
    assert result.hits[0].chunk.article_id == "orchard.md"


def test_delete_removes_the_file_and_its_articles_from_the_index(service: ChatService, tmp_path: Path) -> None:
    lines = [{"id": "wire-1", "text": "Glacier ice."}, {"id": "wire-2", "text": "Comet tail."}]
    service.add([upload(tmp_path, "wire.jsonl", "".join(json.dumps(line) + "\n" for line in lines))])
    folder = service.settings.corpus[0]
    update = service.delete("wire-2")
    assert update.deleted == ["wire-1", "wire-2"]
    assert not (folder / "wire.jsonl").exists()
    assert [row[0] for row in service.articles()] == ["harbour.txt"]
    assert set(service.searcher.store.articles) == {"harbour.txt"}
    with pytest.raises(ConfigError, match="no article 'wire-1' in the index: pick one from the list"):
        service.delete("wire-1")


@pytest.mark.slow  # many questions from many threads
def test_questions_asked_at_once_get_the_replies_they_get_alone(
    tmp_path: Path, corpus_dir: Path, fake_embedder
) -> None:
    """The app answers several questions at a time on several threads (docs/RELIABILITY.md,
    "Load"): each reply must be exactly the one the question gets on its own."""
    from corpora import CHUNKING, write_corpus

    from qa.indexing.indexer import update_index

    write_corpus(corpus_dir)
    settings = Settings(index_dir=tmp_path / "index", corpus=(corpus_dir,), chunking=CHUNKING)
    update_index(settings, fake_embedder)
    service = ChatService(settings, fake_embedder)
    questions = [
        "When did the harbour bridge reopen?", "How much did the repairs cost?",
        "Who picked a record apple harvest?", "What do cider makers expect?",
        "Who won the national chess title?", "How long does she train?", "volcano eruption", "",
    ]
    alone = {question: service.ask(question, 3).to_dict() for question in questions}
    asked = questions * 25
    with ThreadPoolExecutor(8) as askers:
        replies = list(askers.map(lambda question: service.ask(question, 3).to_dict(), asked))
    assert len(replies) == 200
    assert [question for question, reply in zip(asked, replies) if reply != alone[question]] == []
    assert alone["Who won the national chess title?"]["passages"][0]["article_id"] == "chess.md"


def test_adding_needs_a_corpus_folder(tmp_path: Path, fake_embedder) -> None:
    from qa.indexing.indexer import update_index

    article = tmp_path / "one.txt"
    article.write_text("One article given as a file.\n")
    settings = Settings(index_dir=tmp_path / "index", corpus=(article,))
    update_index(settings, fake_embedder)
    with pytest.raises(ConfigError, match="has no folder to add articles to"):
        ChatService(settings, fake_embedder).add([upload(tmp_path, "two.txt")])


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"])
def test_loopback_hosts_need_no_password(host: str) -> None:
    assert is_loopback(host)
    assert server_auth(host) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "::", "example.org"])
def test_any_other_host_needs_a_password(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(
        ConfigError, match=r"refusing to serve on .* without a password.*--auth USER:PASSWORD or --auth-file FILE"
    ):
        server_auth(host)
    assert server_auth(host, "ann:s3cret:with:colons") == [("ann", "s3cret:with:colons")]


def test_auth_file_lists_logins_and_bad_lines_are_named(tmp_path: Path) -> None:
    logins = tmp_path / "logins"
    logins.write_text("# who may use the chat\nann:one\n\nbob:two\n")
    assert server_auth("0.0.0.0", auth_file=logins) == [("ann", "one"), ("bob", "two")]
    logins.write_text("ann:one\nbob\n")
    with pytest.raises(ConfigError, match=r"logins:2: expected USER:PASSWORD"):
        server_auth("0.0.0.0", auth_file=logins)
    with pytest.raises(ConfigError, match="cannot read the auth file"):
        server_auth("0.0.0.0", auth_file=tmp_path / "missing")
    with pytest.raises(ConfigError, match="--auth: expected USER:PASSWORD"):
        server_auth("127.0.0.1", ":nopassword")
