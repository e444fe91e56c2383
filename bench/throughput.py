#!/usr/bin/env python3
"""Requests per second and latency of our server against a bare `mlflow server`, in one run.

    python bench/throughput.py [--seconds 30] [--clients 8] [--rounds 2] [--keep]
                               [--database sqlite|postgresql]

Deploys a server of its own with the site playbook (container `bench-tp`, published on
127.0.0.1:5096, sqlite, the role's default release and workers), starts a bare `mlflow
server` of the same release from the same lock in a venv on the host (outside the
checkout, sqlite, same worker count, 127.0.0.1:5097), and loads, in turn, three targets:
the published port (Docker's port forwarding), the container's own address on its bridge
network, and the bare server; when the role sized the workers to other than MLflow's
default of 4, a fourth: a bare server with 4 workers on 127.0.0.1:5098. Each load: N
client processes, each with its own run, alternating `runs/log-batch` (10 metrics) and
`runs/search` (20 results) over one keep-alive connection, for S seconds, after a 5 s
warm-up of each target that is not counted; rounds alternate the targets so that the
machine's drift hits them alike. Prints, per target, the median over the rounds of
requests per second, p50/p99 latency of each call and failed requests, and the ratio of
requests per second to the bare server's.
With `--database postgresql` both servers use a database of their own on one real
PostgreSQL (Debian's, started by tests/emulators.py on 127.0.0.1:5439 under /var/tmp,
with a password generated for the run, removed at the end); as it listens on loopback,
the role's server runs with host networking (`mlflow_server_network_mode: host`), so
the targets are that server and the bare one.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import docker
import requests
from summary import record as record_figure

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from processes import stop_group  # tests/processes.py, shared with the releases test

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CA = "/etc/ssl/certs/ca-certificates.crt"
NAME = "bench-tp"
INVENTORY = """\
all:
  children:
    mlflow_servers:
      hosts:
        {name}:
          ansible_connection: local
          ansible_python_interpreter: {python}
          mlflow_server_container_name: {name}
          mlflow_server_image_name: bench-mlflow
          mlflow_server_port: {port}
          mlflow_server_bind_address: 127.0.0.1
          mlflow_server_data_dir: /var/lib/mlflow-{name}
          mlflow_server_pip_ca_bundle: "{ca}"
"""
API = "/api/2.0/mlflow"


def ansible(inventory: Path, playbook: str, *extra: str) -> None:
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inventory), str(ROOT / "playbooks" / playbook),
         *extra],
        cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "ANSIBLE_ROLES_PATH": str(ROOT / "roles"), "ANSIBLE_NOCOLOR": "1"},
    )  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(f"{playbook} failed:\n{result.stdout[-3000:]}{result.stderr[-2000:]}")


def remove_images() -> str:
    """The teardown's `mlflow_server_remove_images`: false while bench/report.py runs the
    benches one after another (each finds the image layers the one before built; the
    report removes the bench images at the end)."""
    return "mlflow_server_remove_images=" + (
        "false" if os.environ.get("BENCH_KEEP_IMAGES") else "true"
    )


def wait_healthy(url: str, timeout: float = 180, interval: float = 0.5) -> float:
    """Seconds until GET {url}/health answers OK, polled every `interval` s."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as reply:
                if reply.read().strip() == b"OK":
                    return time.monotonic() - start
        except OSError:
            pass
        time.sleep(interval)
    raise SystemExit(f"{url} did not answer /health within {timeout:.0f} s")


