"""basic-auth as users meet it: the auth scenario, once per MLflow release it deploys."""

from __future__ import annotations

import http.client
import json
import os
import secrets
import stat
import subprocess
import time
import uuid
from pathlib import Path

import docker
import pytest
from conftest import (
    Deployment,
    assert_no_secret,
    call,
    free_port,
    recap_count,
    run_playbook,
    wait_healthy,
)
from mlflow.tracking import MlflowClient
from packaging.version import Version

pytestmark = pytest.mark.auth


def grant_read(url: str, admin: tuple[str, str], version: str, user: str, experiment: str) -> None:
    """The experiment-permission API of the release (replaced in 3.13.0)."""
    if Version(version) >= Version("3.13.0"):
        path = "/api/3.0/mlflow/users/permissions/grant"
        body = {"username": user, "resource_type": "experiment", "resource_id": experiment}
    else:
        path = "/api/2.0/mlflow/experiments/permissions/create"
        body = {"username": user, "experiment_id": experiment}
    status, reply = call(url, path, admin, "POST", {**body, "permission": "READ"})
    assert status == 200, reply


def create_experiment(url: str, admin: tuple[str, str], name: str) -> str:
    """The experiment's id; a connection dropped by a worker still starting (a standalone
    container on a busy host) is retried as the MLflow client retries."""
    for attempt in range(4):
        try:
            status, reply = call(url, "/api/2.0/mlflow/experiments/create", admin, "POST",
                                 {"name": name})  # fmt: skip
        except (http.client.RemoteDisconnected, ConnectionResetError):
            time.sleep(2 * (attempt + 1))
            continue
        if status == 200:
            return str(reply["experiment_id"])
        assert reply.get("error_code") == "RESOURCE_ALREADY_EXISTS", reply  # a retried create
        path = f"/api/2.0/mlflow/experiments/get-by-name?experiment_name={name}"
        return str(call(url, path, admin)[1]["experiment"]["experiment_id"])
    raise AssertionError(f"{url} dropped every connection")


