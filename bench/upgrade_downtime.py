#!/usr/bin/env python3
"""Upgrade downtime, 2.13.0 -> the role's release on sqlite with data: MLflow's 4 workers
(before) and the workers sized to the host (the default now), against one start of a bare
`mlflow server`, in one run.

    python bench/upgrade_downtime.py [--rounds 2] [--runs 20]

Each round, for each variant in turn (the order alternates): the site playbook deploys
2.13.0 (server `bench-up`, 127.0.0.1:5094, an empty data dir), the MLflow client logs N
runs with params and metrics, then the site playbook deploys the role's release with the
variant's `mlflow_server_workers` while `/health` is polled every 0.1 s: the longest
stretch without an OK is the downtime (stop, `mlflow db upgrade`, the new container's
start); then the data dir goes (the images stay: only the first round builds). Baseline:
a bare `mlflow server` of the new release from the same lock in a venv on the host,
started on a database that has its schema, with the same worker count: time to `/health`.
Prints min / median / max of the downtime and of the deploy, and the median downtime's
ratio to the bare start. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import docker
from first_start import time_bare
from mlflow.tracking import MlflowClient
from summary import record as record_figure
from throughput import INVENTORY, ansible, remove_images

CA = "/etc/ssl/certs/ca-certificates.crt"
NAME = "bench-up"
PORT = 5094
URL = f"http://127.0.0.1:{PORT}"
OLD = "2.13.0"
VARIANTS = {"MLflow's 4 workers (before)": 4, "sized to the host (default)": 0}


def longest_outage_during(action: Callable[[], None]) -> tuple[float, float]:
    """(longest stretch in s without /health OK, seconds the action took)."""
    samples: list[tuple[float, bool]] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            try:
                with urllib.request.urlopen(f"{URL}/health", timeout=2) as reply:
                    ok = reply.read().strip() == b"OK"
            except OSError:
                ok = False
            samples.append((time.monotonic(), ok))
            time.sleep(0.1)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    start = time.monotonic()
    try:
        action()
    finally:
        took = time.monotonic() - start
        done.set()
        poller.join()
    longest, down_since = 0.0, None
    for at, ok in samples:
        if not ok and down_since is None:
            down_since = at
        elif ok and down_since is not None:
            longest, down_since = max(longest, at - down_since), None
    return longest, took


def fill(runs: int) -> None:
    client = MlflowClient(tracking_uri=URL)
    experiment = client.create_experiment(f"bench-{time.time_ns()}")
    for index in range(runs):
        run_id = client.create_run(experiment).info.run_id
        client.log_param(run_id, "index", str(index))
        for step in range(5):
            client.log_metric(run_id, "loss", 1.0 / (step + 1), step=step)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--runs", type=int, default=20, help="runs logged before the upgrade")
    args = parser.parse_args()
    ca = CA if Path(CA).exists() else ""
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in VARIANTS}
    served: dict[str, int] = {}  # variant -> the workers its server ran
    engine = docker.from_env()
    version = ""
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        inventory = Path(tmp) / "hosts.yml"
        inventory.write_text(INVENTORY.format(name=NAME, python=sys.executable, ca=ca, port=PORT))
        remove_data = ("-e", "mlflow_server_remove_data=true")
        try:
            for index in range(args.rounds):
                order = list(VARIANTS.items())
                for name, workers in order if index % 2 == 0 else reversed(order):
                    ansible(inventory, "site.yml", "-e", f"mlflow_server_version={OLD}")
                    fill(args.runs)
                    upgrade = ("-e", f"mlflow_server_workers={workers}")
                    results[name].append(
                        longest_outage_during(lambda u=upgrade: ansible(inventory, "site.yml", *u))
                    )
                    config = engine.containers.get(NAME).attrs["Config"]
                    version = config["Labels"]["io.github.mlflow-server.version"]
                    served[name] = int(config["Cmd"][config["Cmd"].index("--workers") + 1])
                    print(f"round {index + 1}: {name}: {results[name][-1]}", file=sys.stderr)
                    ansible(inventory, "teardown.yml", *remove_data)
        finally:
            ansible(inventory, "teardown.yml", "-e", remove_images(),
                    *remove_data)  # fmt: skip
        bare = {w: time_bare(version, w, Path(tempfile.mkdtemp(dir=tmp)))[1]
                for w in sorted(set(served.values()))}  # fmt: skip
    print(f"MLflow {OLD} -> {version}, sqlite, {args.runs} runs, {args.rounds} rounds\n")
    print("| upgrade | downtime s (min / median / max) | deploy s | bare start, same "
          "workers | downtime vs bare start |")  # fmt: skip
    print("| --- | --- | --- | --- | --- |")
    for name, runs in results.items():
        workers = served[name]
        cells = []
        for column in (0, 1):
            values = sorted(run[column] for run in runs)
            cells.append(" / ".join(f"{v:.1f}" for v in (values[0], statistics.median(values),
                                                        values[-1])))  # fmt: skip
        median = statistics.median(run[0] for run in runs)
        print(f"| {name} | {cells[0]} | {cells[1]} | {bare[workers]:.1f} s ({workers} workers) "
              f"| {median / bare[workers]:.2f}x |")  # fmt: skip
        record_figure(f"upgrade downtime 2.13.0 -> {version}, {name}", median, bare[workers],
                      f"bare server start, {workers} workers", "s", "lower")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
