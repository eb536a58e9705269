"""One run of the Evaluate tab, without the web: a bounded question set in, escaped HTML and the
result files out, and nothing left behind when it fails.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from qa.config import Settings
from qa.errors import QAError
from qa.web.appcache import eval_folder
from qa.web.render import escape

if TYPE_CHECKING:
    from qa.web.service import ChatService

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


def evaluate_to_files(
    settings: Settings, path: Path, modes: Sequence[str], out_dir: Path, title: str
) -> tuple[str, list[str], str | None]:
    """(report HTML, written files, error message): the whole run, meant for a child process."""
    from qa.eval.report import write_outputs
    from qa.eval.run import evaluate_question_file
    from qa.web.report_html import report_html

    try:
        report = evaluate_question_file(settings, Path(path), modes)
    except QAError as error:
        return "", [], str(error)
    report.title = title
    written = write_outputs(report, out_dir)
    return report_html(report), [str(item) for item in written], None


def in_child(
    settings: Settings, path: Path, modes: Sequence[str], out_dir: Path, title: str
) -> tuple[str, list[str]]:
    """:func:`evaluate_to_files` in a fresh process that exits afterwards. Scoring imports ranx and
    compiles its numba kernels (some 330 MB the server never gave back) and holds the whole set
    and its outcomes; in a child all of that goes when it exits, and a hostile set cannot take
    the chat down with it (docs/SECURITY.md, "Memory")."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        job = pool.submit(evaluate_to_files, settings, path, list(modes), out_dir, title)
        html, written, error = job.result()
    if error is not None:
        raise QAError(error)
    return html, written


def run(
    service: ChatService, path: Path, modes: Sequence[str], title: str, *, progress: bool = False,
    isolate: bool = True,
) -> tuple[str, str | None, list[str] | None]:
    """(report HTML, plot path, result file paths) for the question set at ``path``; on any
    failure the message and no files, and the run's folder is deleted. ``isolate``: score in a
    child process (:func:`in_child`); False scores with the service's own embedder, here."""
    from qa.web.report_html import report_html

    problem = set_problem(path)
    if problem:
        return failed(f"{title}: {problem}"), None, None
    out_dir = eval_folder()
    try:
        if isolate:
            html, written = in_child(service.settings, path, modes, out_dir, title)
        else:
            report, files = service.evaluate(path, modes, out_dir, title=title, progress=progress)
            html, written = report_html(report), [str(item) for item in files]
            del report
    except QAError as error:
        shutil.rmtree(out_dir, ignore_errors=True)
        return failed(str(error)), None, None
    except BaseException:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise
    plot = next(item for item in written if item.endswith(".png"))
    return html, plot, written
