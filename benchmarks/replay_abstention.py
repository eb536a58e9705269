"""Compare abstention models (files like qa/search/abstain.json) on the tuning sets, without asking
again for each model.

Each question of the sets is asked once with the shipped searcher, abstention off, and its
signals (qa.types.Signals) and whether it had an answer to give are saved in --signals (JSONL,
read back when the file exists). Every --model then replays qa's whole decision (the refusing
checks, then the calibrated probability below the model's threshold: Abstainer.abstains) and the
script prints, set by set, the answerable questions refused and the unanswerable ones caught:

- at each model's own threshold (what would ship);
- with ``--match SET:RATE``, at the threshold that refuses RATE of SET's answerable questions,
  each model its own: the models compared at one operating point.

Tuning data only, the sets of benchmarks/asking.question_sets: SQuAD 2.0 dev's five held-back
tuning articles (--squad2-index, qa eval --squad's index), the second round of questions written
over SQuAD v1.0 train paragraphs (--written-index), the two BBC News tuning sets and the second
half of NQ-open's questions, off-topic over the BBC corpus (--bbc-index; the first half calibrates
the off-topic model over SQuAD 2.0's corpus: calibrate_abstention.py). The report sets are never
read here.

    python benchmarks/replay_abstention.py --squad2-index DIR --written-index DIR --bbc-index DIR \\
        --signals FILE --model qa/search/abstain.json --model OTHER.json [--match bbc-tuning-2:0.025]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from asking import question_sets  # noqa: E402


def capture(indexes: dict[str, Path], path: Path) -> None:
    """Ask every question of the tuning sets once, abstention off; one JSON line each: its set,
    whether it is answerable, whether qa had an answer to give, and its signals."""
    from tqdm import tqdm

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        for name, (searcher, questions) in question_sets(indexes, off_topic=True).items():
            searcher.abstainer = None
            for text, history, answerable in tqdm(questions, desc=name, file=sys.stderr):
                result = searcher.ask(text, 5, history=list(history))
                record = {"set": name, "answerable": answerable, "answered": result.answer is not None,
                          "signals": vars(result.signals)}
                out.write(json.dumps(record) + "\n")


def outcomes(records: Sequence[dict], abstainer, threshold: float | None = None) -> dict[str, tuple[float, float]]:
    """{set: (answerable refused, unanswerable caught)} with qa's whole decision, at ``threshold``
    when given, else at the model's own."""
    from dataclasses import replace

    from qa.types import Signals

    if threshold is not None:
        abstainer = replace(abstainer, threshold=threshold)
    counts: dict[str, list[int]] = {}  # set -> [answerable, refused, unanswerable, caught]
    for record in records:
        row = counts.setdefault(record["set"], [0, 0, 0, 0])
        refused = not record["answered"] or abstainer.abstains(Signals(**record["signals"]))
        column = 0 if record["answerable"] else 2
        row[column] += 1
        row[column + 1] += refused
    return {name: (refused / max(n, 1), caught / max(m, 1)) for name, (n, refused, m, caught) in counts.items()}


def matching_threshold(records: Sequence[dict], abstainer, name: str, rate: float) -> float:
    """The highest threshold at which the model refuses at most ``rate`` of set ``name``'s
    answerable questions (qa's whole decision: those refused whatever the threshold, no answer
    or a check, and those whose p(answerable) is below it)."""
    from qa.types import Signals

    answerable = [Signals(**r["signals"]) if r["answered"] else None
                  for r in records if r["set"] == name and r["answerable"]]
    if not answerable:
        raise SystemExit(f"--match: no answerable questions in set {name!r}")
    always = [s is None or abstainer.refusal(s) is not None for s in answerable]
    p = [abstainer.probability(s) if s is not None else 0.0 for s in answerable]
    candidates = sorted(set(p) | {0.0})
    allowed = [t for t in candidates if sum(a or q < t for a, q in zip(always, p)) <= rate * len(answerable)]
    return max(allowed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for corpus in ("squad2", "written", "bbc"):
        parser.add_argument(f"--{corpus}-index", type=Path)
    parser.add_argument("--signals", type=Path, required=True, help="the captured signals (asked when missing)")
    parser.add_argument("--model", type=Path, action="append", required=True, help="an abstention model (JSON)")
    parser.add_argument("--match", help="SET:RATE, compare the models at the threshold refusing RATE of SET")
    args = parser.parse_args(argv)

    from qa.search.answer import Abstainer

    if not args.signals.is_file():
        indexes = {name: path for name in ("squad2", "written", "bbc")
                   if (path := getattr(args, f"{name}_index")) is not None}
        if not indexes:
            parser.error("the signals file is missing: name the indexes to ask (--squad2-index, ...)")
        capture(indexes, args.signals)
    records = [json.loads(line) for line in args.signals.read_text().splitlines()]
    names = list(dict.fromkeys(r["set"] for r in records))
    print("answerable refused / unanswerable caught, qa's whole abstention decision")
    print("| model | threshold | " + " | ".join(names) + " |")
    print("|---|--:|" + "--:|" * len(names))
    for path in args.model:
        abstainer = Abstainer.from_json(json.loads(path.read_text()))
        thresholds = [abstainer.threshold]
        if args.match:
            name, _, rate = args.match.rpartition(":")
            thresholds.append(matching_threshold(records, abstainer, name, float(rate)))
        for threshold in thresholds:
            found = outcomes(records, abstainer, threshold)
            cells = [f"{found[name][0]:.3f} / {found[name][1]:.3f}" for name in names]
            print(f"| {path.name} ({', '.join(abstainer.features)}) | {threshold:.4f} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
