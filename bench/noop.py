#!/usr/bin/env python3
"""A no-op re-deploy against Ansible's floor, in one run on one host.

    python bench/noop.py [--runs 5] [--keep]

Deploys a server of its own once (container `bench-noop`, 127.0.0.1:5095, data in
/var/lib/mlflow-bench-noop, the role's default release), then times, in turn:
`ansible-playbook playbooks/site.yml` with nothing to change (the fast path: the host
matches the record of the last deploy); the same with the record removed first, so
that the full deploy runs and finds nothing to change (the no-op before the fast
path); and two floor playbooks the same Ansible runs against the same host: one
`docker_container_info` of the container, without and with fact gathering (the
latter is issue 12's floor). Min / median / max of each, the ratios of the medians,
and the controller CPU each used. Removes its server at the end (`--keep` leaves it).
Prints a Markdown table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from summary import record as record_figure
from throughput import remove_images

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
INVENTORY = """\
all:
  children:
    mlflow_servers:
      hosts:
        bench-noop:
          ansible_connection: local
          ansible_python_interpreter: {python}
          mlflow_server_container_name: bench-noop
          mlflow_server_image_name: bench-mlflow
          mlflow_server_port: 5095
          mlflow_server_bind_address: 127.0.0.1
          mlflow_server_data_dir: /var/lib/mlflow-bench-noop
          mlflow_server_pip_ca_bundle: "{ca}"
"""
FLOOR = """\
- name: Ansible's floor - look at one container
  hosts: mlflow_servers
  gather_facts: {facts}
  tasks:
    - name: Read the container
      community.docker.docker_container_info:
        name: bench-noop
"""


COLUMNS = {
    "noop": "no-op `site.yml` (fast path)",
    "full": "no-op `site.yml`, record removed (full deploy path)",
    "floor_false": "floor: one `docker_container_info`",
    "floor_true": "floor with fact gathering",
}


def play(inventory: Path, playbook: Path, *extra: str) -> tuple[float, float, str]:
    """Wall seconds, controller CPU seconds (children), and the output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inventory), str(playbook), *extra],
        cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "ANSIBLE_ROLES_PATH": str(ROOT / "roles"), "ANSIBLE_NOCOLOR": "1"},
    )  # fmt: skip
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode != 0:
        raise SystemExit(f"{playbook.name} failed:\n{result.stdout[-3000:]}{result.stderr[-2000:]}")
    return wall, cpu, result.stdout


def changed(output: str) -> int:
    line = [x for x in output.splitlines() if x.startswith("bench-noop ") and "changed=" in x][-1]
    return int(line.split("changed=")[1].split()[0])


def summary(values: list[float]) -> str:
    return f"{min(values):.1f} / {statistics.median(values):.1f} / {max(values):.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="leave the bench server running")
    args = parser.parse_args()
    ca = "/etc/ssl/certs/ca-certificates.crt" if os.environ.get("REQUESTS_CA_BUNDLE") else ""
    with tempfile.TemporaryDirectory() as tmp:
        inventory = Path(tmp) / "hosts.yml"
        inventory.write_text(INVENTORY.format(python=sys.executable, ca=ca))
        floors = {}
        for facts in ("false", "true"):
            floors[facts] = Path(tmp) / f"floor-{facts}.yml"
            floors[facts].write_text(FLOOR.format(facts=facts))
        site = ROOT / "playbooks/site.yml"
        record = Path("/var/lib/mlflow-bench-noop/config/deployed")
        try:
            wall, _, _ = play(inventory, site)
            print(f"first deploy: {wall:.1f} s", file=sys.stderr)
            runs: dict[str, list[tuple[float, float]]] = {k: [] for k in COLUMNS}
            for _ in range(args.runs):
                wall, cpu, out = play(inventory, site)
                if changed(out):
                    raise SystemExit(f"the re-deploy changed {changed(out)} things: not a no-op")
                runs["noop"].append((wall, cpu))
                record.unlink()
                wall, cpu, out = play(inventory, site)
                if changed(out) != 1:  # the record, written again
                    raise SystemExit(f"the full no-op changed {changed(out)} things, not 1")
                runs["full"].append((wall, cpu))
                for facts in ("false", "true"):
                    wall, cpu, _ = play(inventory, floors[facts])
                    runs[f"floor_{facts}"].append((wall, cpu))
        finally:
            if not args.keep:
                remove = ["-e", remove_images()]
                play(inventory, ROOT / "playbooks/teardown.yml", *remove,
                     "-e", "mlflow_server_remove_data=true")  # fmt: skip
    median = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
              for k, v in runs.items()}  # fmt: skip
    print(f"| measure ({args.runs} runs) | wall s (min / median / max) | controller CPU s "
          "(median) | wall vs floor | wall vs floor with facts |")  # fmt: skip
    print("| --- | --- | --- | --- | --- |")
    for key, label in COLUMNS.items():
        walls = [w for w, _ in runs[key]]
        print(f"| {label} | {summary(walls)} | {median[key][1]:.1f} | "
              f"{median[key][0] / median['floor_false'][0]:.2f}x | "
              f"{median[key][0] / median['floor_true'][0]:.2f}x |")  # fmt: skip
    print(f"\nfast no-op vs full no-op: {median['noop'][0] / median['full'][0]:.2f}x wall")
    floor = "floor playbook (one docker_container_info), with facts"
    record_figure("no-op deploy, fast path", median["noop"][0], median["floor_true"][0],
                  floor, "s", "lower")  # fmt: skip
    record_figure("no-op deploy, full path finding nothing", median["full"][0],
                  median["floor_true"][0], floor, "s", "lower")  # fmt: skip
    print(json.dumps(runs), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
