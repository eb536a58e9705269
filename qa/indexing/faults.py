"""Named points of an index write, where a test can stop `qa index` to prove a kill is safe.

A test hook, not a setting: with ``QA_PAUSE_AT=NAME`` in the environment the process prints
``qa-stage: NAME`` to stderr on reaching that point and waits there until it is killed; with
``QA_TRACE_STAGES=1`` it prints ``qa-stage: NAME`` at every point and carries on. Without
either, :func:`checkpoint` costs one dictionary look-up. tests/test_crash.py and
benchmarks/crash_sweep.py kill `qa index` with SIGKILL at each of :data:`STAGES`.
"""

from __future__ import annotations

import sys
import time

from qa.config import stage_hooks

STAGES = (
    "locked",  # the writer lock is held, nothing read yet
    "read",  # the corpus is read and compared with the index
    "embedded",  # new and changed chunks are embedded
    "built",  # the new store is built in memory
    "staging",  # the new generation's folder is half written
    "staged",  # the new generation's folder is written, not yet renamed into place
    "renamed",  # the new generation is in place; the manifest still names the old one
    "swapped",  # the manifest names the new generation; the old one is not removed yet
    "cleaned",  # old generations removed; the lock is still held
)


def checkpoint(name: str) -> None:
    """Report reaching ``name`` (one of :data:`STAGES`) and pause there, if asked to."""
    pause_at, trace = stage_hooks()
    if pause_at != name and not trace:
        return
    print(f"qa-stage: {name}", file=sys.stderr, flush=True)
    while pause_at == name:  # until SIGKILL: the point of the pause
        time.sleep(3600)
