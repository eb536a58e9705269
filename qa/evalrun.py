"""One run of the Evaluate tab, without the web: a bounded question set in, escaped HTML and the
result files out, and nothing left behind when it fails.
"""

from __future__ import annotations

import gc
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from qa.appcache import eval_folder
from qa.errors import QAError
from qa.render import escape

if TYPE_CHECKING:
    from qa.service import ChatService

MAX_QUESTION_SET_MB = 5
MAX_QUESTION_SET_BYTES = MAX_QUESTION_SET_MB * 1_000_000


def set_problem(path: Path) -> str | None:
    """Why an uploaded question set cannot be run, or None."""
    try:
        size = path.stat().st_size
    except OSError as error:
        return f"the question set cannot be read ({error.strerror or error})"
    if size > MAX_QUESTION_SET_BYTES:
        return f"{size / 1e6:.1f} MB is over the {MAX_QUESTION_SET_MB} MB limit for a question set"
    return None


def failed(message: str) -> str:
    reason = f"<strong>The evaluation could not run:</strong> {escape(message)}"
    return f'<div class="qa-eval-report"><p>{reason}</p></div>'


def run(
    service: ChatService, path: Path, modes: Sequence[str], title: str, *, progress: bool = False
) -> tuple[str, str | None, list[str] | None]:
    """(report HTML, plot path, result file paths) for the question set at ``path``; on any
    failure the message and no files, and the run's folder is deleted."""
    from qa.report_html import report_html

    problem = set_problem(path)
    if problem:
        return failed(problem), None, None
    out_dir = eval_folder()
    try:
        report, written = service.evaluate(path, modes, out_dir, title=title, progress=progress)
        html = report_html(report)
    except QAError as error:
        shutil.rmtree(out_dir, ignore_errors=True)
        return failed(str(error)), None, None
    except BaseException:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise
    del report
    gc.collect()  # the report's outcomes and figures: give their memory back now, not at some later run
    plot = next(str(item) for item in written if item.suffix == ".png")
    return html, plot, [str(item) for item in written]
