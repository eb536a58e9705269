"""How well and how fast: question sets, gold spans, datasets, runs, metrics, reports, `qa bench`.

See docs/ARCHITECTURE.md for the data flow and what belongs where."""
