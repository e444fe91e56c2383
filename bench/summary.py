"""One figure of a bench against its baseline, for `bench/report.py` (docs/benchmarks.md
and its plot): appended as a JSON line to the file `$BENCH_SUMMARY` names, if any."""

from __future__ import annotations

import json
import os


def record(
    figure: str, ours: float, baseline: float, baseline_label: str, unit: str, better: str
) -> None:
    """`ours` and `baseline` are medians of the same run; `better` is `lower` or `higher`."""
    path = os.environ.get("BENCH_SUMMARY")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps({
            "figure": figure, "ours": ours, "baseline": baseline,
            "baseline_label": baseline_label, "unit": unit, "better": better,
            "ratio": ours / baseline if baseline else None,
        }) + "\n")  # fmt: skip
