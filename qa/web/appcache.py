"""The chat's own Gradio cache folder: made fresh at start, swept while serving, removed at exit.

Gradio keeps every upload and every file it serves under ``GRADIO_TEMP_DIR`` (default
``/tmp/gradio``, shared by every Gradio app of the machine) and never deletes them: refused
uploads, uploaded question sets and the Evaluate tab's result folders piled up. The chat gets a
folder of its own, ``qa-gradio-<pid>-*`` (the leftovers of chats that died are removed at
start); its entries older than :data:`MAX_AGE_S` are deleted every :data:`SWEEP_EVERY_S`, and the
oldest go first once it holds more than :data:`MAX_BYTES`. Evaluate writes its results there
(:func:`eval_folder`), so they live only as long as a download needs.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from qa.config import gradio_temp_dir, set_gradio_temp_dir

PREFIX = "qa-gradio-"
MAX_AGE_S = 1800.0
SWEEP_EVERY_S = 60.0
MAX_BYTES = 500_000_000


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(base: Path) -> list[Path]:
    """Delete the cache folders of chats (of this user) whose process is gone."""
    removed = []
    for folder in base.glob(f"{PREFIX}*"):
        pid = folder.name[len(PREFIX):].partition("-")[0]
        with contextlib.suppress(OSError):
            if (pid.isdigit() and not pid_alive(int(pid)) and folder.is_dir() and not folder.is_symlink()
                    and folder.stat().st_uid == os.getuid()):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
    return removed


def prepare(base: Path | None = None) -> Path:
    """Make this process's cache folder (private to the user), point Gradio at it and remove it at
    exit. Call before Gradio is imported: some of its modules read ``GRADIO_TEMP_DIR`` then."""
    base = Path(base or gradio_temp_dir() or tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    remove_stale(base)
    folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=base))
    set_gradio_temp_dir(folder)
    atexit.register(shutil.rmtree, folder, True)
    exit_on_sigterm(folder)
    return folder


def exit_on_sigterm(folder: Path) -> None:
    """On SIGTERM (``kill``, a service manager's stop) delete the cache folder, then end the
    process at once as Python's default does (``atexit`` does not run on a signal; a slower
    shutdown aborts in the model's native threads)."""
    import signal

    def stop(number: int, frame: object) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        os._exit(128 + number)

    main = threading.current_thread() is threading.main_thread()
    if main and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, stop)


def size_of(path: Path) -> int:
    if path.is_file() or path.is_symlink():
        return path.lstat().st_size
    return sum(item.lstat().st_size for item in path.rglob("*") if item.is_file() and not item.is_symlink())


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def sweep(
    folder: Path, max_age: float = MAX_AGE_S, max_bytes: int = MAX_BYTES, now: float | None = None
) -> int:
    """Delete the entries of ``folder`` older than ``max_age`` seconds, then the oldest ones
    while it holds more than ``max_bytes``. Returns how many were deleted."""
    now = time.time() if now is None else now
    entries = []
    for entry in Path(folder).iterdir():
        with contextlib.suppress(OSError):
            entries.append((entry.lstat().st_mtime, entry, size_of(entry)))
    entries.sort(key=lambda item: item[0])
    total = sum(size for _, _, size in entries)
    deleted = 0
    for mtime, entry, size in entries:
        if now - mtime > max_age or total > max_bytes:
            remove(entry)
            total -= size
            deleted += 1
    return deleted


def start_sweeper(folder: Path, every: float = SWEEP_EVERY_S, **limits: float) -> threading.Thread:
    """Sweep ``folder`` every ``every`` seconds in a daemon thread, for as long as the process lives."""

    def run() -> None:
        while True:
            time.sleep(every)
            with contextlib.suppress(OSError):
                sweep(folder, **limits)  # type: ignore[arg-type]

    thread = threading.Thread(target=run, name="qa-cache-sweeper", daemon=True)
    thread.start()
    return thread


def cache_folder() -> Path | None:
    """This process's cache folder, when :func:`prepare` made one."""
    value = gradio_temp_dir()
    return Path(value) if Path(value).name.startswith(f"{PREFIX}{os.getpid()}-") else None


def forget(paths: Iterable[str | Path]) -> None:
    """Delete uploads Gradio cached once they are used (saved into the corpus, or refused): only
    files inside this process's cache folder, never anything else."""
    folder = cache_folder()
    if folder is None:
        return
    root = os.path.realpath(folder)
    for path in paths:
        real = os.path.realpath(path)
        if real.startswith(root + os.sep):
            Path(real).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                Path(real).parent.rmdir()  # Gradio keeps each upload in a folder of its own


def eval_folder() -> Path:
    """A fresh folder for one Evaluate run's files: in the cache folder when there is one."""
    return Path(tempfile.mkdtemp(prefix="qa-eval-", dir=cache_folder()))