def check_access_control(url: str, admin: tuple[str, str], version: str, experiment: str) -> None:
    """A new user reads nothing (NO_PERMISSIONS) until granted READ, then reads, not writes."""
    user = (f"reader-{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(18))
    new_user = {"username": user[0], "password": user[1]}
    status, reply = call(url, "/api/2.0/mlflow/users/create", admin, "POST", new_user)
    assert status == 200, reply
    get = f"/api/2.0/mlflow/experiments/get?experiment_id={experiment}"
    assert call(url, get, user)[0] == 403
    grant_read(url, admin, version, user[0], experiment)
    status, reply = call(url, get, user)
    assert status == 200, reply
    assert reply["experiment"]["experiment_id"] == experiment
    create_run = {"experiment_id": experiment}
    assert call(url, "/api/2.0/mlflow/runs/create", user, "POST", create_run)[0] == 403


def test_anonymous_requests_are_refused_but_health_is_open(deployment: Deployment) -> None:
    assert call(deployment.url, "/api/2.0/mlflow/experiments/search?max_results=1")[0] == 401
    status, body = call(deployment.url, "/health")
    assert (status, body.strip()) == (200, "OK")


def test_admin_logs_runs_with_the_mlflow_client_and_users_need_a_grant(
    deployment: Deployment,
) -> None:
    """The client logs in from MLFLOW_TRACKING_USERNAME/PASSWORD (conftest.client_login)."""
    client = MlflowClient(tracking_uri=deployment.url)
    experiment = client.create_experiment(f"auth-{uuid.uuid4().hex[:8]}")
    run_id = client.create_run(experiment).info.run_id
    client.log_param(run_id, "alpha", "0.5")
    client.log_metric(run_id, "rmse", 0.25)
    client.set_terminated(run_id)
    run = client.get_run(run_id)
    assert (run.data.params, run.data.metrics) == ({"alpha": "0.5"}, {"rmse": 0.25})

    admin = (deployment.auth_username, deployment.auth_password)
    check_access_control(deployment.url, admin, deployment.version, experiment)


def _request_count(text: str, method: str) -> float:
    """The exporter's `mlflow_http_request_total` of one method with status 200."""
    prefix = f'mlflow_http_request_total{{method="{method}",status="200"}} '
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(lines[0].removeprefix(prefix)) if lines else 0.0


def test_metrics_count_requests_and_answer_the_admin_only(deployment: Deployment) -> None:
    """mlflow_server_metrics_enabled (the 3.17.2 server): /metrics counts the API's
    requests across the workers; anonymous gets 401; a user who is not admin 403 (2.13.0,
    checked by hand, gives them the metrics: its basic-auth checks no permission on paths
    it does not know). README: scrape with the admin's credentials."""
    if os.environ.get("MLFLOW_TEST_METRICS") != "True":
        pytest.skip("mlflow_server_metrics_enabled is off on this server")
    admin = (deployment.auth_username, deployment.auth_password)
    assert call(deployment.url, "/metrics")[0] == 401
    user = (f"metrics-{uuid.uuid4().hex[:6]}", secrets.token_urlsafe(16) + "Aa1!")
    body = {"username": user[0], "password": user[1]}
    assert call(deployment.url, "/api/2.0/mlflow/users/create", admin, "POST", body)[0] == 200
    assert call(deployment.url, "/metrics", user)[0] == (
        403 if Version(deployment.version) >= Version("3.17.2") else 200
    )

    status, before = call(deployment.url, "/metrics", admin)
    assert status == 200, before
    for _ in range(5):
        path = "/api/2.0/mlflow/experiments/search"
        assert call(deployment.url, path, admin, "POST", {"max_results": 1})[0] == 200
    status, after = call(deployment.url, "/metrics", admin)
    assert status == 200
    assert _request_count(after, "POST") >= _request_count(before, "POST") + 5, after[-2000:]


def _accepts(deployment: Deployment, password: str) -> bool:
    path = f"/api/2.0/mlflow/users/get?username={deployment.auth_username}"
    status, _ = call(deployment.url, path, (deployment.auth_username, password))
    assert status in (200, 401), status
    return status == 200


def _deploy(deployment: Deployment, password: str | None, *options: str) -> str:
    """The site playbook with the inventory's password, or a new one."""
    extra = {"mlflow_server_auth_password": password} if password is not None else None
    result = run_playbook(deployment, "site.yml", extra, *options)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:].replace(deployment.auth_password, "***")
    return output


@pytest.mark.last  # the server keeps the new password: the other tests log in with the old
def test_a_new_password_in_the_inventory_is_rotated_and_never_printed(
    deployment: Deployment,
) -> None:
    old = deployment.auth_password
    # Quotes, spaces, a command substitution and "%" are data to the ini and the API.
    new = secrets.token_urlsafe(18) + " 'q' \"d\" $(touch /tmp/pwned) %new"
    assert _accepts(deployment, old)

    checked = _deploy(deployment, new, "--check")
    assert recap_count(checked, deployment.host) > 0, "check mode hid the pending change"
    assert _accepts(deployment, old) and not _accepts(deployment, new)

    rotated = _deploy(deployment, new)
    assert _accepts(deployment, new)
    assert not _accepts(deployment, old)
    # What the next run logs in with: the password the server accepts now.
    ini = (deployment.data_dir.parent / "config/basic_auth.ini").read_text()
    assert f"admin_password = {ini_escaped(new)}\n" in ini
    for output in (checked, rotated):
        assert_no_secret(output, old, new, ini_escaped(old), ini_escaped(new))
    container = docker.from_env().containers.get(deployment.container)
    assert container.exec_run(["test", "-e", "/tmp/pwned"]).exit_code == 1
    assert not Path("/tmp/pwned").exists()


