"""Two MLflow hosts behind HAProxy on one PostgreSQL and one S3 store."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import threading
import time
import uuid
from pathlib import Path

import mlflow
import pytest
import requests
from conftest import Fleet
from load import OutageProbe
from mlflow.tracking import MlflowClient

API = "/api/2.0/mlflow"


# First, as it needs the release converge left (2.13.0); the tests after it run on
# 3.17.2, the inventory's release.
def test_a_release_bump_migrates_the_shared_database_once(fleet: Fleet) -> None:
    """2.13.0 -> 3.17.2 changes the schema: one backup, every server stopped, one
    `mlflow db upgrade`, then every server on the new release. Writes fail while no
    server runs (the downtime, reported); none the servers acknowledged is lost."""
    backups = "ls /var/lib/mlflow-server/data/backups 2>/dev/null | grep -c '^postgresql-' || true"
    before = {host: fleet.container_state(host) for host in fleet.app_urls}
    assert {state["version"] for state in before.values()} == {"2.13.0"}
    dumps_before = {host: int(fleet.shell(host, backups)) for host in fleet.app_urls}
    load = fleet.load_clients()
    probe = OutageProbe(fleet.lb_url, fleet.ca)
    load.start()
    probe.start()
    started = time.monotonic()
    try:
        result = fleet.run_playbook()
    finally:
        probe.stop()
        load.stop()
    took = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    after = {host: fleet.container_state(host) for host in fleet.app_urls}
    assert {state["version"] for state in after.values()} == {"3.17.2"}
    assert len({state["image"] for state in after.values()}) == 1
    # Migrated once, by one host, after one backup on that host (said once as a warning;
    # the deploy summary of that host repeats it).
    said = output.count("[WARNING]: Upgraded the tracking database from schema")
    assert said == 1, output[-4000:]
    dumps = {host: int(fleet.shell(host, backups)) - dumps_before[host] for host in fleet.app_urls}
    assert sorted(dumps.values()) == [0, 1], dumps
    total, longest = probe.outage()
    print(f"migrating release bump: deploy {took:.0f} s; the load balancer did not answer "
          f"/health for {total:.1f} s in all, {longest:.1f} s at the longest; "
          f"{load.total_requests} requests by 8 clients, {len(load.failures)} failed; "
          "stretches (start s, length s): "
          + ", ".join(f"({a:.0f}, {b:.1f})" for a, b in probe.stretches() if b >= 0.5))  # fmt: skip
    assert total > 0, "no downtime: were the servers not stopped for the migration?"
    assert load.read_back() == []


def test_a_deploy_with_nothing_to_do_stops_after_reading_each_host(fleet: Fleet) -> None:
    """The hosts the image is shipped to have no base image (it is on the build host):
    a run with nothing to do reads the base images where the image is built and walks
    no host's deploy (it did before: "the base image is not on the Docker host")."""
    result = fleet.run_playbook()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "tasks/deploy/apply.yml for" not in output, output[-4000:]
    recap = output[output.rfind("PLAY RECAP") :]
    for host in [*fleet.app_urls, "fleet-lb"]:
        assert re.search(rf"^{host}\s+:.* changed=0 .* failed=0 ", recap, re.M), recap


def test_every_host_runs_the_same_image(fleet: Fleet) -> None:
    images = {host: fleet.container_state(host)["image"] for host in fleet.app_urls}
    assert len(set(images.values())) == 1, images


def test_a_run_logged_through_one_host_reads_back_through_the_other_and_the_lb(
    fleet: Fleet, client_env: None, tmp_path: Path
) -> None:
    first, second = sorted(fleet.app_urls)
    writer = MlflowClient(fleet.app_urls[first])
    experiment_id = writer.create_experiment(f"fleet-{uuid.uuid4().hex[:8]}")
    run = writer.create_run(experiment_id)
    writer.log_metric(run.info.run_id, "accuracy", 0.93, step=3)
    writer.log_param(run.info.run_id, "written-through", first)
    artifact = tmp_path / "model.txt"
    artifact.write_text(f"artifact of {run.info.run_id}\n")
    writer.log_artifact(run.info.run_id, str(artifact))
    writer.set_terminated(run.info.run_id)

    for url in (fleet.app_urls[second], fleet.lb_url):
        reader = MlflowClient(url)
        read = reader.get_run(run.info.run_id)
        assert read.data.metrics == {"accuracy": 0.93}
        assert read.data.params == {"written-through": first}
        target = tmp_path / url.rsplit(":", 1)[1]
        target.mkdir()
        path = mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id,
            artifact_path="model.txt",
            dst_path=str(target),
            tracking_uri=url,
        )
        assert Path(path).read_text() == artifact.read_text()


