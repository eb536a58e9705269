"""Load test: simulated users asking questions of the running chat through its `/ask` API.

    python benchmarks/load.py --index-dir /tmp/m-bbc [--users 32] [--questions 2000]
    python benchmarks/load.py --url http://127.0.0.1:7860/ --pid PID   # an app already running

Starts the app (qa.ui.launch on 127.0.0.1, no re-indexing) over an existing index unless --url
is given, waits until it answers, then lets --users threads, each with its own gradio_client,
send --questions questions in all (titles of the index's articles turned into questions, and
news questions, drawn with a seeded RNG). It is bounded: every request has a timeout and the
whole run a deadline (--max-minutes), after which the users stop. The server's resident memory
(VmRSS of the app process) is sampled every --sample-seconds. Prints and writes (--out) a JSON
report: requests, errors (with the first messages), latency p50/p95/p99/max, throughput, and
RSS first/min/max/last with the samples; the started app's output goes to OUT.server.log
beside --out. A started app is stopped at the end. The figures go
in docs/RELIABILITY.md; speed is never asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
from ask_latency import QUESTIONS as NEWS_QUESTIONS  # this folder: run as python benchmarks/load.py

TEMPLATES = ["{title}?", "What happened: {title}?", "Why {title}?", "Tell me about {title}"]
SERVER = """
import sys
from pathlib import Path
from qa.config import settings_from_env
from qa.ui import launch
launch(settings_from_env().with_(index_dir=Path(sys.argv[1])), host="127.0.0.1", port=int(sys.argv[2]))
"""


def make_questions(index_dir: Path | None, n: int, seed: int) -> list[str]:
    """n questions: the fixed news questions and article titles from the index, seeded."""
    rng = random.Random(seed)
    titles: list[str] = []
    if index_dir is not None:
        manifest = json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))
        with (index_dir / manifest["generation"] / "articles.jsonl").open(encoding="utf-8") as lines:
            titles = [json.loads(line)["title"] for line in lines if line.strip()]
    questions = []
    for _ in range(n):
        if not titles or rng.random() < 0.2:
            questions.append(rng.choice(NEWS_QUESTIONS))
        else:
            questions.append(rng.choice(TEMPLATES).format(title=rng.choice(titles)))
    return questions


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process in MB (None once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def wait_until_up(url: str, seconds: float, server: subprocess.Popen | None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server is not None and server.poll() is not None:
            raise SystemExit(f"the app exited with status {server.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise SystemExit(f"{url} did not answer within {seconds:.0f} s")


def run(args: argparse.Namespace) -> dict:
    from gradio_client import Client

    server = None
    url = args.url
    if url is None:
        url = f"http://127.0.0.1:{args.port}/"
        env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
        log = args.out.with_suffix(".server.log").open("w") if args.out else subprocess.DEVNULL
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(args.index_dir), str(args.port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    pid = server.pid if server else args.pid
    try:
        wait_until_up(url, 600, server)
        Client(url, verbose=False).predict("warm up", [], api_name="/ask")  # loads the model
        warm_rss = rss_mb(pid) if pid else None
        questions = make_questions(args.index_dir, args.questions, args.seed)
        work: queue.Queue[str] = queue.Queue()
        for question in questions:
            work.put(question)
        latencies: list[float] = []
        errors: list[str] = []
        samples: list[tuple[float, float]] = []
        lock = threading.Lock()
        started = time.monotonic()
        deadline = started + args.max_minutes * 60
        done = threading.Event()

        def sampler() -> None:
            while not done.is_set():
                value = rss_mb(pid) if pid else None
                if value is not None:
                    samples.append((round(time.monotonic() - started, 1), round(value, 1)))
                done.wait(args.sample_seconds)

        def user() -> None:
            client = Client(url, verbose=False)
            while time.monotonic() < deadline:
                try:
                    question = work.get_nowait()
                except queue.Empty:
                    return
                sent = time.monotonic()
                try:
                    result = client.submit(question, [], api_name="/ask").result(timeout=args.timeout)
                    if not isinstance(result, dict) or "passages" not in result:
                        raise ValueError(f"unexpected reply {str(result)[:200]}")
                    with lock:
                        latencies.append(time.monotonic() - sent)
                except Exception as error:  # noqa: BLE001 - every failure is counted and reported
                    with lock:
                        errors.append(f"{type(error).__name__}: {error}"[:300])

        watcher = threading.Thread(target=sampler, daemon=True)
        watcher.start()
        users = [threading.Thread(target=user, daemon=True) for _ in range(args.users)]
        for thread in users:
            thread.start()
        for thread in users:
            thread.join(max(0.0, deadline - time.monotonic()) + args.timeout + 30)
        elapsed = time.monotonic() - started
        done.set()
        watcher.join()
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
    memory = [value for _, value in samples]
    return {
        "command": " ".join(["python", "benchmarks/load.py", *sys.argv[1:]]),
        "users": args.users,
        "questions": args.questions,
        "answered": len(latencies),
        "errors": len(errors),
        "unsent": args.questions - len(latencies) - len(errors),
        "first_errors": errors[:5],
        "seconds": round(elapsed, 1),
        "answers_per_second": round(len(latencies) / elapsed, 2) if elapsed else 0.0,
        "latency_seconds": {
            name: round(float(np.percentile(latencies, q)), 3) for name, q in (("p50", 50), ("p95", 95), ("p99", 99))
        } | {"max": round(max(latencies), 3)} if latencies else {},
        "rss_mb": {
            "after_warm_up": warm_rss,
            "first": memory[0], "min": min(memory), "max": max(memory), "last": memory[-1],
            "samples": samples,
        } if memory else {},
        "load_average": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir", type=Path, help="the index to serve (and to take article titles from)")
    parser.add_argument("--url", help="an app already running, instead of starting one")
    parser.add_argument("--pid", type=int, help="with --url: the app's process, for its memory")
    parser.add_argument("--port", type=int, default=7871)
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--questions", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds one request may take")
    parser.add_argument("--max-minutes", type=float, default=90.0, help="the whole run stops after this")
    parser.add_argument("--sample-seconds", type=float, default=5.0)
    parser.add_argument("--out", type=Path, help="write the JSON report here")
    args = parser.parse_args()
    if args.url is None and args.index_dir is None:
        parser.error("give --index-dir (to start the app) or --url")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
    report = run(args)
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    summary = {key: value for key, value in report.items() if key != "rss_mb"}
    summary["rss_mb"] = {key: value for key, value in report.get("rss_mb", {}).items() if key != "samples"}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
