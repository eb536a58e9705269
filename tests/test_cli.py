"""The `qa` command line end to end: the real console script, model and FAISS index."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SEED_ARTICLE, SEEDS

QA = Path(sys.executable).with_name("qa")
CHIEF = "Who is the chief of staff of the Iranian armed forces?"
PASSAGE_KEYS = {"rank", "score", "chunk_id", "article_id", "title", "text", "start", "end", "found_by", "date",
                "source", "url"}
HEAVY = ("torch", "faiss", "gradio", "sentence_transformers", "transformers")


def qa(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    return subprocess.run(
        [str(QA), *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, subprocess.CompletedProcess[str]]:
    """A copy of seeds/ and an index of it made by `qa index`."""
    base = tmp_path_factory.mktemp("cli")
    corpus = shutil.copytree(SEEDS, base / "corpus")
    index_dir = base / "index"
    return corpus, index_dir, qa("index", corpus, "--index-dir", index_dir)


def test_help_imports_no_heavy_library() -> None:
    code = (
        "import sys\nfrom qa.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "usage: qa" in out
    assert out.strip().splitlines()[-1] == "[]"


@pytest.mark.slow  # qa index and qa ask in subprocesses
def test_index_reports_what_it_did(built) -> None:
    corpus, index_dir, run = built
    manifest = json.loads((index_dir / "manifest.json").read_text())
    assert run.returncode == 0, run.stderr
    assert "added 1: 000_ae1cc4aba988a14c.txt" in run.stdout
    assert f"the index holds 1 articles in {manifest['n_chunks']} chunks" in run.stdout
    assert manifest["n_articles"] == 1 and manifest["n_chunks"] >= 5
    assert "Indexed" in run.stdout and " s" in run.stdout


@pytest.mark.slow  # qa index and qa ask in subprocesses
def test_second_index_run_is_up_to_date(built) -> None:
    corpus, index_dir, _ = built
    generation = json.loads((index_dir / "manifest.json").read_text())["generation"]
    run = qa("index", corpus, "--index-dir", index_dir)
    assert run.returncode == 0, run.stderr
    assert "is up to date" in run.stdout
    assert json.loads((index_dir / "manifest.json").read_text())["generation"] == generation


@pytest.mark.slow  # qa index and qa ask in subprocesses
def test_ask_json_ranks_baqeri_first(built) -> None:
    _, index_dir, _ = built
    run = qa("ask", CHIEF, "--json", "-k", "3", "--index-dir", index_dir)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    article = SEED_ARTICLE.read_text(encoding="utf-8")
    assert set(result) == {"question", "abstained", "answer", "passages", "notice", "reason", "unsure"}
    assert result["question"] == CHIEF and result["abstained"] is False
    passages = result["passages"]
    assert [p["rank"] for p in passages] == [1, 2, 3]
    assert all(set(p) == PASSAGE_KEYS for p in passages)
    assert "Mohammad Baqeri" in passages[0]["text"]
    assert passages[0]["score"] >= passages[1]["score"] >= passages[2]["score"]
    for passage in passages:
        assert passage["text"] == article[passage["start"] : passage["end"]]
        assert passage["chunk_id"].startswith("000_ae1cc4aba988a14c.txt#")
        assert set(passage["found_by"]) <= {"dense", "bm25"} and passage["found_by"]
    answer = result["answer"]
    assert set(answer) == {"text", "chunk_id", "article_id", "start", "end", "span", "also_in", "differs"}
    assert answer["text"] == article[answer["start"] : answer["end"]]
    assert answer["chunk_id"] == passages[0]["chunk_id"]
    assert passages[0]["start"] <= answer["start"] < answer["end"] <= passages[0]["end"]


@pytest.mark.slow  # qa index and qa ask in subprocesses
def test_ask_questions_file_answers_each_line(built, tmp_path: Path) -> None:
    _, index_dir, _ = built
    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        json.dumps({"id": "chief", "question": CHIEF}) + "\n\n"
        + json.dumps({"id": "karachi", "question": "Which cities did the delegation visit?"}) + "\n"
    )
    run = qa("ask", "--questions", questions, "-k", "2", "--index-dir", index_dir)
    assert run.returncode == 0, run.stderr
    records = [json.loads(line) for line in run.stdout.splitlines()]
    assert [r["id"] for r in records] == ["chief", "karachi"]
    assert all(len(r["passages"]) == 2 for r in records)
    assert "Mohammad Baqeri" in records[0]["passages"][0]["text"]
    assert "Karachi" in " ".join(p["text"] for p in records[1]["passages"])


@pytest.mark.slow  # qa index and qa ask in subprocesses
def test_info_reports_corpus_changes(built, tmp_path: Path) -> None:
    corpus, index_dir, _ = built
    run = qa("info", "--index-dir", index_dir)
    assert run.returncode == 0, run.stderr
    assert "1 articles in" in run.stdout and "all-MiniLM-L6-v2" in run.stdout
    assert "has not changed" in run.stdout
    extra = corpus / "zz-new.txt"
    extra.write_text("Fresh news\n\nA new article arrived today.\n")
    try:
        run = qa("info", "--json", "--index-dir", index_dir)
        info = json.loads(run.stdout)
        assert info["since_built"] == {"added": ["zz-new.txt"], "changed": [], "removed": []}
        assert info["manifest"]["format_version"] == 4
    finally:
        extra.unlink()


def test_index_skips_bad_files_and_exits_3(tmp_path: Path) -> None:
    corpus = shutil.copytree(SEEDS, tmp_path / "corpus")
    (corpus / "broken.txt").write_bytes(b"\x00\x01\x02binary")
    (corpus / "photo.png").write_bytes(b"\x89PNG\r\n")
    run = qa("index", corpus, "--index-dir", tmp_path / "index", "--quiet")
    assert run.returncode == 3, run.stderr
    assert "broken.txt: binary data" in run.stdout
    assert "photo.png: unsupported file type '.png'" in run.stdout
    assert "the index holds 1 articles" in run.stdout


def test_ask_without_index_says_what_to_run(tmp_path: Path) -> None:
    run = qa("ask", CHIEF, "--index-dir", tmp_path / "nothing")
    assert run.returncode == 1
    assert "no index in" in run.stderr and "qa index" in run.stderr
    assert "Traceback" not in run.stderr


def test_another_model_is_said_to_be_uncalibrated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from qa.cli import warn_if_unfitted
    from qa.config import Settings, packaged_model_dir

    other = tmp_path / "other-model"
    other.mkdir()
    (other / "config.json").write_text('{"model_type": "bert"}')
    warn_if_unfitted(Settings(model_dir=other))
    assert f"note: {other} is not the packaged all-MiniLM-L6-v2" in capsys.readouterr().err
    # the packaged model, by default or named, is the one they were fitted to
    warn_if_unfitted(Settings())
    warn_if_unfitted(Settings(model_dir=packaged_model_dir()))
    assert capsys.readouterr().err == ""


def test_ask_needs_a_question(tmp_path: Path) -> None:
    run = qa("ask", "--index-dir", tmp_path)
    assert run.returncode == 2
    assert "give either a QUESTION or --questions" in run.stderr


def test_ask_prints_readable_answer(seed_index, capsys: pytest.CaptureFixture[str]) -> None:
    from qa.cli import main

    assert main(["ask", CHIEF, "-k", "2", "--index-dir", str(seed_index.index_dir)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Answer: ")
    assert "\n1. [" in out and "\n2. [" in out and "\n3. [" not in out
    assert "Mohammad Baqeri" in out.split("\n2. [")[0]


def test_ask_says_which_number_no_passage_mentions(seed_index, capsys: pytest.CaptureFixture[str]) -> None:
    """The seed article gives no year: asked about 1971, qa abstains and says so, in text and in JSON."""
    from qa.cli import main

    question = "What did Major General Baqeri say about the 1971 war?"
    assert main(["ask", question, "-k", "2", "--index-dir", str(seed_index.index_dir)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        "The corpus does not answer this. None of the closest passages mentions “1971”. The closest passages:"
    )
    assert main(["ask", question, "--json", "--index-dir", str(seed_index.index_dir)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["abstained"] and result["answer"] is None
    assert result["reason"] == "None of the closest passages mentions “1971”."
    assert main(["ask", CHIEF, "--json", "--index-dir", str(seed_index.index_dir)]) == 0
    answered = json.loads(capsys.readouterr().out)
    assert not answered["abstained"] and answered["reason"] is None


def test_output_piped_to_a_reader_that_has_gone_stops_quietly(seed_index) -> None:
    """`qa ask ... | head -1`: the reader closes the pipe before qa writes; qa exits 141 without a traceback."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    with subprocess.Popen(
        [str(QA), "ask", CHIEF, "--index-dir", str(seed_index.index_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    ) as process:
        process.stdout.close()  # gone before qa has loaded the index and written anything
        stderr = process.stderr.read().decode()
        assert process.wait(timeout=600) == 141
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr
