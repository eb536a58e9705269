"""`qa index` killed with SIGKILL at stage boundaries and at random moments (seeded).

The real command, model and FAISS index on a copy of seeds/: after each kill the index loads
with every check (sizes, sha256, counts, ids), holds exactly the articles of the run before or
of the killed run, and answers the seed questions with the same sentences as before; the next
run completes and leaves no stale generation. Eight kills here; benchmarks/crash_sweep.py is
the longer sweep (its results are in docs/RELIABILITY.md).
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from crash_sweep import sweep  # noqa: E402

PLAN = [
    ("stage", "read"),
    ("stage", "embedded"),
    ("random", None),
    ("stage", "staging"),
    ("random", None),
    ("stage", "renamed"),
    ("random", None),
    ("stage", "swapped"),  # the final run then finds nothing new, and must still clean up
]


@pytest.mark.slow  # kills qa index at every stage
def test_index_survives_sigkill_at_every_stage_and_at_random_moments(embedder, tmp_path: Path) -> None:
    result = sweep(embedder, tmp_path, PLAN, seed=0)  # raises if any check after a kill fails
    kills = result["kills"]

    assert len(kills) == len(PLAN) and len(result["seed_questions"]) >= 2
    by_stage = {kill["target"]: kill for kill in kills if kill["kind"] == "stage"}
    assert all(kill["exit_status"] == -signal.SIGKILL for kill in by_stage.values())
    # a random moment may fall after a run that went faster than the first one had ended
    for kill in kills:
        if kill["kind"] == "random":
            assert kill["exit_status"] == -signal.SIGKILL or (kill["exit_status"] == 0 and kill["held"] == "after")
    assert [kill["last_stage"] for kill in by_stage.values()] == ["read", "embedded", "staging", "renamed", "swapped"]
    # killed before the manifest swap: the old index answers; after it: the new one
    assert [kill["held"] for kill in by_stage.values()] == ["before", "before", "before", "before", "after"]
    # what each kill left behind, all removed by the next complete run
    assert by_stage["read"]["leftovers"] == []
    assert [name.endswith(".tmp") for name in by_stage["staging"]["leftovers"]] == [True]
    # a complete generation the manifest never came to name (older leftovers went at that run's start)
    [unnamed] = by_stage["renamed"]["leftovers"]
    assert not unnamed.endswith(".tmp") and unnamed > by_stage["renamed"]["generation"]
    swapped = by_stage["swapped"]
    assert len(swapped["leftovers"]) == 1 and swapped["leftovers"][0] < swapped["generation"]  # the old one
    final = result["final"]
    assert final["exit_status"] == 0, final["stderr"]
    assert final["held"] == "after" and final["leftovers"] == []
    assert any("is up to date" in line for line in final["stdout"])
    assert result["lock_file"] == ""  # the lock of a killed writer is free: flock dies with its process
