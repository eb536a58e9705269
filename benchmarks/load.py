"""Load test: simulated users asking questions of the running chat through its `/ask` API.

    python benchmarks/load.py --index-dir /tmp/m-bbc [--users 32] [--questions 2000]
    python benchmarks/load.py --url http://127.0.0.1:7860/ --pid PID   # an app already running

Starts the app (qa.web.app.launch on 127.0.0.1, no re-indexing) over an existing index unless --url
is given, waits until it answers, then lets --users threads (users) send --questions questions
in all (titles of the index's articles turned into questions, and news questions, drawn with a
seeded RNG), each user one question at a time in its own session. It is bounded: every request
has a timeout and the whole run a deadline (--max-minutes), after which the users stop.

Two clients (--client):
  http           (default) Gradio's per-event HTTP API, as `curl` uses it: POST
                 /gradio_api/call/ask, then read /gradio_api/call/ask/EVENT to its end; one
                 keep-alive connection per user. Cheap, so the figures are the server's.
  gradio_client  one gradio_client.Client per user, as the first runs did. It costs more CPU
                 than the server on a small machine, and it has a race of its own (a submit
                 landing while the session's shared event stream closes makes the job end in
                 CancelledError): see docs/RELIABILITY.md, "Load".

The server's resident memory (VmRSS of the app process) is sampled every --sample-seconds with
the number answered so far; the report summarises it after warm-up (the first
--warm-up-share of the answers). CPU seconds of the server, of this script and of the rest of
the machine are read from /proc, so a busy machine shows in the report. Prints and writes
(--out) a JSON report; the started app's output goes to OUT.server.log beside --out. A
started app is stopped at the end. The figures go in docs/RELIABILITY.md; speed is never
asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import resource
import secrets
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
from qa.web.app import launch
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


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a process has used, in seconds (None once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (/proc/stat: all but idle and iowait)."""
    values = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class HttpUser:
    """One user on Gradio's per-event HTTP API: its own session and keep-alive connection, one
    question at a time, each event's stream read to its end (the server closes it once the
    session has no event left, so the next question never meets the last one's stream)."""

    def __init__(self, url: str) -> None:
        import httpx

        self.url = url.rstrip("/") + "/gradio_api/call/ask"
        self.session = secrets.token_hex(8)
        self.http = httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0))

    def ask(self, question: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        response = self.http.post(self.url, json={"data": [question, []], "session_hash": self.session})
        response.raise_for_status()
        event_id = response.json()["event_id"]
        event, outcome = None, None
        with self.http.stream("GET", f"{self.url}/{event_id}") as stream:
            stream.raise_for_status()
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    outcome = (event, line[5:].strip())
                if time.monotonic() > deadline:  # heartbeats every 15 s keep a slow stream readable
                    raise TimeoutError(f"no answer within {timeout:.0f} s")
        if outcome is None:
            raise ValueError("the event stream ended without a result")
        if outcome[0] == "error":
            raise RuntimeError(f"the app replied with an error: {outcome[1][:200]}")
        (reply,) = json.loads(outcome[1])
        return reply

    def close(self) -> None:
        self.http.close()


class GradioClientUser:
    """One user on gradio_client (one Client, so one session, per user)."""

    def __init__(self, url: str) -> None:
        from gradio_client import Client

        self.client = Client(url, verbose=False)

    def ask(self, question: str, timeout: float) -> dict:
        return self.client.submit(question, [], api_name="/ask").result(timeout=timeout)

    def close(self) -> None:
        self.client.close()


USERS = {"http": HttpUser, "gradio_client": GradioClientUser}


def memory_summary(samples: list[tuple[float, int, float]], answered: int, warm_up_share: float) -> dict:
    """RSS over the run: the samples taken once warm_up_share of the answers were in (the
    steady part), their first, min, max and last, the band (max - min) and the change from
    the first to the last steady sample per 1,000 answers."""
    if not samples:
        return {}
    steady = [sample for sample in samples if sample[1] >= warm_up_share * answered] or samples[-1:]
    values = [rss for _, _, rss in steady]
    served = steady[-1][1] - steady[0][1]
    return {
        "steady_from_answer": steady[0][1],
        "steady_from_second": steady[0][0],
        "steady_first": values[0], "steady_min": min(values), "steady_max": max(values),
        "steady_last": values[-1],
        "steady_band": round(max(values) - min(values), 1),
        "steady_mb_per_1000_answers": round((values[-1] - values[0]) / served * 1000, 1) if served else None,
        "run_first": samples[0][2], "run_max": max(rss for _, _, rss in samples), "run_last": samples[-1][2],
    }


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
    make_user = USERS[args.client]
    load_before = os.getloadavg()
    try:
        wait_until_up(url, 600, server)
        warm = make_user(url)
        warm.ask("warm up", args.timeout)  # waits for the model
        warm.close()
        warm_rss = rss_mb(pid) if pid else None
        questions = make_questions(args.index_dir, args.questions, args.seed)
        work: queue.Queue[str] = queue.Queue()
        for question in questions:
            work.put(question)
        latencies: list[float] = []
        errors: list[str] = []
        samples: list[tuple[float, int, float]] = []
        lock = threading.Lock()
        cpu_before = (cpu_seconds(pid) if pid else None, own_cpu_seconds(), machine_busy_seconds())
        started = time.monotonic()
        deadline = started + args.max_minutes * 60
        done = threading.Event()

        def sampler() -> None:
            while not done.is_set():
                value = rss_mb(pid) if pid else None
                if value is not None:
                    samples.append((round(time.monotonic() - started, 1), len(latencies), round(value, 1)))
                done.wait(args.sample_seconds)

        def user() -> None:
            try:
                client = make_user(url)
            except Exception as error:  # noqa: BLE001 - counted like a failed question
                with lock:
                    errors.append(f"connecting: {type(error).__name__}: {error}"[:300])
                return
            try:
                while time.monotonic() < deadline:
                    try:
                        question = work.get_nowait()
                    except queue.Empty:
                        return
                    sent = time.monotonic()
                    try:
                        result = client.ask(question, args.timeout)
                        if not isinstance(result, dict) or "passages" not in result:
                            raise ValueError(f"unexpected reply {str(result)[:200]}")
                        with lock:
                            latencies.append(time.monotonic() - sent)
                    except Exception as error:  # noqa: BLE001 - every failure is counted and reported
                        with lock:
                            errors.append(f"{type(error).__name__}: {error}"[:300])
            finally:
                client.close()

        watcher = threading.Thread(target=sampler, daemon=True)
        watcher.start()
        users = [threading.Thread(target=user, daemon=True) for _ in range(args.users)]
        for thread in users:
            thread.start()
        for thread in users:
            thread.join(max(0.0, deadline - time.monotonic()) + args.timeout + 30)
        elapsed = time.monotonic() - started
        cpu_after = (cpu_seconds(pid) if pid else None, own_cpu_seconds(), machine_busy_seconds())
        done.set()
        watcher.join()
        value = rss_mb(pid) if pid else None
        if value is not None:
            samples.append((round(elapsed, 1), len(latencies), round(value, 1)))
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
    server_cpu = None
    if cpu_before[0] is not None and cpu_after[0] is not None:
        server_cpu = cpu_after[0] - cpu_before[0]
    client_cpu = cpu_after[1] - cpu_before[1]
    machine_cpu = cpu_after[2] - cpu_before[2]
    others_cpu = machine_cpu - client_cpu - (server_cpu or 0.0)
    return {
        "command": " ".join(["python", "benchmarks/load.py", *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "client": args.client,
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
        # Busy CPU seconds over the run, from /proc: the app, this script (the users) and the
        # rest of the machine. others / seconds above ~0.1 x cores means other jobs shared it.
        "cpu_seconds": {
            "server": round(server_cpu, 1) if server_cpu is not None else None,
            "server_ms_per_answer": (
                round(server_cpu / len(latencies) * 1000, 2) if server_cpu and latencies else None
            ),
            "load_script": round(client_cpu, 1),
            "others": round(others_cpu, 1),
            "others_average_cores": round(others_cpu / elapsed, 2) if elapsed else None,
        },
        "rss_mb": {"after_warm_up_question": warm_rss}
        | memory_summary(samples, len(latencies), args.warm_up_share)
        | {"samples_seconds_answered_mb": samples},
        "load_average_before": [round(value, 2) for value in load_before],
        "load_average_after": [round(value, 2) for value in os.getloadavg()],
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
    parser.add_argument("--warm-up-share", type=float, default=0.1,
                        help="the share of the answers after which memory counts as steady")
    parser.add_argument("--client", choices=sorted(USERS), default="http")
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
    summary["rss_mb"] = {
        key: value for key, value in report["rss_mb"].items() if not key.startswith("samples")
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
