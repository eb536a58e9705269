"""The abstention trade-off: unanswerable questions caught against answerable questions refused,
as the abstention threshold sweeps over the per-question no-answer probability.

Each question's no-answer probability is ``Abstainer.no_answer`` (qa.search.answer): 1 - the
calibrated p(answerable), or 1 when the answer-type check refuses the answer. qa abstains when
it is above 1 - the shipped threshold: that is the operating point, one point of the curve.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

CURVE_FIELDS = ("threshold", "unanswerable_caught", "answerable_refused")


@dataclass(frozen=True)
class CurvePoint:
    """Abstain when the no-answer probability is at least ``threshold``: the share of
    unanswerable questions caught and of answerable questions refused."""

    threshold: float | None  # None: abstain on none
    caught: float
    refused: float

    def to_json(self) -> dict[str, float | None]:
        return dict(zip(CURVE_FIELDS, (self.threshold, self.caught, self.refused)))


def tradeoff_curve(scores: Sequence[tuple[bool, float]]) -> list[CurvePoint]:
    """The curve for (answerable, no-answer probability) pairs: one point per distinct
    probability, from the highest (abstain on the fewest) down, after the point (threshold
    None) where qa abstains on none. Empty unless both kinds of question are there."""
    answerable = sum(1 for flag, _ in scores if flag)
    unanswerable = len(scores) - answerable
    if not answerable or not unanswerable:
        return []
    points = [CurvePoint(None, 0.0, 0.0)]
    caught = refused = 0
    for threshold in sorted({p for _, p in scores}, reverse=True):
        caught += sum(1 for flag, p in scores if p == threshold and not flag)
        refused += sum(1 for flag, p in scores if p == threshold and flag)
        points.append(CurvePoint(threshold, caught / unanswerable, refused / answerable))
    return points


def operating_point(decisions: Sequence[tuple[bool, bool]]) -> tuple[float, float] | None:
    """(unanswerable caught, answerable refused) of the actual (answerable, abstained) decisions."""
    answerable = [abstained for flag, abstained in decisions if flag]
    unanswerable = [abstained for flag, abstained in decisions if not flag]
    if not answerable or not unanswerable:
        return None
    return sum(unanswerable) / len(unanswerable), sum(answerable) / len(answerable)


def write_curve(points: Sequence[CurvePoint], operating: tuple[float, float] | None, stem: Path) -> list[Path]:
    """``stem``.csv (threshold, caught, refused per row) and ``stem``.json (the points and the
    operating point)."""
    csv_path, json_path = stem.with_suffix(".csv"), stem.with_suffix(".json")
    with csv_path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(CURVE_FIELDS)
        writer.writerows(
            ["" if p.threshold is None else f"{p.threshold:.6g}", f"{p.caught:.6g}", f"{p.refused:.6g}"] for p in points
        )
    data = {
        "points": [point.to_json() for point in points],
        "operating_point": dict(zip(CURVE_FIELDS[1:], operating)) if operating else None,
    }
    json_path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return [csv_path, json_path]


def plot_curves(
    curves: Mapping[str, tuple[Sequence[CurvePoint], tuple[float, float] | None]], title: str, path: Path
) -> None:
    """Unanswerable caught (x) against answerable refused (y), one line per mode, the operating
    point of each marked, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 5), dpi=120)
    try:
        for name, (points, operating) in curves.items():
            (line,) = axes.plot([p.caught for p in points], [p.refused for p in points], label=name)
            if operating is not None:
                axes.plot(*operating, marker="o", linestyle="none", color=line.get_color(), markersize=7,
                          label=f"{name}: operating point ({operating[0]:.2f}, {operating[1]:.2f})")
        axes.plot([0, 1], [0, 1], linestyle=":", color="grey", linewidth=1, label="chance")
        axes.set_xlim(0, 1)
        axes.set_ylim(0, 1)
        axes.set_xlabel("unanswerable questions caught (abstained)")
        axes.set_ylabel("answerable questions refused")
        axes.grid(alpha=0.3)
        axes.set_title(f"qa eval abstention: {title}", fontsize=9)
        axes.legend(fontsize=8)
        figure.tight_layout()
        figure.savefig(path, format="png")
    finally:
        plt.close(figure)
