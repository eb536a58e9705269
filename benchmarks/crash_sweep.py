"""Crash safety: `qa index` killed with SIGKILL at every stage and at random moments.

    python benchmarks/crash_sweep.py [--kills 36] [--seed 0] [--out benchmarks/results/crash-sweep.json]

Indexes a copy of seeds/ with the real `qa index` and model, then, again and again: adds one
small article to the corpus, starts `qa index`, and kills it with SIGKILL, either when it reports
reaching a stage (QA_PAUSE_AT, see qa/indexing/faults.py) or after a random delay (seeded) spread over a
whole run. After every kill it checks that the index loads (sizes, sha256, counts and ids all
verified), that it holds exactly the articles of the run before or of the killed run (never a
mix), and that it still answers the seed questions it answered before, with the same answer
sentence. Last, one run goes to the end: it must exit 0, hold every article and leave no stale
generation, staging folder or half-written manifest. tests/test_crash.py runs a short version
of the same in CI; this is the longer sweep, whose results are in docs/RELIABILITY.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
SEED_QUESTIONS = ROOT / "qa" / "data" / "seeds.jsonl"
QA = Path(sys.executable).with_name("qa")
TOWNS = ["Arnsby", "Portmere", "Lenvale", "Calder", "Brookhurst", "Elmfield", "Northwick", "Saltby"]
THINGS = ["tram depot", "flower show", "swimming pool", "bus station", "bakery", "rowing club", "museum", "bridge"]


def filler_article(n: int) -> tuple[str, str]:
    """A small article (file name, text) unrelated to the seed article; distinct for each n."""
    town, thing = TOWNS[n % len(TOWNS)], THINGS[(n // len(TOWNS)) % len(THINGS)]
    text = (
        f"{town} {thing} news number {n}\n\n"
        f"The {thing} in {town} reopened on day {n} of the season after a long closure. "
        f"Local people said the {thing} had been missed. The council will review it in {2030 + n}.\n"
    )
    return f"filler-{n:03d}.txt", text


def qa_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TQDM_DISABLE": "1"}
    env.pop("QA_PAUSE_AT", None)
    env.pop("QA_TRACE_STAGES", None)
    return env | extra


def start_index(corpus: Path, index_dir: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(QA), "index", str(corpus), "--index-dir", str(index_dir), "--quiet"],
        env=qa_env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


class StageReader:
    """Reads a `qa index` process's stderr in a thread, noting each ``qa-stage: NAME`` line."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.stages: list[tuple[str, float]] = []
        self.other: list[str] = []
        self.started = time.monotonic()
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            with self.changed:
                if line.startswith("qa-stage: "):
                    self.stages.append((line.split(": ", 1)[1].strip(), time.monotonic() - self.started))
                else:
                    self.other.append(line.rstrip("\n"))
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def wait_for(self, stage: str, timeout: float) -> bool:
        """True once the process reports ``stage``; False if it ends or time runs out first."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not any(name == stage for name, _ in self.stages):
                left = deadline - time.monotonic()
                if left <= 0 or (not self.thread.is_alive() and self.process.poll() is not None):
                    return False
                self.changed.wait(min(left, 0.5))
        return True

    def finish(self) -> None:
        self.process.wait(60)
        self.thread.join(60)

    @property
    def last_stage(self) -> str:
        return self.stages[-1][0] if self.stages else "(before any stage)"


def kill(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)


@dataclass
class Expectation:
    """What the index may hold after a kill: the articles before the run, or after it."""

    before: set[str]
    after: set[str]


@dataclass
class KillRecord:
    kind: str  # "stage" or "random"
    target: str  # the stage, or the delay in seconds
    last_stage: str
    exit_status: int | None
    held: str  # "before" or "after": which state the index was in after the kill
    generation: str
    leftovers: list[str] = field(default_factory=list)  # stale folders / files the kill left


class Checker:
    """Loads the index after a kill and checks it, with one real model for every check."""

    def __init__(self, embedder, index_dir: Path) -> None:
        self.embedder = embedder
        self.index_dir = index_dir
        self.baseline: dict[str, tuple[str, str]] = {}  # question -> (answer text, chunk id)

    def answers(self) -> dict[str, tuple[str, str]]:
        from qa.indexing.faiss_store import FaissStore
        from qa.search.searcher import Searcher

        searcher = Searcher(FaissStore.load(self.index_dir), self.embedder)
        out = {}
        for question in self.questions:
            result = searcher.ask(question, 3)
            out[question] = (result.answer.text, result.answer.chunk_id) if result.answer else ("", "")
        return out

    def set_baseline(self, limit: int = 4) -> None:
        """The seed fact questions whose answer sentence holds a gold span on the first index."""
        from qa.indexing.faiss_store import FaissStore
        from qa.search.searcher import Searcher

        searcher = Searcher(FaissStore.load(self.index_dir), self.embedder)
        for line in SEED_QUESTIONS.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if record["kind"] != "fact" or len(self.baseline) >= limit:
                continue
            result = searcher.ask(record["question"], 3)
            if result.answer and any(gold["text"] in result.answer.text for gold in record["answers"]):
                self.baseline[record["question"]] = (result.answer.text, result.answer.chunk_id)
        if len(self.baseline) < 2:
            raise AssertionError(f"only {len(self.baseline)} seed questions answered on the first index")

    @property
    def questions(self) -> list[str]:
        return list(self.baseline)

    def check(self, expected: Expectation) -> tuple[str, str]:
        """Raise AssertionError unless the index is whole and answers as before; return
        ("before" or "after", generation)."""
        from qa.indexing.faiss_store import FaissStore
        from qa.indexing.manifest import read_manifest

        store = FaissStore.load(self.index_dir)  # sizes, sha256, counts and ids verified
        manifest = read_manifest(self.index_dir)
        held = set(store.articles)
        if held == expected.before:
            state = "before"
        elif held == expected.after:
            state = "after"
        else:
            raise AssertionError(f"the index holds neither the old nor the new articles: {sorted(held)}")
        assert set(manifest.articles) == held and manifest.n_chunks == len(store)
        assert self.answers() == self.baseline, "the seed questions are answered differently"
        return state, manifest.generation


def corpus_ids(corpus: Path) -> set[str]:
    """The article ids of a flat corpus folder of .txt files: their names."""
    return {path.name for path in corpus.iterdir() if not path.name.startswith(".")}


def leftovers(index_dir: Path, live: str) -> list[str]:
    """Anything in the index directory besides the manifest, the lock and the live generation."""
    return sorted(p.name for p in index_dir.iterdir() if p.name not in {"manifest.json", ".lock", live})


def sweep(embedder, work: Path, plan: list[tuple[str, object]], seed: int) -> dict:
    """Run the kills in ``plan`` (("stage", NAME) or ("random", None)); return the records."""
    corpus, index_dir = work / "corpus", work / "index"
    shutil.copytree(SEEDS, corpus)
    # built with the checker's embedder's backend; later runs keep the index's own backend
    first = start_index(corpus, index_dir, QA_TRACE_STAGES="1", QA_BACKEND=getattr(embedder, "backend", "torch"))
    reader = StageReader(first)
    reader.finish()
    if first.returncode != 0:
        raise AssertionError(f"the first `qa index` failed: {reader.other}")
    run_seconds = reader.stages[-1][1]
    checker = Checker(embedder, index_dir)
    checker.set_baseline()
    rng = random.Random(seed)
    articles = set(json.loads((index_dir / "manifest.json").read_text())["articles"])
    records: list[KillRecord] = []
    for number, (kind, target) in enumerate(plan):
        pending = filler_article(number)
        (corpus / pending[0]).write_text(pending[1], encoding="utf-8")
        expected = Expectation(before=set(articles), after=corpus_ids(corpus))
        if kind == "stage":
            process = start_index(corpus, index_dir, QA_PAUSE_AT=str(target))
            reader = StageReader(process)
            if not reader.wait_for(str(target), timeout=600):
                kill(process)
                reader.finish()
                raise AssertionError(f"`qa index` never reached {target}: {reader.other[-5:]}")
        else:
            target = round(rng.uniform(0.2, run_seconds * 1.1), 2)
            process = start_index(corpus, index_dir, QA_TRACE_STAGES="1")
            reader = StageReader(process)
            time.sleep(float(target))
        kill(process)
        reader.finish()
        state, generation = checker.check(expected)
        articles = expected.after if state == "after" else expected.before
        records.append(KillRecord(kind, str(target), reader.last_stage, process.returncode, state, generation,
                                  leftovers(index_dir, generation)))
    final = start_index(corpus, index_dir)
    out, err = final.communicate(timeout=600)
    state, generation = checker.check(Expectation(before=set(), after=corpus_ids(corpus)))
    return {
        "kills": [asdict(record) for record in records],
        "final": {
            "exit_status": final.returncode,
            "held": state,
            "generation": generation,
            "leftovers": leftovers(index_dir, generation),
            "stdout": out.splitlines(),
            "stderr": err.splitlines(),
        },
        "seed_questions": checker.questions,
        "first_run_seconds": round(run_seconds, 2),
        "lock_file": (index_dir / ".lock").read_text(),
    }


def plan_for(kills: int, seed: int) -> list[tuple[str, object]]:
    """Every stage in order, then random moments, repeated up to ``kills``; ends with
    "swapped" so that the final run finds nothing new and must still clean up."""
    from qa.indexing.faults import STAGES

    plan: list[tuple[str, object]] = []
    while len(plan) < kills - 1:
        plan += [("stage", stage) for stage in STAGES] + [("random", None)] * 3
    return plan[: kills - 1] + [("stage", "swapped")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=36)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    from qa.config import packaged_model_dir
    from qa.embed.torch_backend import SentenceTransformerEmbedder

    started = time.monotonic()
    embedder = SentenceTransformerEmbedder(packaged_model_dir())
    with tempfile.TemporaryDirectory(prefix="qa-crash-") as work:
        result = sweep(embedder, Path(work), plan_for(args.kills, args.seed), args.seed)
    result |= {
        "command": " ".join(["python", "benchmarks/crash_sweep.py", *sys.argv[1:]]),
        "seconds": round(time.monotonic() - started, 1),
        "load_average": os.getloadavg(),
    }
    text = json.dumps(result, indent=2, ensure_ascii=False)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    held = [kill["held"] for kill in result["kills"]]
    print(f"{len(held)} kills survived ({held.count('before')} left the old index, {held.count('after')} the new);"
          f" final run exit {result['final']['exit_status']}, leftovers {result['final']['leftovers']};"
          f" {result['seconds']} s")


if __name__ == "__main__":
    main()
