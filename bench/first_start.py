#!/usr/bin/env python3
"""Time to /health: the role's image, whole lock (`full`, as before) and server-only
(the default), against a bare `mlflow server` of the same lock on the host, in one run.

    python bench/first_start.py [--rounds 3] [--keep]

Builds both images of the role's default release with the site playbook (server
`bench-fs`, 127.0.0.1:5095; the `full` one first, kept as the previous image), then, in
rounds that alternate the order, times from the container's start (or the bare
process's) to the first `/health` that answers OK, polled every 0.1 s:
- first start: a new container on an empty volume (the tracking DB's schema is created),
- restart: the same container again (the schema is there; what an upgrade's new
  container on a migrated DB costs, without the migration),
with MLflow's default 4 workers and with 2 (one per core here). Prints min / median /
max and each median's ratio to the bare server's. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import docker
from summary import record as record_figure
from throughput import INVENTORY, ansible, bare_server, remove_images, stop_group, wait_healthy

CA = "/etc/ssl/certs/ca-certificates.crt"
NAME = "bench-fs"
PORT = 5095


def time_image(engine: docker.DockerClient, image: str, workers: int) -> tuple[float, float]:
    """(first start, restart) of a standalone container of the image."""
    command = ["--host", "0.0.0.0", "--port", "5005", "--workers", str(workers)]
    container = engine.containers.create(
        image, command=command, ports={"5005/tcp": ("127.0.0.1", PORT + 10)}
    )
    try:
        container.start()
        first = wait_healthy(f"http://127.0.0.1:{PORT + 10}", 240, 0.1)
        container.stop(timeout=30)
        container.start()
        again = wait_healthy(f"http://127.0.0.1:{PORT + 10}", 240, 0.1)
        return first, again
    finally:
        container.remove(force=True, v=True)


def time_bare(version: str, workers: int, data: Path) -> tuple[float, float]:
    times = []
    for _ in range(2):  # the second start finds the schema the first created
        start = time.monotonic()
        process = bare_server(version, workers, data)
        try:
            wait_healthy("http://127.0.0.1:5097", 240, 0.1)
            times.append(time.monotonic() - start)
        finally:
            stop_group(process)
    return times[0], times[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="leave the bench server running")
    args = parser.parse_args()
    ca = CA if Path(CA).exists() else ""
    engine = docker.from_env()
    results: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        inventory = Path(tmp) / "hosts.yml"
        inventory.write_text(INVENTORY.format(name=NAME, python=sys.executable, ca=ca, port=PORT))
        try:
            ansible(inventory, "site.yml", "-e", "mlflow_server_image_profile=full")
            full = engine.containers.get(NAME).attrs["Config"]["Image"]
            ansible(inventory, "site.yml")
            server = engine.containers.get(NAME).attrs["Config"]["Image"]
            version = engine.images.get(server).labels["org.opencontainers.image.version"]
            engine.containers.get(NAME).stop(timeout=30)  # only the measured server runs
            targets = {
                "image, whole lock (full), 4 workers": lambda: time_image(engine, full, 4),
                "image, server-only, 4 workers": lambda: time_image(engine, server, 4),
                "image, server-only, 2 workers": lambda: time_image(engine, server, 2),
                "bare mlflow server, whole lock, 4 workers": lambda: time_bare(
                    version, 4, Path(tempfile.mkdtemp(dir=tmp))
                ),
                "bare mlflow server, whole lock, 2 workers": lambda: time_bare(
                    version, 2, Path(tempfile.mkdtemp(dir=tmp))
                ),
            }
            for index in range(args.rounds):
                order = list(targets.items())
                for name, measure in order if index % 2 == 0 else reversed(order):
                    results.setdefault(name, []).append(measure())
                    print(f"round {index + 1}: {name}: {results[name][-1]}", file=sys.stderr)
        finally:
            if not args.keep:
                ansible(inventory, "teardown.yml", "-e", remove_images(),
                        "-e", "mlflow_server_remove_data=true")  # fmt: skip
    print(f"MLflow {version}, sqlite, time from start to /health OK ({args.rounds} rounds)\n")
    print("| server | first start s (min / median / max) | restart s | vs bare (median) |")
    print("| --- | --- | --- | --- |")
    for name, runs in results.items():
        workers = name.rsplit(",", 1)[1]
        bare = results[f"bare mlflow server, whole lock,{workers}"]
        cells = []
        for column in (0, 1):
            values = sorted(run[column] for run in runs)
            cells.append(" / ".join(f"{v:.1f}" for v in (values[0], statistics.median(values),
                                                        values[-1])))  # fmt: skip
        ratios = [
            statistics.median(r[c] for r in runs) / statistics.median(b[c] for b in bare)
            for c in (0, 1)
        ]
        print(f"| {name} | {cells[0]} | {cells[1]} | {ratios[0]:.2f}x / {ratios[1]:.2f}x |")
        if not name.startswith("bare"):
            baseline = f"bare mlflow server, whole lock,{workers}"
            for column, what in ((0, "first start"), (1, "restart")):
                ours = statistics.median(r[column] for r in runs)
                record_figure(f"time to /health, {what}: {name}", ours,
                              ours / ratios[column], baseline, "s", "lower")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
