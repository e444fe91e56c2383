#!/usr/bin/env python3
"""`make bench`: every bench in one run, each figure beside its baseline measured in the
same run, written to docs/benchmarks.md (with this machine's description) and plotted
as ratios to the baselines in docs/benchmarks.png.

    python bench/report.py [--only NAME ...] [--out docs]

Runs, one after the other: build_size, noop, throughput (sqlite, then PostgreSQL),
first_start, upgrade_downtime (their own docstrings say what each measures). Each bench
prints a Markdown table (kept whole in the report) and records its figures against their
baselines (bench/summary.py); a bench that fails is reported as failed and the others
still run. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
BENCHES: dict[str, list[str]] = {
    "build_size": ["build_size.py"],
    "noop": ["noop.py", "--runs", "3"],
    "throughput": ["throughput.py", "--seconds", "20"],
    "throughput_postgresql": ["throughput.py", "--database", "postgresql", "--seconds", "20"],
    "first_start": ["first_start.py", "--rounds", "2"],
    "upgrade_downtime": ["upgrade_downtime.py", "--rounds", "2"],
}


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), platform.processor() or "unknown",
    )  # fmt: skip
    memory = next(
        line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )  # fmt: skip
    os_release = Path("/etc/os-release").read_text().splitlines()
    release = dict(line.split("=", 1) for line in os_release if "=" in line)
    engine = docker.from_env().version()

    def git(*argv: str) -> str:
        return subprocess.run(
            ["git", *argv], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()

    dirty = " (uncommitted changes)" if git("status", "--porcelain", "--untracked-files=no") else ""
    ansible = subprocess.run([str(Path(sys.executable).parent / "ansible"), "--version"],
                             capture_output=True, text=True).stdout.splitlines()[0]  # fmt: skip
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git("rev-parse", "--short", "HEAD") + dirty,
        "CPU": f"{os.cpu_count()} x {cpu}",
        "memory": f"{int(memory) / 1024 / 1024:.1f} GiB",
        "system": f"{release.get('PRETTY_NAME', '').strip(chr(34))}, Linux {platform.release()}",
        "Docker engine": f"{engine.get('Version')} ({engine.get('Os')}/{engine.get('Arch')})",
        "Python / Ansible": f"{platform.python_version()} / {ansible}",
    }


def run_bench(name: str, argv: list[str], summaries: Path) -> dict[str, object]:
    """Run one bench; its Markdown, its figures, how long it took and how it ended."""
    summary = summaries / f"{name}.jsonl"
    start = time.monotonic()
    print(f"== {name}: python bench/{' '.join(argv)}", file=sys.stderr, flush=True)
    result = subprocess.run(
        [sys.executable, str(HERE / argv[0]), *argv[1:]], cwd=ROOT, stdout=subprocess.PIPE,
        text=True, env={**os.environ, "BENCH_SUMMARY": str(summary), "BENCH_KEEP_IMAGES": "1"},
    )  # fmt: skip
    figures = (
        [json.loads(line) for line in summary.read_text().splitlines()] if summary.exists() else []
    )
    return {
        "name": name, "command": "python bench/" + " ".join(argv), "markdown": result.stdout,
        "figures": figures, "seconds": time.monotonic() - start, "ok": result.returncode == 0,
    }  # fmt: skip


def remove_bench_images() -> None:
    """The images the benches kept for each other (their servers are gone)."""
    engine = docker.from_env()
    for image in engine.images.list():
        for tag in image.tags:
            if tag.startswith("bench-"):
                engine.images.remove(tag, noprune=False)
    engine.images.prune(filters={"dangling": True})


def plot(results: list[dict[str, object]], about: dict[str, str], path: Path) -> None:
    """Each figure as its ratio to its baseline (1 = the baseline), green where it is the
    better side of 1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = [f for r in results for f in r["figures"] if f.get("ratio")]  # type: ignore[attr-defined]
    if not figures:
        return
    height = 0.45 * len(figures) + 1.6
    fig, ax = plt.subplots(figsize=(11, height))
    labels = [f"{f['figure']}\nvs {f['baseline_label']}" for f in figures]
    ratios = [f["ratio"] for f in figures]
    better = [(f["ratio"] <= 1) if f["better"] == "lower" else (f["ratio"] >= 1) for f in figures]
    ax.barh(range(len(figures)), ratios, color=["#3a9d5d" if b else "#d9822b" for b in better])
    ax.axvline(1.0, color="black", linewidth=1)
    for index, (ratio, figure) in enumerate(zip(ratios, figures, strict=True)):
        ax.text(ratio, index, f" {ratio:.2f}x ({figure['better']} is better)", va="center",
                fontsize=8)  # fmt: skip
    ax.set_yticks(range(len(figures)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("ours / baseline, medians of the same run (1 = the baseline)")
    ax.set_xlim(0, max(ratios) * 1.45)
    ax.set_title(f"make bench, {about['date']}, commit {about['commit']}\n{about['CPU']}",
                 fontsize=9)  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(results: list[dict[str, object]], about: dict[str, str], plotted: bool) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`bench/report.py`); do not edit by hand. Every figure is",
        "measured beside its baseline in the same run on the machine below; ratios are",
        "ours / baseline of the medians. Nothing here is asserted by a test.",
        "",
        "| machine | |",
        "| --- | --- |",
        *(f"| {key} | {value} |" for key, value in about.items()),
        "",
        "## Ratios",
        "",
        "| figure | ours | baseline | baseline's | ours / baseline | better |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for result in results:
        for f in result["figures"]:  # type: ignore[attr-defined]
            ratio = f"{f['ratio']:.2f}x" if f.get("ratio") else "-"
            lines.append(
                f"| {f['figure']} | {f['ours']:.1f} {f['unit']} | {f['baseline_label']} | "
                f"{f['baseline']:.1f} {f['unit']} | {ratio} | {f['better']} |"
            )
    if plotted:
        lines += ["", "![ratios to the baselines](benchmarks.png)"]
    for result in results:
        state = "" if result["ok"] else " (FAILED: see its output)"
        lines += [
            "",
            f"## {result['name']}{state}",
            "",
            f"`{result['command']}`, {float(result['seconds']) / 60:.1f} min",  # type: ignore[arg-type]
            "",
            str(result["markdown"]).strip() or "(no output)",
        ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(BENCHES), help="run these benches")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    about = machine()
    results = []
    with tempfile.TemporaryDirectory() as summaries:
        try:
            for name in args.only or list(BENCHES):
                results.append(run_bench(name, BENCHES[name], Path(summaries)))
        finally:
            remove_bench_images()
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        plot(results, about, args.out / "benchmarks.png")
        plotted = (args.out / "benchmarks.png").exists()
    except ImportError:
        print("no plot: matplotlib is missing (pip install -r requirements-bench.txt)",
              file=sys.stderr)  # fmt: skip
        plotted = False
    (args.out / "benchmarks.md").write_text(report(results, about, plotted))
    print(f"wrote {args.out / 'benchmarks.md'}", file=sys.stderr)
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
