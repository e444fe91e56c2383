#!/usr/bin/env python3
"""Authenticated requests per second with basic-auth's login cache off and on, in one run.

    python bench/auth_cache.py [--seconds 20] [--clients 8] [--rounds 2] [--keep]

Deploys a server of its own with the site playbook (container `bench-auth`, published on
127.0.0.1:5096, sqlite, the role's default release and workers) with basic-auth and an
admin whose password is generated for the run, then loads it as that admin (the load of
bench/throughput.py: N client processes alternating `runs/log-batch` and `runs/search`
over one keep-alive connection, for S seconds after a 5 s warm-up) with
`mlflow_server_auth_cache_ttl` 0 (MLflow's default: every request checks the password's
scrypt hash) and 60, redeploying between the two (the changed basic_auth.ini recreates
the container); rounds alternate the order. Prints, per setting, the median over the
rounds of requests per second, p50/p99 latencies and failed requests, and the ratio to
the cache off. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
from pathlib import Path

import docker
from summary import record as record_figure
from throughput import CA, INVENTORY, ansible, load, print_table, remove_images, wait_healthy

NAME = "bench-auth"
URL = "http://127.0.0.1:5096"
ADMIN = "bench-admin"
AUTH = """\
          mlflow_server_auth_enabled: true
          mlflow_server_auth_username: {admin}
          mlflow_server_auth_password: "{password}"
          mlflow_server_auth_database_url: sqlite:////mlflow/basic_auth.db
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="leave the bench server running")
    args = parser.parse_args()
    ca = CA if os.environ.get("REQUESTS_CA_BUNDLE") else ""
    password = secrets.token_urlsafe(18)
    login = (ADMIN, password)
    settings = {"cache off (ttl 0, MLflow's default)": 0, "cache on (ttl 60 s)": 60}
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in settings}
    # The inventory holds the run's password: in a directory only root reads, removed.
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        inventory = Path(tmp) / "hosts.yml"
        inventory.write_text(
            INVENTORY.format(name=NAME, python=sys.executable, ca=ca, port=5096)
            + AUTH.format(admin=ADMIN, password=password)
        )  # fmt: skip
        inventory.chmod(0o600)
        try:
            for index in range(args.rounds):
                order = list(settings.items())
                for name, ttl in order if index % 2 == 0 else reversed(order):
                    ansible(inventory, "site.yml", "-e", f"mlflow_server_auth_cache_ttl={ttl}")
                    wait_healthy(URL)
                    load(URL, args.clients, 5, login)  # warm-up, not counted
                    rounds[name].append(load(URL, args.clients, args.seconds, login))
                    print(f"round {index + 1}: {name}: {rounds[name][-1]}", file=sys.stderr)
            container = docker.from_env().containers.get(NAME)
            version = container.attrs["Config"]["Labels"]["io.github.mlflow-server.version"]
            command = container.attrs["Config"]["Cmd"]
            workers = command[command.index("--workers") + 1] if "--workers" in command else "4"
        finally:
            if not args.keep:
                ansible(inventory, "teardown.yml", "-e", remove_images(),
                        "-e", "mlflow_server_remove_data=true")  # fmt: skip
    baseline = next(iter(settings))
    print(f"MLflow {version}, {workers} workers (the role's), sqlite, basic-auth as the "
          f"admin; {args.clients} clients x {args.seconds:.0f} s, {args.rounds} rounds "
          "(medians)\n")  # fmt: skip
    median = print_table(rounds, baseline, "login cache", "req/s vs cache off")
    on = list(settings)[1]
    record_figure("authenticated throughput, login cache on", median[on]["req/s"],
                  median[baseline]["req/s"], baseline, "req/s", "higher")  # fmt: skip
    print(json.dumps(rounds), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
