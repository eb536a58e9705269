"""benchmarks/calibrate_abstention.py fits the off-topic model on answerable questions of several
corpora against off-topic ones, at a threshold that no corpus pays more than its share for."""

from __future__ import annotations

import json
import sys
from argparse import Namespace
from pathlib import Path

import numpy as np

from qa.search.answer import Abstainer
from qa.types import Signals

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from calibrate_abstention import fit_off_topic  # noqa: E402


def signals(dense_top: float, reader: float) -> Signals:
    return Signals(dense_top=dense_top, sentence=0.5, coverage=0.5, agreement=1.0, reader=reader)


def write(path: Path, rows: list[tuple[bool, Signals]]) -> Path:
    """A signals file as the script saves it (id, kind, answerable and the signals)."""
    lines = [json.dumps({"id": f"q{i}", "kind": "k", "answerable": a, **vars(s)}) for i, (a, s) in enumerate(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def drawn(rng, n: int, dense_top: tuple[float, float], reader: tuple[float, float]) -> list[Signals]:
    return [signals(rng.normal(*dense_top), rng.normal(*reader)) for _ in range(n)]


def test_the_off_topic_threshold_refuses_at_most_the_share_asked_of_each_corpus(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    # Off-topic questions: passages far from them, the reader sure of nothing.
    off = write(tmp_path / "off.jsonl", [(False, s) for s in drawn(rng, 200, (0.3, 0.05), (-3, 1))])
    # News: answerable questions closer to their passages than the main calibration's, with fewer
    # of them near the off-topic ones, so that a threshold fitted on the pool would refuse more of
    # the main calibration's than asked.
    news = write(tmp_path / "news.jsonl", [(True, s) for s in drawn(rng, 200, (0.6, 0.05), (1, 1))]
                 + [(False, signals(0.6, -1.0))])  # a near miss: not part of this model's fit
    main = drawn(rng, 200, (0.45, 0.08), (0, 1.5))
    y = np.array([1] * 150 + [0] * 50)
    args = Namespace(off_topic_signals=[off], off_topic_answerable=[news], off_topic_features="reader,dense_top",
                     off_topic_refuse=0.05)

    model, refused = fit_off_topic(args, main, y)

    abstainer = Abstainer(("reader",), (1.0,), 0.0, 0.0, off_topic=Abstainer.from_json(model))
    assert abstainer.off_topic is not None and abstainer.off_topic.features == ("reader", "dense_top")
    main_refused, news_refused = model["calibration"]["answerable_refused"]
    assert main_refused <= 0.05 and news_refused <= 0.05
    assert max(main_refused, news_refused) >= 0.04  # the threshold is as high as the tighter corpus allows
    assert round(refused[y == 1].mean(), 4) == main_refused
    assert model["calibration"]["off_topic_caught"] >= 0.6  # most of them
    assert "news.jsonl" in model["calibration"]["data"] and "off.jsonl" in model["calibration"]["data"]
    assert abstainer.refusal(signals(0.25, -4.0)) is not None  # far from every passage: refused
    assert abstainer.refusal(signals(0.6, 1.0)) is None