def bare_server(
    version: str, workers: int, data: Path, port: int = 5097, store: str = ""
) -> subprocess.Popen[bytes]:
    """`mlflow server` from the role's lock in a venv under /var/tmp (made once)."""
    venv = Path(f"/var/tmp/mlflow-bench-venv-{version}")
    lock = ROOT / f"roles/mlflow_server/files/locks/mlflow-{version}.txt"
    if not (venv / ".installed").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        env = {**os.environ, "PIP_CERT": CA} if Path(CA).exists() else dict(os.environ)
        subprocess.run([str(venv / "bin/pip"), "install", "-q", "--no-deps", "-r", str(lock)],
                       check=True, env=env)  # fmt: skip
        (venv / ".installed").touch()
    data.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [str(venv / "bin/mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(workers), "--backend-store-uri", store or f"sqlite:///{data}/mlflow.db",
         "--artifacts-destination", str(data / "artifacts")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=data, start_new_session=True,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
    )  # fmt: skip


PG_DIR = "/var/tmp/mlflow-bench-postgres"
PG_PORT = 5439


def emulator(*argv: str, stdin: str | None = None) -> None:
    subprocess.run([sys.executable, str(ROOT / "tests/emulators.py"), *argv],
                   input=stdin, text=True, check=True)  # fmt: skip


def postgres_databases(inventory: Path) -> dict[str, str]:
    """One PostgreSQL, a database for each server (empty), a password made now: the
    role's server gets its URI through the inventory (host networking: the database
    listens on loopback); returns the URIs."""
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        subprocess.run(["apt-get", "install", "-y", "-q", "postgresql"], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})  # fmt: skip
    password = secrets.token_urlsafe(24)
    uris = {}
    for name in ("role", "bare", "bare4"):
        emulator("postgres", "start", "--dir", PG_DIR, "--port", str(PG_PORT), "--user", "bench",
                 "--database", f"bench_{name}", stdin=password + "\n")  # fmt: skip
        uris[name] = f"postgresql://bench:{password}@127.0.0.1:{PG_PORT}/bench_{name}"
    with inventory.open("a") as out:
        out.write(f"          mlflow_server_database_uri: \"{uris['role']}\"\n"
                  "          mlflow_server_network_mode: host\n")  # fmt: skip
    return uris


def client(
    url: str, seconds: float, results: multiprocessing.Queue,  # type: ignore[type-arg]
    auth: tuple[str, str] | None = None,
) -> None:  # fmt: skip
    """One client: its own run; log-batch and search in turn over one connection (as
    `auth`, a basic-auth login, when given)."""
    session = requests.Session()
    session.auth = auth
    name = f"bench-{uuid.uuid4().hex}"
    created = session.post(f"{url}{API}/experiments/create", json={"name": name}, timeout=30)
    exp_id = created.json()["experiment_id"]
    run = session.post(f"{url}{API}/runs/create", json={"experiment_id": exp_id}, timeout=30)
    run_id = run.json()["run"]["info"]["run_id"]
    latencies: dict[str, list[float]] = {"log-batch": [], "search": []}
    failed = 0
    step = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for call in ("log-batch", "search"):
            now = int(time.time() * 1000)
            if call == "log-batch":
                body = {"run_id": run_id, "metrics": [
                    {"key": f"m{i}", "value": step * 0.1 + i, "timestamp": now, "step": step}
                    for i in range(10)]}  # fmt: skip
                path = "/runs/log-batch"
                step += 1
            else:
                body = {"experiment_ids": [exp_id], "max_results": 20}
                path = "/runs/search"
            start = time.monotonic()
            try:
                reply = session.post(f"{url}{API}{path}", json=body, timeout=30)
                ok = reply.status_code == 200
            except requests.RequestException:
                ok = False
            if ok:
                latencies[call].append(time.monotonic() - start)
            else:
                failed += 1
    results.put({"latencies": latencies, "failed": failed})


def load(
    url: str, clients: int, seconds: float, auth: tuple[str, str] | None = None
) -> dict[str, float]:
    results: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    workers = [multiprocessing.Process(target=client, args=(url, seconds, results, auth))
               for _ in range(clients)]  # fmt: skip
    for worker in workers:
        worker.start()
    collected = [results.get(timeout=seconds + 120) for _ in workers]
    for worker in workers:
        worker.join()
    out: dict[str, float] = {"failed": sum(r["failed"] for r in collected)}
    total = 0
    for call in ("log-batch", "search"):
        values = sorted(v for r in collected for v in r["latencies"][call])
        total += len(values)
        out[f"{call} p50 ms"] = statistics.median(values) * 1000
        out[f"{call} p99 ms"] = values[int(len(values) * 0.99) - 1] * 1000
    out["req/s"] = total / seconds
    return out


