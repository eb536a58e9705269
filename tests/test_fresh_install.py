"""What a new user gets: a fresh venv, torch first, the runtime lock, then a non-editable install
of this tree without extras. The installed `qa` must index all five formats, answer from the
HTML file (this caught trafilatura's jusText needing lxml_html_clean, which only an extra
brought in), run `qa eval` on the shipped question set and serve the chat.

Slow (a few minutes: a venv of about 110 packages), so marked ``slow``; `make test` runs it.
pip's own configuration (index, find-links) is used as it is, so it works wherever
`make setup` does, offline against local wheels included.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT, SEED_ARTICLE, stop
from corpora import pdf_bytes

pytestmark = pytest.mark.slow

TORCH = "torch==2.13.0"
# The pip the Makefile installs. The one `python -m venv` bundles (23.2 with Python 3.11) resolves
# jusText's unpinned lxml[html_clean] to the newest lxml, not the lock's pin, and --require-hashes fails
PIP = "pip==26.3"
STEP_TIMEOUT = 1200  # seconds for one install step on a slow mirror
HTML_FACT = "The Larkspur footbridge was designed by the engineer Tamsin Okonkwo-Reyes"
HTML = f"""<!doctype html>
<html><head><title>A new footbridge for Vellin</title></head>
<body><article>
<h1>A new footbridge for Vellin</h1>
<p>{HTML_FACT}, who grew up in the town and studied in Glasgow.</p>
<p>The bridge crosses the river Vellin below the old mill and links the station with the market
square. Work began in the spring and took eleven months, most of it spent on the foundations.</p>
<p>The town council paid for half of it; a lottery grant and local businesses paid for the rest.
Cyclists and walkers have used it since the opening in the autumn.</p>
</article></body></html>
"""
QUESTION = "Who designed the Larkspur footbridge?"


def run(command: list[str | Path], **options) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True,
                          timeout=options.pop("timeout", STEP_TIMEOUT), **options)
    assert done.returncode == 0, f"{' '.join(map(str, command))} exited {done.returncode}:\n{done.stderr[-4000:]}"
    return done


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def five_formats(folder: Path) -> None:
    """One file of each format the README lists; the seed article is the .txt one, so the
    shipped question set validates against this corpus."""
    folder.mkdir()
    shutil.copy(SEED_ARTICLE, folder / SEED_ARTICLE.name)
    (folder / "garden.md").write_text(
        "# Allotments reopen\n\nThe allotments on Quarry Lane reopened on Saturday after the flood repairs,"
        " with forty plots and a new tool shed.\n", encoding="utf-8")
    (folder / "bridge.html").write_text(HTML, encoding="utf-8")
    lines = [{"id": "wire-1", "title": "Harbour dredging", "text": "Dredging of the harbour mouth starts in May"
              " and will close the ferry berth for two weeks."},
             {"id": "wire-2", "title": "School choir", "text": "The school choir won the regional final with"
              " a programme of folk songs."}]
    (folder / "wire.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    (folder / "report.pdf").write_bytes(pdf_bytes(["Solar farm opens in the desert",
                                                   "The farm will power twenty thousand homes."]))


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A venv holding pip 26.3, torch, the runtime lock and qa from a wheel: (its bin folder, the env)."""
    work = tmp_path_factory.mktemp("fresh")
    source = work / "source"  # only what the wheel is built from: no .venv, no build/ in the tree
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "qa", source / "qa", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    venv = work / "venv"
    run([sys.executable, "-m", "venv", venv])
    python = venv / "bin" / "python"
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "GRADIO_ANALYTICS_ENABLED": "False", "TQDM_DISABLE": "1", "QA_CACHE_DIR": str(work / "cache")}
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    pip = [python, "-m", "pip", "install", "--quiet"]
    run([*pip, PIP], env=env)
    run([*pip, TORCH], env=env)
    run([*pip, "--require-hashes", "-r", ROOT / "requirements.lock"], env=env)
    run([*pip, "--no-deps", source], env=env, cwd=work)  # a wheel built from the copy: not editable
    run([python, "-m", "pip", "check"], env=env)
    return venv / "bin", env


def test_the_install_is_a_wheel_with_its_package_data(fresh: tuple[Path, dict[str, str]]) -> None:
    bin_dir, env = fresh
    probe = ("import json, qa, qa.web.service, pathlib; p = pathlib.Path(qa.__file__).parent;"
             " print(json.dumps([str(p), qa.web.service.SHIPPED_QUESTIONS.is_file(), (p / 'py.typed').is_file()]))")
    where, questions, typed = json.loads(run([bin_dir / "python", "-c", probe], env=env, cwd=bin_dir).stdout)
    assert "site-packages" in where and not where.startswith(str(ROOT))
    assert questions and typed


def test_index_ask_eval_and_serve_from_a_plain_install(
    fresh: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    bin_dir, env = fresh
    qa = bin_dir / "qa"
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    five_formats(corpus)

    indexed = run([qa, "index", corpus, "--index-dir", index_dir, "--quiet"], env=env, cwd=tmp_path)
    assert "Traceback" not in indexed.stderr and "skipped" not in indexed.stdout, indexed.stdout + indexed.stderr
    info = json.loads(run([qa, "info", "--index-dir", index_dir, "--json"], env=env, cwd=tmp_path).stdout)
    assert set(info["manifest"]["articles"]) == {
        SEED_ARTICLE.name, "garden.md", "bridge.html", "wire-1", "wire-2", "report.pdf",
    }

    asked = run([qa, "ask", QUESTION, "--index-dir", index_dir, "--json"], env=env, cwd=tmp_path)
    result = json.loads(asked.stdout)
    assert not result["abstained"]
    assert result["answer"]["article_id"] == "bridge.html"
    assert "Tamsin Okonkwo-Reyes" in result["answer"]["text"]

    evaluated = run([qa, "eval", "--index-dir", index_dir, "--json", "--quiet"], env=env, cwd=tmp_path)
    report = json.loads(evaluated.stdout)
    assert report["counts"]["questions"] == 69  # the shipped seed question set, read from the wheel
    assert 0.0 < report["hybrid"]["hit@3"] <= 1.0

    port = free_port()
    server = subprocess.Popen(
        [str(qa), "serve", str(corpus), "--index-dir", str(index_dir), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path,
    )
    try:
        page = fetch_when_up(f"http://127.0.0.1:{port}/", server)
        assert "<title>qa</title>" in page or "gradio" in page.lower()
    finally:
        stop(server, timeout=30)


def fetch_when_up(url: str, server: subprocess.Popen, limit_s: float = 300) -> str:
    """The page at url, once the server answers (the index refresh and model load come first)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(
                f"qa serve exited {server.returncode}:\n{server.stdout.read()[-4000:] if server.stdout else ''}"
            )
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read().decode("utf-8", "replace")
        except OSError:
            time.sleep(1)
    pytest.fail(f"qa serve did not answer on {url} within {limit_s:.0f} s")
