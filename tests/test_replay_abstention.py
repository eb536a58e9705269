"""benchmarks/replay_abstention.py replays qa's whole abstention decision over captured signals:
the refusing checks, then the model's probability against a threshold."""

from __future__ import annotations

import sys
from pathlib import Path

from qa.search.answer import Abstainer
from qa.types import Signals

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from replay_abstention import matching_threshold, outcomes  # noqa: E402


def record(name: str, answerable: bool, reader: float, *, answered: bool = True, **checks: float) -> dict:
    signals = Signals(dense_top=0.5, sentence=0.5, coverage=0.5, agreement=1.0, reader=reader, **checks)
    return {"set": name, "answerable": answerable, "answered": answered, "signals": vars(signals)}


# p(answerable) = sigmoid(reader): a logit of 0 is p 0.5
READING = Abstainer(("reader",), (1.0,), 0.0, 0.5)
RECORDS = [
    record("news", True, 3.0),
    record("news", True, 1.0),
    record("news", True, -1.0),  # refused by the model at 0.5
    record("news", True, 2.0, answered=False),  # no answer to give: refused whatever the model
    record("news", False, -2.0),  # caught by the model
    record("news", False, 2.0, negation=1.0),  # caught by the negation check
    record("news", False, 2.0),  # missed
    record("squad", True, 0.5),
    record("squad", False, -0.5),
]


def test_outcomes_count_the_checks_the_model_and_questions_without_an_answer() -> None:
    found = outcomes(RECORDS, READING)
    assert found["news"] == (2 / 4, 2 / 3)
    assert found["squad"] == (0.0, 1.0)


def test_a_lower_threshold_refuses_fewer() -> None:
    found = outcomes(RECORDS, READING, threshold=0.1)  # only a logit under -2.2 is refused
    assert found["news"] == (1 / 4, 1 / 3)


def test_the_matching_threshold_refuses_at_most_the_rate_asked_for() -> None:
    # news's answerable: one refused whatever the threshold (no answer); the model's
    # probabilities are 0.95, 0.73, 0.27, 0.88
    threshold = matching_threshold(RECORDS, READING, "news", 0.25)
    assert outcomes(RECORDS, READING, threshold)["news"][0] == 0.25
    assert 0.26 < threshold < 0.27  # the highest threshold that still answers the -1 logit
    assert outcomes(RECORDS, READING, matching_threshold(RECORDS, READING, "news", 0.5))["news"][0] == 0.5