def ini_escaped(value: str) -> str:
    """How basic_auth.ini carries a value (configparser interpolation)."""
    return value.replace("%", "%%")


def test_the_password_is_only_in_the_private_ini(
    deployment: Deployment, docker_client: docker.DockerClient
) -> None:
    forms = (deployment.auth_password, ini_escaped(deployment.auth_password))
    container = docker_client.containers.get(deployment.container)
    assert_no_secret(json.dumps(container.attrs), *forms)
    image = docker_client.images.get(container.attrs["Config"]["Image"])
    history = subprocess.run(
        ["docker", "history", "--no-trunc", image.id], capture_output=True, text=True, check=True
    ).stdout
    assert_no_secret(history + json.dumps(image.attrs), *forms)

    root = deployment.data_dir.parent  # build/, config/ and data/
    files = [p for p in root.rglob("*") if p.is_file()]
    holding = sorted(
        str(p.relative_to(root)) for p in files if any(f.encode() in p.read_bytes() for f in forms)
    )
    assert holding == ["config/basic_auth.ini"]
    info = (root / "config/basic_auth.ini").stat()
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_uid == info.st_gid == 10001
    key = (root / "config/flask-secret-key").stat()
    assert stat.S_IMODE(key.st_mode) == 0o600
    assert key.st_size >= 32


def test_image_alone_renders_its_ini_from_the_seed_variables(
    deployment: Deployment, docker_client: docker.DockerClient
) -> None:
    """`docker run ... mlflow-server --port 5005 --app-name basic-auth` with AUTH_*
    (and one worker: with MLflow's four, each importing MLflow, 3.x took 80-160 s to
    start on two cores beside the other lane, for no more proof)."""
    admin = ("seed-admin", secrets.token_urlsafe(18) + "%x")
    port = free_port()
    container = docker_client.containers.run(
        deployment.image,
        command=["--port", "5005", "--app-name", "basic-auth", "--workers", "1"],
        environment={
            "AUTH_USERNAME": admin[0],
            "AUTH_PASSWORD": admin[1],
            "AUTH_DATABASE_URL": "sqlite:////mlflow/seed-auth.db",
        },
        detach=True,
        ports={"5005/tcp": ("127.0.0.1", port)},
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, timeout=300)  # a liveness bound on a busy host, not a measure
        assert call(url, "/api/2.0/mlflow/experiments/search?max_results=1")[0] == 401
        experiment = create_experiment(url, admin, "seed")
        check_access_control(url, admin, deployment.version, experiment)
        logs = container.logs().decode()
        assert f"basic-auth: admin {admin[0]}" in logs
        assert_no_secret(logs, admin[1])
    finally:
        container.remove(force=True, v=True)


def test_image_alone_without_the_seed_variables_uses_the_release_defaults(
    deployment: Deployment, docker_client: docker.DockerClient
) -> None:
    """2.x: admin/password and READ for all; 3.16.1+: MLflow refuses, having no default."""
    port = free_port()
    container = docker_client.containers.run(
        deployment.image,
        command=["--port", "5005", "--app-name", "basic-auth", "--workers", "1"],
        detach=True,
        ports={"5005/tcp": ("127.0.0.1", port)},
    )
    try:
        logs_said = "AUTH_USERNAME, AUTH_PASSWORD and AUTH_DATABASE_URL are not all set"
        if Version(deployment.version) >= Version("3.16.1"):
            assert container.wait(timeout=120)["StatusCode"] != 0
            logs = container.logs().decode()
            assert logs_said in logs
            assert "needs a password to create the admin user" in logs
            return
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url)
        default = "password" if Version(deployment.version) < Version("2.22.0") else "password1234"
        status, reply = call(
            url, "/api/2.0/mlflow/experiments/create", ("admin", default), "POST", {"name": "d"}
        )
        assert status == 200, reply
        assert logs_said in container.logs().decode()
    finally:
        container.remove(force=True, v=True)