def print_table(
    rounds: dict[str, list[dict[str, float]]], baseline: str, first_column: str, ratio: str
) -> dict[str, dict[str, float]]:
    """The medians over the rounds of each target's loads, printed as a Markdown table
    with each target's requests per second against the baseline's; returned."""
    keys = ["req/s", "log-batch p50 ms", "log-batch p99 ms", "search p50 ms", "search p99 ms"]
    median = {name: {k: statistics.median(r[k] for r in runs) for k in [*keys, "failed"]}
              for name, runs in rounds.items()}  # fmt: skip
    base_rps = median[baseline]["req/s"]
    print(f"| {first_column} | " + " | ".join(keys) + f" | failed | {ratio} |")
    print("| --- " * (len(keys) + 3) + "|")
    for name, values in median.items():
        cells = " | ".join(f"{values[k]:.1f}" for k in keys)
        print(f"| {name} | {cells} | {values['failed']:.0f} | "
              f"{values['req/s'] / base_rps:.2f}x |")  # fmt: skip
    return median


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="leave the bench server running")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    ca = CA if os.environ.get("REQUESTS_CA_BUNDLE") else ""
    engine = docker.from_env()
    database = args.database
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        inventory = Path(tmp) / "hosts.yml"
        inventory.write_text(INVENTORY.format(name=NAME, python=sys.executable, ca=ca, port=5096))
        bares: list[subprocess.Popen[bytes]] = []
        stores = {"role": "", "bare": "", "bare4": ""}
        try:
            if database == "postgresql":
                stores = postgres_databases(inventory)
            ansible(inventory, "site.yml")
            container = engine.containers.get(NAME)
            labels = container.attrs["Config"]["Labels"]
            version = labels["io.github.mlflow-server.version"]
            command = container.attrs["Config"]["Cmd"]
            workers = int(command[command.index("--workers") + 1]) if "--workers" in command else 4
            address = container.attrs["NetworkSettings"]["IPAddress"]
            targets = (
                {"host network 127.0.0.1:5096": "http://127.0.0.1:5096"}
                if database == "postgresql"
                else {
                    "published port 127.0.0.1:5096": "http://127.0.0.1:5096",
                    f"container address {address}:5005": f"http://{address}:5005",
                }
            )
            targets["bare `mlflow server` 127.0.0.1:5097"] = "http://127.0.0.1:5097"
            bares.append(bare_server(version, workers, Path(tmp) / "bare", store=stores["bare"]))
            baseline = list(targets)[-1]
            # The role sizes the workers to the host's CPUs: MLflow's own default beside it.
            if workers != 4:
                targets["bare `mlflow server`, 4 workers (MLflow's default) 127.0.0.1:5098"] = (
                    "http://127.0.0.1:5098"
                )
                bares.append(bare_server(version, 4, Path(tmp) / "bare4", port=5098,
                                         store=stores["bare4"]))  # fmt: skip
            for url in targets.values():
                wait_healthy(url)
            for url in targets.values():  # warm-up, not counted: first imports, DB pages
                load(url, args.clients, 5)
            rounds: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
            for index in range(args.rounds):
                order = list(targets.items())
                for name, url in order if index % 2 == 0 else reversed(order):
                    rounds[name].append(load(url, args.clients, args.seconds))
                    print(f"round {index + 1}: {name}: {rounds[name][-1]}", file=sys.stderr)
        finally:
            for bare in bares:
                stop_group(bare)
            if not args.keep:
                ansible(inventory, "teardown.yml", "-e", remove_images(),
                        "-e", "mlflow_server_remove_data=true")  # fmt: skip
                if database == "postgresql":
                    emulator("postgres", "stop", "--dir", PG_DIR)
    print(f"MLflow {version}, {workers} workers (the role's), {database}; {args.clients} clients x "
          f"{args.seconds:.0f} s, {args.rounds} rounds (medians)\n")  # fmt: skip
    median = print_table(rounds, baseline, "target", "req/s vs bare")
    for name, values in median.items():
        if name != baseline:
            record_figure(f"throughput, {name} ({database})", values["req/s"],
                          median[baseline]["req/s"], baseline, "req/s", "higher")  # fmt: skip
    print(json.dumps(rounds), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
