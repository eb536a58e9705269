"""The Python front door: ``qa.index`` and ``qa.open(...).ask``, with the real model, on the
default ONNX backend; the README's "From Python" example, run as written."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SEED_ARTICLE, SEEDS

import qa
from qa import cli

CHIEF = "Who is the chief of staff of the Iranian armed forces?"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TQDM_DISABLE": "1"}


def python(code: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, cwd=cwd, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return done


@pytest.fixture(scope="module")
def api_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index of the seed article built through qa.index (module scope: built once)."""
    index_dir = tmp_path_factory.mktemp("api") / "index"
    report = qa.index(SEEDS, index_dir=index_dir)
    assert isinstance(report, qa.IndexReport)
    assert (report.n_articles, report.rejected, report.diff.added) == (1, [], [SEED_ARTICLE.name])
    assert report.written and report.embedded == report.n_chunks > 0
    return index_dir


def test_import_qa_loads_no_heavy_library() -> None:
    out = python("import sys, qa\nprint(sorted(m for m in ('torch', 'gradio', 'faiss', 'sentence_transformers',"
                 " 'onnxruntime', 'numpy') if m in sys.modules))")
    assert out.stdout.strip() == "[]"


def test_the_public_names_resolve() -> None:
    for name in qa.__all__:
        assert getattr(qa, name) is not None
    assert {"index", "open", "Searcher", "IndexReport"} <= set(dir(qa))
    assert "open" not in qa.__all__  # `from qa import *` keeps the builtin open
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        qa.nothing  # noqa: B018 - the lookup is the test


def test_index_again_embeds_nothing(api_index: Path) -> None:
    report = qa.index([str(SEEDS)], index_dir=str(api_index))
    assert (report.written, report.embedded, report.diff.unchanged) == (False, 0, [SEED_ARTICLE.name])


def test_index_without_paths_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(qa.QAError, match="at least one corpus"):
        qa.index([], index_dir=tmp_path / "index")


def test_ask_search_and_to_dict_match_the_cli(api_index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    searcher = qa.open(api_index)
    assert isinstance(searcher, qa.Searcher)
    result = searcher.ask(CHIEF)
    assert isinstance(result, qa.Result) and not result.abstained and result.answer is not None
    assert "Major General Mohammad Baqeri" in result.answer.text
    assert len(result.hits) == 5 and [hit.rank for hit in result.hits] == [1, 2, 3, 4, 5]

    hits = searcher.search(CHIEF, k=3)
    assert len(hits) == 3 and all(isinstance(hit, qa.Hit) for hit in hits)
    assert all(hit.chunk.article_id == SEED_ARTICLE.name for hit in hits)

    assert cli.main(["ask", CHIEF, "--index-dir", str(api_index), "--json"]) == cli.EXIT_OK
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(result.to_dict()))

    follow_up = searcher.ask("Where will they be held?", k=2,
                             history=["What kind of exercises did Iran and Pakistan agree to hold?"], mode="dense")
    assert len(follow_up.hits) == 2


def test_open_passes_its_options_down(api_index: Path) -> None:
    searcher = qa.open(api_index, reader=False, mode="bm25")
    assert searcher.reader is None and searcher.settings.mode == "bm25"
    with pytest.raises(qa.QAError, match="unknown retrieval mode"):
        qa.open(api_index, mode="psychic")
    with pytest.raises(qa.IndexMissingError):
        qa.open(api_index.parent / "nothing-here")


def test_open_and_ask_import_no_torch(api_index: Path) -> None:
    out = python(
        "import sys, qa\n"
        f"result = qa.open({str(api_index)!r}).ask({CHIEF!r})\n"
        "print(result.answer.text)\n"
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'gradio') if m in sys.modules))"
    )
    answer, loaded = out.stdout.strip().splitlines()[-2:]
    assert "Baqeri" in answer
    assert loaded == "[]"


def readme_python_example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### From Python\n", 1)[1].split("\n#", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the From Python section holds one example"
    return blocks[0]


def test_the_readme_example_runs(tmp_path: Path) -> None:
    shutil.copytree(SEEDS, tmp_path / "seeds")  # "Run from the project root": a copy of its seeds/
    out = python(readme_python_example(), cwd=tmp_path).stdout.splitlines()
    assert re.fullmatch(r"1 articles in \d+ chunks; 0 files skipped", out[0]), out[0]
    assert "Major General Mohammad Baqeri" in out[1]
    assert out[-1].startswith(f"{SEED_ARTICLE.name}#")
    assert len(out) == 2 + 3 + 1  # three passages from search
