"""`qa bench` end to end at a tiny size (seeds/: 9 chunks; 20 chunks = real ones plus perturbed
copies), and the pieces whose answers can be worked out by hand. No timing is asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import SEEDS

from qa.errors import ConfigError
from qa.eval.bench import parse_sizes, size_name
from qa.indexing.keyword import KeywordIndex, tiled_bm25
from qa.text.terms import analyze

QA = Path(sys.executable).with_name("qa")


def test_parse_sizes() -> None:
    assert parse_sizes("1k,10k,100k,1M") == [1_000, 10_000, 100_000, 1_000_000]
    assert parse_sizes("250, 2k,3M") == [250, 2_000, 3_000_000]
    assert size_name(1_000_000) == "1M" and size_name(250) == "250"
    with pytest.raises(ConfigError, match="write sizes like"):
        parse_sizes("lots")


def test_tiled_bm25_is_the_bm25_of_the_copied_corpus() -> None:
    texts = ["river boats sail", "mountain goats climb the mountain", "boats and goats", "a quiet river"]
    base = KeywordIndex.build(texts)
    for copied, tolerance in ((texts * 3, 1e-5), (texts * 2 + texts[:1], 1e-2)):
        # whole copies: exact; a partial last copy moves the mean length a little (ignored)
        tiled = KeywordIndex(tiled_bm25(base.retriever, len(texts), len(copied)), len(copied))
        direct = KeywordIndex.build(copied)
        for query in ("river", "goats mountain", "boats river quiet"):
            np.testing.assert_allclose(tiled.scores(query), direct.scores(query), rtol=tolerance)
        assert tiled.idf(set(analyze("river goats"))) == pytest.approx(direct.idf(set(analyze("river goats"))))


def test_bench_articles_get_an_outlet_and_a_date_so_a_one_percent_filter_exists() -> None:
    from qa.eval.bench import FILTER_SOURCE
    from qa.eval.copies import with_bench_metadata
    from qa.types import Article, Filter

    articles = [with_bench_metadata(Article(id=f"bbc/{n}.txt~{n % 7}", title="", text="", sha256=""))
                for n in range(20_000)]
    assert articles == [with_bench_metadata(Article(id=a.id, title="", text="", sha256="")) for a in articles]
    assert len({a.source for a in articles}) == 100 and all("2023-01-01" <= a.date <= "2024-12-31" for a in articles)
    share = sum(Filter(sources=(FILTER_SOURCE,)).keeps(a.date, a.source) for a in articles) / len(articles)
    assert 0.008 < share < 0.012
    dated = Article(id="x", title="", text="", sha256="", date="2020-02-02", source="Real Outlet")
    assert with_bench_metadata(dated) is dated  # real metadata is kept


@pytest.mark.slow  # qa bench's child processes
def test_bench_end_to_end_at_a_tiny_size(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.run(
        [str(QA), "bench", str(SEEDS), "--sizes", "5,20", "--repeat", "1", "--json", "--work-dir", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=900,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    ingest = report["ingest"]
    assert (ingest["articles"], ingest["chunks"], ingest["index_type"]) == (1, 9, "flat")
    assert ingest["tokens"] > ingest["chunks"] * 10 and ingest["peak_rss_mb"] > 0 and ingest["index_bytes"] > 10_000
    five, twenty = report["latency"]
    assert (five["chunks"], five["synthetic"]) == (5, False)
    assert (twenty["chunks"], twenty["synthetic"]) == (20, True)
    for row in (five, twenty):
        assert set(row["ask"]) == {"p50_ms", "p95_ms", "p99_ms"}
        assert row["ask"]["p50_ms"] <= row["ask"]["p95_ms"] <= row["ask"]["p99_ms"]
        assert row["questions"] == 10 and row["recall_at_10"] == 1.0  # flat: exact
        assert set(row["filtered"]) == {"source", "kept_chunks", "kept_share", "ask", "ask_cpu", "retrieve", "all_k",
                                        "setup_s"}
        assert row["filtered"]["all_k"] and row["filtered"]["kept_chunks"] <= row["chunks"]
    assert report["cold_start"]["wall_s"] > 0
    # the people's version says plainly which sizes are synthetic
    from qa.eval.bench import format_report

    text = format_report(report)
    assert "| 20 | perturbed copies of real vectors | flat |" in text and "| 5 | real | flat |" in text
    assert "Filtered ask (source Outlet 07" in text


def test_bench_without_a_corpus_says_what_to_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from qa import cli

    # run from an empty folder: nothing near the working directory (no ../shared) is looked for
    monkeypatch.chdir(tmp_path)
    assert cli.main(["bench", "--sizes", "5"]) == cli.EXIT_USAGE
    message = capsys.readouterr().err
    assert "--bbc" in message and "bbc-fulltext.tar.gz" in message and "qa bench /" in message
    assert cli.main(["bench", str(tmp_path), "--bbc", "x.tar.gz"]) == cli.EXIT_USAGE
    assert "not both" in capsys.readouterr().err
    assert cli.main(["bench", "--bbc", str(tmp_path / "missing.tar.gz"), "--sizes", "5"]) == cli.EXIT_ERROR
    assert "missing.tar.gz is not a file" in capsys.readouterr().err
