"""Cold start of the chat: from `python app.py` (index already built) to the first answer.

    python benchmarks/cold_start.py [--corpus seeds] [--index-dir DIR] [--runs 3] [--root CHECKOUT ...]

Builds the index of the corpus into DIR (default: one per CHECKOUT in /tmp) first if it is
missing (not timed). Each run starts
`python app.py CORPUS --index-dir DIR --port P` in CHECKOUT (default: this one; give several
`--root` to compare checkouts, run in turns) and measures, from the moment the process is started:

- page: the first time GET / answers (the page can be opened);
- first answer: a question sent through /ask (gradio_client) as soon as the page answers
  returns; the worst case for a user, who types after the page is up.

It prints the median of the runs, the server's own timing lines (index loaded, page built,
model loaded and warmed up in the background), and what the two heavy imports cost alone,
each in a fresh process. Speed is measured here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "Who is the chief of staff of the Iranian armed forces?"
IMPORTS = ("gradio", "sentence_transformers")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment(root: Path) -> dict[str, str]:
    return {
        **os.environ, "PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False", "TQDM_DISABLE": "1",
    }


def import_seconds(module: str, root: Path) -> float:
    """Seconds to import ``module`` in a fresh interpreter."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    run = subprocess.run(
        [sys.executable, "-c", code], env=environment(root), capture_output=True, text=True, check=True
    )
    return float(run.stdout.strip())


def one_run(root: Path, corpus: Path, index_dir: Path) -> tuple[float, float, list[str]]:
    """(seconds to page, seconds to first answer, the server's output) for one cold start."""
    from gradio_client import Client

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with tempfile.TemporaryFile("w+") as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "app.py", str(corpus), "--index-dir", str(index_dir), "--port", str(port)],
            cwd=root, env=environment(root), stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            while True:
                if process.poll() is not None:
                    log.seek(0)
                    raise SystemExit(f"app.py exited with {process.returncode}:\n{log.read()}")
                try:
                    urllib.request.urlopen(url, timeout=5).close()
                    break
                except OSError:
                    time.sleep(0.1)
            page = time.perf_counter() - started
            result = Client(url, verbose=False).predict(QUESTION, [], api_name="/ask")
            answer = time.perf_counter() - started
            if "Baqeri" not in (result.get("answer") or {}).get("text", ""):
                raise SystemExit(f"unexpected answer: {result.get('answer')}")
            time.sleep(0.5)  # let the server print its last timing line
        finally:
            process.terminate()
            process.wait(timeout=30)
        log.seek(0)
        lines = [line.rstrip() for line in log if re.match(r"qa: (index|page|model|chat)", line)]
    return page, answer, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=ROOT / "seeds")
    parser.add_argument("--index-dir", type=Path, help="default: a folder in /tmp of its own for each --root,"
                        " as checkouts may write different index formats")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--root", type=Path, action="append",
                        help="a checkout whose app.py is started (default: this one); give several to compare:"
                        " their runs take turns, so a change in the machine's load hits all alike")
    args = parser.parse_args()
    corpus = args.corpus.resolve()
    roots = [root.resolve() for root in args.root or [ROOT]]
    if args.index_dir and len(roots) > 1:
        raise SystemExit("--index-dir takes one --root: checkouts may write different index formats")

    index_dirs = {}
    for root in roots:
        digest = hashlib.sha256(str(root).encode()).hexdigest()[:8]
        index_dirs[root] = (args.index_dir or Path(tempfile.gettempdir()) / f"qa-cold-start-{digest}").resolve()
        if not (index_dirs[root] / "manifest.json").is_file():
            print(f"Building the index of {corpus} in {index_dirs[root]} (not timed)", flush=True)
            subprocess.run(
                [sys.executable, "-m", "qa.cli", "index", str(corpus), "--index-dir", str(index_dirs[root]), "--quiet"],
                env=environment(root), check=True,
            )
    pages: dict[Path, list[float]] = {root: [] for root in roots}
    answers: dict[Path, list[float]] = {root: [] for root in roots}
    for run in range(1, args.runs + 1):
        for root in roots:
            page, answer, lines = one_run(root, corpus, index_dirs[root])
            pages[root].append(page)
            answers[root].append(answer)
            print(f"run {run}, {root}: page {page:.1f} s, first answer {answer:.1f} s", flush=True)
            for line in lines:
                print(f"    {line}")
    for root in roots:
        print(f"\n{root}/app.py over {corpus} ({args.runs} runs, median):")
        print(f"  page answers after   {statistics.median(pages[root]):.1f} s")
        print(f"  first answer after   {statistics.median(answers[root]):.1f} s")
    for module in IMPORTS:
        print(f"import {module} alone: {import_seconds(module, roots[0]):.1f} s")
    print(f"load average now: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
