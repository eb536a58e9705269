"""Server memory across 20 Evaluate runs with hostile question sets (issue 20).

    python benchmarks/eval_memory.py [--runs 20] [--out benchmarks/results/eval-memory.json]

Starts `python app.py` over temporary copies of seeds/ and a fresh index of it, waits for the
model to warm up, and reads the server's resident memory (VmRSS): that is the start. Then headless
Chromium runs the Evaluate tab ``--runs`` times, cycling through three hostile sets, each just
under or over the 5 MB limit: 60 questions of ~70,000 characters with HTML payloads in every field
(the questions are cut to 2,000 characters; the run completes and reports), the same with a gold
span the corpus lacks (the run fails after reading the whole set), and a set over the limit
(refused unread). After the runs the page is closed and the server left idle for 10 s; the end
figure is compared with the start. Prints every figure; writes them as JSON with ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED_ID = "000_ae1cc4aba988a14c.txt"
PAYLOAD = '<a href="https://evil.example/login">sign in</a><img src="http://127.0.0.1:1/tracker.png">'


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def hostile_set(path: Path, kind: int, run: int) -> Path:
    """kind 0: runs and reports; 1: a gold span the corpus lacks (fails); 2: over the size limit."""
    lines = []
    for number in range(60):
        answer = "Mohammad Baqeri" if kind != 1 or number < 59 else f"not in the corpus {run}"
        lines.append(
            json.dumps(
                {
                    "id": f"q{number} {PAYLOAD}",
                    "kind": f"hostile {PAYLOAD}",
                    "question": f"Who is the chief of staff {PAYLOAD} " + "why " * 17_500,
                    "answers": [{"article": SEED_ID, "text": answer}],
                }
            )
        )
    text = "\n".join(lines) + "\n"
    if kind == 2:
        text += json.dumps({"id": "pad", "question": "x " * (600_000 + 10_000 * run), "answers": []}) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="qa-eval-memory-"))
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "TQDM_DISABLE": "1",
    }
    process = None
    try:
        corpus = shutil.copytree(ROOT / "seeds", work / "corpus")
        subprocess.run(
            [
                str(Path(sys.executable).parent / "qa"),
                "index",
                str(corpus),
                "--index-dir",
                str(work / "index"),
                "--quiet",
            ],
            check=True,
            env=env,
            cwd=ROOT,
        )
        port = free_port()
        log = (work / "app.log").open("w+")
        process = subprocess.Popen(
            [sys.executable, "app.py", str(corpus), "--index-dir", str(work / "index"), "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 300
        while "warmed up" not in (work / "app.log").read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"app.py did not start:\n{(work / 'app.log').read_text()}")
            time.sleep(1)
        urllib.request.urlopen(url, timeout=30).close()
        time.sleep(3)
        figures: dict = {"start_mb": round(rss_mb(process.pid), 1), "runs": []}
        print(f"start (model warmed up, no evaluation yet): {figures['start_mb']:.1f} MB", flush=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page()
            for run in range(args.runs):  # a fresh page (and Gradio session) each run
                kind = run % 3
                path = hostile_set(work / f"hostile-{run:02d}.jsonl", kind, run)
                page.goto(url, wait_until="load")
                page.get_by_role("tab", name="Evaluate").click()
                report = page.locator("#qa-eval-report")
                page.locator("#qa-eval-questions input[type=file]").set_input_files(str(path))
                page.locator(f'#qa-eval-questions [aria-label="{path.name}"]').first.wait_for(timeout=120_000)
                started = time.perf_counter()
                page.get_by_role("button", name="Run evaluation").click()
                # the report (or refusal) names the set; so does the progress note above it: look inside
                report.locator(".qa-eval-report").get_by_text(path.name).first.wait_for(timeout=300_000)
                page.wait_for_timeout(500)
                text = report.inner_text()
                outcome = (
                    "refused"
                    if "limit for a question set" in text
                    else "failed"
                    if "could not run" in text
                    else "reported"
                )
                rss = rss_mb(process.pid)
                figures["runs"].append(
                    {
                        "run": run + 1,
                        "set_mb": round(path.stat().st_size / 1e6, 2),
                        "outcome": outcome,
                        "seconds": round(time.perf_counter() - started, 1),
                        "rss_mb": round(rss, 1),
                    }
                )
                print(
                    f"run {run + 1:2d}: {path.stat().st_size / 1e6:.2f} MB set, {outcome:8s}"
                    f" {time.perf_counter() - started:5.1f} s, RSS {rss:.1f} MB",
                    flush=True,
                )
            page.close()
            browser.close()
        time.sleep(10)
        end = rss_mb(process.pid)
        figures["end_mb"] = round(end, 1)
        figures["peak_mb"] = max(run["rss_mb"] for run in figures["runs"])
        figures["change_pct"] = round(100 * (end - figures["start_mb"]) / figures["start_mb"], 1)
        print(
            f"end (page closed, 10 s idle): {end:.1f} MB; {figures['change_pct']:+.1f} % against the start;"
            f" peak {figures['peak_mb']:.1f} MB",
            flush=True,
        )
        if args.out:
            figures["command"] = "python benchmarks/eval_memory.py " + " ".join(sys.argv[1:])
            args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
