"""Measure the negation check (qa/search/negation.py). When the question negates what it asks
("not", "never", "didn't") and the answer sentence says nothing negative, qa abstains. The script
also measures where in the question a negation counts, and the words a sentence may negate with.
Both decide how often the check refuses.

Tuning data only. The sets are SQuAD 2.0 dev's five held-back tuning articles (--squad2-index, qa
eval --squad's index); the second round of questions written over SQuAD v1.0 train paragraphs
(--written-index, as calibrate_abstention.py --written indexes it); and the BBC News tuning sets
(--bbc-index). Each question is asked once with the shipped searcher, and qa's whole abstention
decision is replayed with each variant of the check:
- off;
- a negation anywhere in the question, the sentence's negators only;
- a negation anywhere in the question, the shipped words;
- in the main clause (shipped), the sentence's negators only;
- in the main clause, the shipped words (ships);
- in the main clause, the shipped words and every word with a negative prefix ("un-", "dis-", "non-").
For each variant the script prints answerable questions refused and unanswerable ones caught.

    python benchmarks/negation_check.py --squad2-index DIR --written-index DIR --bbc-index DIR
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from asking import question_sets  # noqa: E402


def variants() -> dict[str, tuple | None]:
    """{label: (the question's negating word or None, whether a sentence says something negative);
    None: the check is off}."""
    from qa.search.negation import NEGATION_RE, NOT_NEGATING_RE, negation, states_negation

    def anywhere(question: str) -> str | None:
        found = NEGATION_RE.search(NOT_NEGATING_RE.sub(" ", question))
        return found.group(0) if found else None

    def negators(text: str) -> bool:
        return NEGATION_RE.search(text) is not None

    def prefixed(text: str) -> bool:
        return states_negation(text) or re.search(r"\b(?:un|dis|non|in)\w{3,}", text, re.IGNORECASE) is not None

    return {
        "off": None,
        "anywhere, negators": (anywhere, negators),
        "anywhere, shipped words": (anywhere, states_negation),
        "main clause, negators": (negation, negators),
        "main clause, shipped words (ships)": (negation, states_negation),
        "main clause, shipped words and un-/dis-/non-/in- words": (negation, prefixed),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for corpus in ("squad2", "written", "bbc"):
        parser.add_argument(f"--{corpus}-index", type=Path, required=True)
    args = parser.parse_args(argv)

    from tqdm import tqdm

    from qa.search.answer import default_abstainer

    abstainer = default_abstainer()
    if abstainer is None:
        print("the abstention model is needed (qa/search/abstain.json)", file=sys.stderr)
        return 1
    sets = question_sets({"squad2": args.squad2_index, "written": args.written_index, "bbc": args.bbc_index})
    checks = variants()
    print("answerable refused / unanswerable caught, qa's whole abstention decision with each variant of the check")
    print("| set | answerable | unanswerable | " + " | ".join(checks) + " |")
    print("|---|--:|--:|" + "--:|" * len(checks))
    for name, (searcher, questions) in sets.items():
        searcher.abstainer = None  # the decision is replayed below, with and without the check
        refused = {label: [0, 0] for label in checks}  # [answerable refused, unanswerable caught]
        counts = [0, 0]
        for text, history, answerable in tqdm(questions, desc=name, file=sys.stderr):
            result = searcher.ask(text, 5, history=list(history))
            counts[not answerable] += 1
            if result.answer is None or abstainer.abstains(replace(result.signals, negation=0.0)):
                for label in checks:
                    refused[label][not answerable] += 1
                continue
            for label, check in checks.items():
                if check is not None and check[0](text) is not None and not check[1](result.answer.text):
                    refused[label][not answerable] += 1
        cells = [f"{answerable_refused / counts[0]:.3f} / {caught / max(counts[1], 1):.3f}"
                 for answerable_refused, caught in refused.values()]
        print(f"| {name} | {counts[0]} | {counts[1]} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