def test_the_load_balancer_serves_https_that_clients_verify(fleet: Fleet) -> None:
    assert fleet.lb_url.startswith("https://")
    assert requests.get(f"{fleet.lb_url}/health", timeout=10, verify=fleet.ca).text == "OK"
    # Without the CA the certificate is refused: verification is really on.
    with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        requests.get(f"{fleet.lb_url}/health", timeout=10)


def test_the_deploy_takes_its_secrets_from_a_vault_file(fleet: Fleet) -> None:
    """As an environment of inventory/example: the admin password, the database URIs,
    the S3 secret and the Flask key reach the deploy only through a vault-encrypted
    file (the admin logs in with the password it holds, in every other test)."""
    vault = Path(fleet.inventory) / "vault.yml"
    text = vault.read_text()
    assert text.startswith("$ANSIBLE_VAULT;1.1;AES256\n")
    assert oct(vault.stat().st_mode & 0o777) == "0o600"
    assert fleet.password not in text
    reply = requests.get(f"{fleet.lb_url}{API}/users/get", params={"username": fleet.username},
                         auth=fleet.auth, timeout=30, verify=fleet.ca)  # fmt: skip
    assert reply.status_code == 200, reply.text


def test_a_user_created_through_one_host_logs_in_through_the_other(fleet: Fleet) -> None:
    first, second = sorted(fleet.app_urls)
    name, password = f"fleet-user-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex + "Aa1!"
    created = requests.post(
        f"{fleet.app_urls[first]}{API}/users/create",
        json={"username": name, "password": password}, auth=fleet.auth, timeout=30,
        verify=fleet.ca,
    )  # fmt: skip
    assert created.status_code == 200, created.text
    for url in (fleet.app_urls[second], fleet.lb_url):
        reply = requests.get(f"{url}{API}/users/get", params={"username": name},
                             auth=(name, password), timeout=30, verify=fleet.ca)  # fmt: skip
        assert reply.status_code == 200, reply.text


@pytest.mark.parametrize(
    ("target", "host_header", "expected"),
    [
        ("lb", "mlflow.fleet.test", 200),  # the balancer's name (mlflow_lb_server_names)
        ("lb", "mlflow.fleet.test:443", 200),  # with any port
        ("fleet-app1", "fleet-app1", 200),  # the host's inventory name / host name
        ("lb", "attacker.example", 403),  # MLflow's DNS-rebinding guard still holds
    ],
)
def test_the_servers_answer_to_the_names_users_type(
    fleet: Fleet, target: str, host_header: str, expected: int
) -> None:
    url = fleet.lb_url if target == "lb" else fleet.app_urls[target]
    reply = requests.get(
        f"{url}{API}/experiments/search", params={"max_results": 1},
        headers={"Host": host_header}, auth=fleet.auth, timeout=30, verify=fleet.ca,
    )  # fmt: skip
    assert reply.status_code == expected, reply.text


def test_a_canary_that_cannot_start_stops_the_rollout(fleet: Fleet) -> None:
    canary, other = sorted(fleet.app_urls)
    before = {host: fleet.container_state(host) for host in fleet.app_urls}
    load = fleet.load_clients()
    load.start()
    try:
        result = fleet.run_playbook({
            "mlflow_server_extra_args": ["--no-such-flag"],
            "mlflow_server_health_timeout": 10,
        })  # fmt: skip
    finally:
        load.stop()
    assert result.returncode != 0
    assert "is back in service" in result.stdout + result.stderr
    after = {host: fleet.container_state(host) for host in fleet.app_urls}
    # The canary serves its previous config again; the other host was never touched.
    assert after[canary]["cmd"] == before[canary]["cmd"]
    assert after[canary]["image"] == before[canary]["image"]
    assert after[other] == before[other]
    health = requests.get(f"{fleet.app_urls[canary]}/health", timeout=10, verify=fleet.ca)
    assert health.text == "OK"
    print(f"failed canary: {load.total_requests} requests by 8 clients, "
          f"{len(load.failures)} failed")  # fmt: skip
    assert load.failures == []
    assert load.read_back() == []


def test_plain_http_is_redirected_and_https_answers_carry_hsts(fleet: Fleet) -> None:
    """HAProxy's port 80 only redirects to HTTPS; its HTTPS answers tell browsers to
    keep to HTTPS (Strict-Transport-Security)."""
    redirect = requests.get(f"{fleet.lb_redirect_url}{API}/experiments/search?max_results=1",
                            allow_redirects=False, timeout=10)  # fmt: skip
    assert redirect.status_code == 301
    location = redirect.headers["Location"]
    assert location.startswith("https://"), location
    assert location.endswith(f"{API}/experiments/search?max_results=1"), location
    reply = requests.get(f"{fleet.lb_url}/health", timeout=10, verify=fleet.ca)
    assert reply.headers["Strict-Transport-Security"].startswith("max-age="), reply.headers


