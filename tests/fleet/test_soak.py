"""Soak with injected faults: 8 MLflow clients log metrics, params and small artifacts
through the load balancer the whole time while, one after the other, the fleet's server
process is killed, a host's Docker engine is stopped and started, PostgreSQL restarts,
the S3 store is unreachable for 10 s, and a configuration change is rolled over both
hosts. The clients retry as the MLflow client does; every write it acknowledged is then
read back, and each fault's failed attempts (with their causes) and failed calls are
reported. During the rolled change 8 more clients that never retry log and search too:
not one of their requests may fail (issue 9's rolling update). Runs last in the fleet
scenario (after test_fleet.py)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests
from conftest import Fleet
from load import RetryCounter, SoakClients

API = "/api/2.0/mlflow"
RECOVERY_TIMEOUT = 240.0  # seconds a fault may take to heal before the soak fails
S3_AWAY = 10.0
S3_RULE = "OUTPUT -p tcp --dport 8333 -j REJECT --reject-with tcp-reset"


@dataclass
class Outcome:
    fault: str
    recovered_s: float
    calls: int = 0
    retried: tuple[str, ...] = ()  # the failed attempts the client retried, each's cause
    failed: tuple[str, ...] = ()


def _until(check: Callable[[], bool], since: float, what: str) -> float:
    """Seconds from `since` until `check()` holds, polled every 0.25 s."""
    while time.monotonic() - since < RECOVERY_TIMEOUT:
        try:
            if check():
                return time.monotonic() - since
        except (requests.RequestException, OSError):
            pass
        time.sleep(0.25)
    raise AssertionError(f"{what} did not recover within {RECOVERY_TIMEOUT:.0f} s")


def _healthy(fleet: Fleet, url: str) -> bool:
    return requests.get(f"{url}/health", timeout=2, verify=fleet.ca).text == "OK"


def _writes(fleet: Fleet, url: str, run_id: str) -> bool:
    """One metric logged through `url`, no retry."""
    reply = requests.post(
        f"{url}{API}/runs/log-metric", auth=fleet.auth, timeout=5, verify=fleet.ca,
        json={"run_id": run_id, "key": "probe", "value": 1.0, "timestamp": 0, "step": 0},
    )  # fmt: skip
    return reply.status_code == 200


def _lists_artifacts(fleet: Fleet, url: str) -> bool:
    """The server lists its artifact store's root (it reaches S3), no retry."""
    reply = requests.get(f"{url}/api/2.0/mlflow-artifacts/artifacts", auth=fleet.auth, timeout=10,
                         verify=fleet.ca)  # fmt: skip
    return reply.status_code == 200


