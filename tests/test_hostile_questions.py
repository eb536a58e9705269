"""Hostile questions: empty, blank, 100,000 characters, control characters, Persian, Urdu and
Chinese, SQL, HTML and JavaScript. Each gets a normal reply or a clear message, never a
traceback: through the library (Searcher.ask, fuzzed with hypothesis), the command line
(`qa ask`) and the app's `/ask` function."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FakeEmbedder
from corpora import CHUNKING, write_corpus
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from qa.config import Settings
from qa.indexing.faiss_store import FaissStore
from qa.indexing.indexer import update_index
from qa.search.searcher import Searcher
from qa.text.question import MAX_QUESTION_CHARS, clean_question

QA = Path(sys.executable).with_name("qa")
LONG = " ".join(["harbour"] * 12_500)[:100_000]  # 100,000 characters
HOSTILE = {
    "long": LONG,
    "controls": "Who\x00 is\x07 the\x1b[31m chief\r\n of staff?\x7f\x9b",
    "persian": "رئیس ستاد کل نیروهای مسلح ایران کیست؟",
    "persian-zwnj": "می‌خواهم بدانم رزمایش کجا برگزار می‌شود؟",
    "urdu": "ایران کی مسلح افواج کے چیف آف اسٹاف کون ہیں؟",
    "chinese": "伊朗武装部队总参谋长是谁？",
    "sql": "'; DROP TABLE chunks; -- SELECT * FROM articles WHERE 1=1",
    "html": "<img src=x onerror=alert(1)><b>harbour</b></p></div>",
    "js": "<script>fetch('/ask').then(r => r.json())</script>",
    "surrogate": "bridge \ud800 repairs",
    "rtl-marks": "\u202eharbour\u202c \u200fbridge",
}
EMPTY = {"empty": "", "blank": " \t\n\r ", "only-controls": "\x00\x01\x1b\x7f", "none": None}


@pytest.fixture(scope="module")
def fake_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    corpus = write_corpus(tmp_path_factory.mktemp("questions-corpus"))
    index_dir = tmp_path_factory.mktemp("questions") / "index"
    settings = Settings(index_dir=index_dir, corpus=(corpus,), chunking=CHUNKING, k=3)
    update_index(settings, FakeEmbedder())
    return settings


@pytest.fixture(scope="module")
def fake_searcher(fake_settings: Settings) -> Searcher:
    return Searcher(FaissStore.load(fake_settings.index_dir), FakeEmbedder())


def check_result(result, k: int, searcher: Searcher) -> dict:
    """A well-formed reply: ranks 1..n, at most k passages, an answer that is verbatim article
    text at its offsets, and JSON that encodes as UTF-8."""
    data = json.loads(json.dumps(result.to_dict(), ensure_ascii=False).encode("utf-8"))
    assert len(result.hits) <= k
    assert [hit.rank for hit in result.hits] == list(range(1, len(result.hits) + 1))
    if result.answer is not None:
        answer = result.answer
        assert answer.text == searcher.store.articles[answer.article_id].text[answer.start : answer.end]
    return data


# -- clean_question ----------------------------------------------------------------------------


def test_clean_question_cuts_a_long_question_at_a_word() -> None:
    cleaned = clean_question(LONG)
    assert len(cleaned) == 1999 and cleaned == " ".join(["harbour"] * 250)[:1999]
    assert len(cleaned) <= MAX_QUESTION_CHARS and not cleaned.endswith(" ")


@pytest.mark.parametrize(
    "question, expected",
    [
        (None, ""),
        ("", ""),
        (" \t\n ", ""),
        ("\x00\x1b", ""),
        (HOSTILE["controls"], "Who is the [31m chief of staff?"),  # ESC goes, the rest of the sequence is text
        (HOSTILE["persian-zwnj"], HOSTILE["persian-zwnj"]),  # the zero-width non-joiner stays
        (HOSTILE["surrogate"], "bridge repairs"),
        (42, "42"),
        (" " * 9000 + "What radiates two lobes?   ", "What radiates two lobes?"),  # as in SQuAD v1.0 train
        ("\x00\n" * 5000 + "Who is the chief?", "Who is the chief?"),
    ],
)
def test_clean_question(question, expected: str) -> None:
    assert clean_question(question) == expected


# -- the library --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_question_gets_passages(fake_searcher: Searcher, name: str) -> None:
    result = fake_searcher.ask(HOSTILE[name], 3)
    data = check_result(result, 3, fake_searcher)
    assert data["question"] == clean_question(HOSTILE[name])
    if name in ("long", "html", "rtl-marks", "surrogate", "controls"):
        assert result.hits  # words the corpus has: something is found


@pytest.mark.parametrize("name", sorted(EMPTY))
def test_empty_question_gets_no_passages_and_abstains(fake_searcher: Searcher, name: str) -> None:
    result = fake_searcher.ask(EMPTY[name], 5)
    assert (result.question, result.answer, result.hits, result.abstained) == ("", None, (), True)
    assert fake_searcher.search(EMPTY[name] or "", 5) is not None


@hypothesis_settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    question=st.one_of(
        st.text(max_size=300),
        st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()), max_size=50),
        st.none(),
    ),
    history=st.lists(st.text(max_size=80), max_size=3),
    k=st.integers(min_value=1, max_value=30),
    mode=st.sampled_from([None, "hybrid", "dense", "bm25"]),
)
def test_fuzzed_questions_never_raise(fake_searcher: Searcher, question, history, k, mode) -> None:
    result = fake_searcher.ask(question, k, mode=mode, history=history)
    check_result(result, k, fake_searcher)
    if not clean_question(question):
        assert result.hits == () and result.abstained


@pytest.mark.parametrize("name", ["long", "controls", "persian", "urdu", "chinese", "js"])
def test_hostile_question_with_the_real_model(seed_index: Settings, embedder, name: str) -> None:
    searcher = Searcher(FaissStore.load(seed_index.index_dir), embedder)
    result = searcher.ask(HOSTILE[name], 3)
    check_result(result, 3, searcher)
    assert result.hits  # one article: every question reaches it through the dense leg
    assert {hit.chunk.article_id for hit in result.hits} == {"000_ae1cc4aba988a14c.txt"}


def test_control_characters_do_not_change_the_answer(seed_index: Settings, embedder) -> None:
    searcher = Searcher(FaissStore.load(seed_index.index_dir), embedder)
    plain = searcher.ask("Who is the chief of staff of the Iranian armed forces?", 3)
    noisy = searcher.ask("Who\x00 is the\x1b chief of staff\x07 of the Iranian\r\n armed forces?", 3)
    assert noisy.answer == plain.answer and "Baqeri" in plain.answer.text


# -- the command line ---------------------------------------------------------------------------


def qa(*args: object, **kwargs) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    return subprocess.run([str(QA), *map(str, args)], env=env, capture_output=True, text=True, timeout=600, **kwargs)


@pytest.mark.parametrize("question", ["", "   ", "\x1b\x07"])
def test_qa_ask_refuses_an_empty_question(tmp_path: Path, question: str) -> None:
    run = qa("ask", question, "--index-dir", tmp_path / "no-index-needed")
    assert (run.returncode, run.stdout) == (2, "")
    assert run.stderr == "qa ask: the question is empty: ask something about the articles\n"


@pytest.mark.slow  # qa ask in a subprocess per question
def test_qa_ask_answers_every_hostile_question(seed_index: Settings, tmp_path: Path) -> None:
    questions = tmp_path / "hostile.jsonl"
    cases = {**HOSTILE, **{key: value for key, value in EMPTY.items() if value is not None}}
    cases.pop("surrogate")  # not valid UTF-8 in a file; the library test covers it
    questions.write_text("".join(json.dumps({"id": k, "question": v}) + "\n" for k, v in cases.items()))
    run = qa("ask", "--questions", questions, "--index-dir", seed_index.index_dir, "-k", "2")
    assert run.returncode == 0, run.stderr
    replies = {reply["id"]: reply for reply in map(json.loads, run.stdout.splitlines())}
    assert sorted(replies) == sorted(cases)
    for name, reply in replies.items():
        assert reply["question"] == clean_question(cases[name])
        assert len(reply["passages"]) == (0 if name in EMPTY else 2)


# -- the /ask function of the app ---------------------------------------------------------------


@pytest.fixture(scope="module")
def ask_function(fake_settings: Settings):
    """The function behind the app's `/ask` endpoint, taken from the built app (no server)."""
    from qa.web.app import build_app
    from qa.web.service import ChatService

    app = build_app(ChatService(fake_settings, FakeEmbedder()))
    [function] = [fn.fn for fn in app.fns.values() if fn.api_name == "ask"]
    return function


@pytest.mark.parametrize("name", sorted(HOSTILE) + sorted(EMPTY))
def test_ask_endpoint_replies_to_hostile_questions(ask_function, name: str) -> None:
    question = {**HOSTILE, **EMPTY}[name]
    reply = ask_function(question, [])
    json.dumps(reply, ensure_ascii=False).encode("utf-8")
    assert set(reply) == {"question", "abstained", "answer", "passages", "notice", "reason", "unsure"}
    assert reply["question"] == clean_question(question)
    assert (reply["passages"] == []) == (name in EMPTY)


@pytest.mark.parametrize("history", [None, [], ["harbour bridge"], [None, 3, "it"], "not a list", 5, {"a": 1}])
def test_ask_endpoint_accepts_any_history(ask_function, history) -> None:
    reply = ask_function("How much did they cost?", history)
    assert reply["question"] == "How much did they cost?" and len(reply["passages"]) == 3