def test_each_server_listens_on_its_private_address_only_and_over_https(fleet: Fleet) -> None:
    """A server binds its host's private address (not 0.0.0.0), speaks only HTTPS with a
    certificate of the fleet's CA, and HAProxy, which verifies it, serves through it."""
    probe = (
        "import socket, sys\n"
        "s = socket.socket()\n"
        "s.settimeout(5)\n"
        "sys.stdout.write(str(s.connect_ex(('127.0.0.1', 5005))))\n"
    )
    for host, url in fleet.app_urls.items():
        # On the host itself, nothing listens on loopback's port 5005.
        refused = fleet.shell(host, f'python3 -c "{probe}"')
        assert refused != "0", f"{host} answers on 127.0.0.1:5005"
        assert requests.get(f"{url}/health", timeout=10, verify=fleet.ca).text == "OK"
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(f"{url.replace('https://', 'http://')}/health", timeout=10)
    # HAProxy's own view: each server up by its /health check over HTTPS, which passes
    # only with the server's certificate verified (`ssl verify required`).
    stats = fleet.shell("fleet-lb", f'python3 -c "{HAPROXY_STAT}"')
    rows = {row["svname"]: row for row in csv.DictReader(stats.lstrip("# ").splitlines())}
    config = fleet.shell("fleet-lb", "cat /etc/haproxy/haproxy.cfg")
    for host in fleet.app_urls:
        assert (rows[host]["status"], rows[host]["check_status"]) == ("UP", "L7OK"), rows[host]
        line = next(x for x in config.splitlines() if x.strip().startswith(f"server {host} "))
        assert " ssl verify required ca-file " in line and f"verifyhost {host}" in line, line


# HAProxy's statistics from its admin socket, as CSV (run on the balancer).
HAPROXY_STAT = (
    "import socket, sys\n"
    "s = socket.socket(socket.AF_UNIX)\n"
    "s.connect('/run/haproxy/admin.sock')\n"
    "s.sendall(b'show stat\\n')\n"
    "sys.stdout.write(b''.join(iter(lambda: s.recv(65536), b'')).decode())\n"
)


# Run inside a fleet host, a client address of its own: 13 logins with a wrong password
# through the balancer, each answer's status and seconds as one JSON line.
BAD_LOGINS = """
import base64, json, ssl, time, urllib.error, urllib.request
context = ssl.create_default_context(cafile="/tmp/fleet-ca.pem")
context.check_hostname = False
token = base64.b64encode(b"{user}:not-the-password").decode()
for _ in range(13):
    request = urllib.request.Request(
        "https://fleet-lb/api/2.0/mlflow/experiments/search?max_results=1",
        headers={{"Authorization": "Basic " + token, "Host": "mlflow.fleet.test"}})
    started = time.monotonic()
    try:
        status = urllib.request.urlopen(request, context=context, timeout=30).status
    except urllib.error.HTTPError as error:
        status = error.code
    print(json.dumps([status, time.monotonic() - started]), flush=True)
"""


def test_a_burst_of_wrong_passwords_is_slowed_while_other_clients_keep_working(
    fleet: Fleet,
) -> None:
    """HAProxy counts failed logins per client address (mlflow_lb_login_failures_limit,
    10 a minute): past the limit that address's requests are held 5 s and refused with
    429, so guessing is slow and no longer costs the servers a password hash; a client
    from another address logs in as usual meanwhile."""
    host = sorted(fleet.app_urls)[0]
    subprocess.run(["docker", "cp", fleet.ca, f"{host}:/tmp/fleet-ca.pem"], check=True)
    answers: list[tuple[int, float]] = []
    good: list[int] = []
    done = threading.Event()

    def good_client() -> None:
        while not done.is_set():
            reply = requests.get(f"{fleet.lb_url}{API}/experiments/search",
                                 params={"max_results": 1}, auth=fleet.auth, timeout=30,
                                 verify=fleet.ca)  # fmt: skip
            good.append(reply.status_code)
            time.sleep(0.5)

    thread = threading.Thread(target=good_client)
    thread.start()
    try:
        out = fleet.shell(host, f"python3 - <<'EOF'\n{BAD_LOGINS.format(user=fleet.username)}EOF")
    finally:
        done.set()
        thread.join()
    for line in out.splitlines():
        status, seconds = json.loads(line)
        answers.append((status, seconds))
    print(f"wrong passwords (status, s): {[(s, round(t, 2)) for s, t in answers]}; "
          f"the other client meanwhile: {len(good)} requests {sorted(set(good))}")  # fmt: skip
    assert [status for status, _ in answers] == [401] * 10 + [429] * 3, answers
    # The refused ones were held (mlflow_lb_login_tarpit, 5 s) before their answer.
    assert all(seconds >= 4.5 for _, seconds in answers[10:]), answers
    assert good and set(good) == {200}, good