def test_a_soak_with_five_faults_loses_no_acknowledged_write(
    fleet: Fleet, client_env: None, tmp_path: Path
) -> None:
    app1, app2 = sorted(fleet.app_urls)
    urls = fleet.app_urls
    experiment = requests.post(
        f"{fleet.lb_url}{API}/experiments/create", auth=fleet.auth, timeout=30, verify=fleet.ca,
        json={"name": f"fleet-soak-{uuid.uuid4().hex[:8]}"},
    )  # fmt: skip
    experiment.raise_for_status()
    experiment_id = experiment.json()["experiment_id"]
    probe_run = requests.post(
        f"{fleet.lb_url}{API}/runs/create", auth=fleet.auth, timeout=30, verify=fleet.ca,
        json={"experiment_id": experiment_id, "run_name": "probe"},
    ).json()["run"]["info"]["run_id"]  # fmt: skip
    restarts_before = int(fleet.docker(app1, "inspect", "--format", "{{.RestartCount}}",
                                       fleet.container))  # fmt: skip
    before = {host: fleet.container_state(host) for host in urls}

    def restarts() -> int:
        return int(fleet.docker(app1, "inspect", "--format", "{{.RestartCount}}", fleet.container))

    def crash() -> float:
        pid = fleet.docker(app1, "inspect", "--format", "{{.State.Pid}}", fleet.container)
        since = time.monotonic()
        fleet.shell(app1, f"kill -KILL {int(pid)}")
        # Recovered: Docker has restarted the container (its restart policy: the same
        # container, nothing redeployed it) and the new process answers. A /health right
        # after the kill can still be answered while the processes die.
        recovered = _until(lambda: restarts() > restarts_before and _healthy(fleet, urls[app1]),
                           since, f"{app1}'s server")  # fmt: skip
        assert fleet.container_state(app1)["id"] == before[app1]["id"]
        assert restarts() == restarts_before + 1
        return recovered

    def engine() -> float:
        since = time.monotonic()
        stopped = "for i in $(seq 120); do pgrep -x dockerd >/dev/null || exit 0; sleep 0.5; done"
        fleet.shell(app2, f"pkill -TERM -x dockerd; {stopped}; exit 1")
        fleet.shell(app2, "setsid dockerd >>/var/log/dockerd.log 2>&1 </dev/null &")
        return _until(lambda: _healthy(fleet, urls[app2]), since, f"{app2}'s Docker engine")

    def database() -> float:
        since = time.monotonic()
        fleet.shell("fleet-store", "pg_ctlcluster 15 main restart")
        return _until(lambda: all(_writes(fleet, u, probe_run) for u in urls.values()),
                      since, "writes after PostgreSQL's restart")  # fmt: skip

    def s3() -> float:
        since = time.monotonic()
        try:
            for host in urls:
                fleet.shell(host, f"iptables -I {S3_RULE}")
            time.sleep(S3_AWAY)
        finally:
            for host in urls:
                fleet.shell(host, f"iptables -D {S3_RULE} || true")
        return _until(lambda: all(_lists_artifacts(fleet, u) for u in urls.values()),
                      since, "the artifact store")  # fmt: skip

    def redeploy() -> float:
        # Beside the soak's clients, 8 that never retry: each failed request counts.
        load = fleet.load_clients()
        load.start()
        since = time.monotonic()
        try:
            result = fleet.run_playbook(
                {"mlflow_server_env": {"MLFLOW_FLEET_ROLL": uuid.uuid4().hex}}
            )
        finally:
            load.stop()
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        no_retry.extend([load.total_requests, load.failures, load.read_back()])
        # Recovered: the rollout is done and every host answers; the bound is on what
        # follows the playbook (its own length depends on the host's load).
        _until(lambda: all(_healthy(fleet, u) for u in urls.values()), time.monotonic(),
               "the redeploy")  # fmt: skip
        return time.monotonic() - since

    faults: list[tuple[str, Callable[[], float]]] = [
        (f"server process killed (SIGKILL from {app1})", crash),
        (f"Docker engine stopped and started ({app2})", engine),
        ("PostgreSQL restarted", database),
        (f"S3 store unreachable from both hosts for {S3_AWAY:.0f} s", s3),
        ("configuration change rolled over both hosts", redeploy),
    ]
    outcomes: list[Outcome] = []
    no_retry: list = []  # the rolled change's no-retry clients: requests, failures, lost
    clients = SoakClients(fleet.lb_url, experiment_id, tmp_path / "files")
    with RetryCounter() as retries:
        clients.start()
        try:
            time.sleep(10)  # serving before the first fault
            for name, inject in faults:
                start = time.monotonic()
                recovered = inject()
                _quiet(retries, clients)
                end = time.monotonic()
                outcomes.append(Outcome(
                    name, recovered, clients.calls_between(start, end),
                    tuple(retries.between(start, end)),
                    tuple(clients.errors_between(start, end)),
                ))  # fmt: skip
            time.sleep(5)
        finally:
            clients.stop()
    lost = clients.read_back(tmp_path / "read")

    print(f"soak: {len(clients.stats)} clients, {sum(len(s.calls) for s in clients.stats)} calls; "
          f"acknowledged {sum(len(s.acked_steps) for s in clients.stats)} metric points and "
          f"params, {sum(len(s.acked_artifacts) for s in clients.stats)} artifacts; "
          f"{len(lost)} lost; {len(retries.failures)} failed attempts retried")  # fmt: skip
    print("| fault | recovered in s | calls | failed attempts (retried) | failed after retries |")
    for o in outcomes:
        row = (o.fault, f"{o.recovered_s:.1f}", o.calls, len(o.retried), len(o.failed))
        print("| " + " | ".join(map(str, row)) + " |")
    for o in outcomes:
        for attempt in o.retried[:3]:
            print(f"  {o.fault}, retried: {attempt}")
        for error in o.failed[:3]:
            print(f"  {o.fault}, failed: {error}")

    # What a fault costs the clients (failed attempts, and calls that failed even after
    # the client's retries, e.g. a 401 while the auth database restarts) is reported
    # above; what the servers acknowledged must all be there.
    assert lost == []
    after = {host: fleet.container_state(host) for host in urls}
    # The rolled change: every host replaced, with the change.
    for host in urls:
        assert after[host]["id"] != before[host]["id"], f"{host} was not replaced"
        assert "MLFLOW_FLEET_ROLL=" in after[host]["env"]
    # A rolled change (HAProxy drains a host before its container is replaced and
    # enables it once it serves): no request fails, no acknowledged write is lost.
    requests_made, failures, load_lost = no_retry
    print(f"rolled change: {requests_made} requests by 8 no-retry clients, "
          f"{len(failures)} failed")  # fmt: skip
    assert failures == []
    assert requests_made > 100
    assert load_lost == []
    rolled = outcomes[-1]
    assert rolled.calls > 100, rolled
    assert rolled.failed == (), rolled


def _quiet(
    retries: RetryCounter, clients: SoakClients, quiet: float = 5.0, bound: float = 180.0
) -> None:
    """Wait until no attempt has failed for `quiet` s and every client has started a call
    since the last one that failed (none is still in a retry's backoff), so that each
    fault's window holds the failed attempts it caused."""
    start = time.monotonic()
    while time.monotonic() - start < bound:
        last = max(retries.times[-1] if retries.times else 0.0, start)
        since_each = all(s.calls and s.calls[-1] > last for s in clients.stats)
        if time.monotonic() - last >= quiet and since_each:
            return
        time.sleep(0.5)
