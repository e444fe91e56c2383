"""Upgrades lose nothing: the upgrade scenario, from MLflow 2.13.0 with basic-auth.

The tests run in file order, each from the state the previous one left: a 2.13.0 server
filled with data, a failed upgrade (rolled back), the upgrade to 3.17.2, a refused
downgrade, a refused release that does not exist, then backup.yml and restore.yml.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import docker
import mlflow.artifacts
import pytest
from conftest import Deployment, call, installed_pins, open_api, run_playbook, wait_healthy
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.upgrade

NEW = "3.17.2"
# The upgrade also moves from the whole lock (the scenario's 2.13.0) to the server-only
# image, the default.
UPGRADE = {"mlflow_server_version": NEW, "mlflow_server_image_profile": "server"}
STATE: dict[str, Any] = {}


class HealthPoller:
    """Samples GET /health every 0.1 s while a deploy runs; the longest outage counts."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.samples: list[tuple[float, bool]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                status, body = call(self.url, "/health")
                ok = status == 200 and str(body).strip() == "OK"
            except OSError:
                ok = False
            self.samples.append((time.monotonic(), ok))
            time.sleep(0.1)

    def __enter__(self) -> HealthPoller:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def longest_outage(self) -> float:
        longest, down_since = 0.0, None
        for moment, ok in self.samples:
            if not ok and down_since is None:
                down_since = moment
            elif ok and down_since is not None:
                longest, down_since = max(longest, moment - down_since), None
        if down_since is not None:
            longest = max(longest, self.samples[-1][0] - down_since)
        return longest


def version(deployment: Deployment) -> str:
    with open_api(deployment, "/version") as reply:
        return reply.read().decode().strip()


def admin(deployment: Deployment) -> tuple[str, str]:
    return deployment.auth_username, deployment.auth_password


def test_fill_the_2x_server(deployment: Deployment, tmp_path: Path) -> None:
    assert version(deployment) == "2.13.0"
    client = MlflowClient(tracking_uri=deployment.url)
    name = f"upgrade-{uuid.uuid4().hex[:8]}"
    experiment = client.create_experiment(name, tags={"team": "ml-platform"})
    run_id = client.create_run(experiment, tags={"stage": "before-upgrade"}).info.run_id
    client.log_param(run_id, "alpha", "0.5")
    for step, value in enumerate((0.5, 0.25, 0.125)):
        client.log_metric(run_id, "rmse", value, step=step)
    payload = os.urandom(32 * 1024)
    upload = tmp_path / "weights.bin"
    upload.write_bytes(payload)
    client.log_artifact(run_id, str(upload), artifact_path="model")
    client.set_terminated(run_id)
    model = f"model-{uuid.uuid4().hex[:6]}"
    for path, body in (
        ("/api/2.0/mlflow/registered-models/create", {"name": model}),
        (
            "/api/2.0/mlflow/model-versions/create",
            {"name": model, "source": f"{client.get_run(run_id).info.artifact_uri}/model",
             "run_id": run_id},
        ),
    ):  # fmt: skip
        status, reply = call(deployment.url, path, admin(deployment), "POST", body)
        assert status == 200, reply
    user = (f"user-{uuid.uuid4().hex[:6]}", secrets.token_urlsafe(18))
    status, reply = call(
        deployment.url,
        "/api/2.0/mlflow/users/create",
        admin(deployment),
        "POST",
        {"username": user[0], "password": user[1]},
    )
    assert status == 200, reply
    STATE.update(name=name, experiment=experiment, run_id=run_id, payload=payload, model=model,
                 user=user)  # fmt: skip
    assert_everything_is_there(deployment, tmp_path)


def assert_everything_is_there(deployment: Deployment, tmp_path: Path) -> None:
    client = MlflowClient(tracking_uri=deployment.url)
    experiment = client.get_experiment_by_name(STATE["name"])
    assert experiment.experiment_id == STATE["experiment"]
    assert experiment.tags["team"] == "ml-platform"
    run = client.get_run(STATE["run_id"])
    assert run.data.params == {"alpha": "0.5"}
    assert run.data.tags["stage"] == "before-upgrade"
    history = client.get_metric_history(STATE["run_id"], "rmse")
    assert [(m.step, m.value) for m in history] == [(0, 0.5), (1, 0.25), (2, 0.125)]
    mlflow.set_tracking_uri(deployment.url)
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=f"{run.info.artifact_uri}/model/weights.bin",
        dst_path=str(tmp_path / uuid.uuid4().hex),
    )
    assert Path(local).read_bytes() == STATE["payload"]
    status, reply = call(
        deployment.url,
        f"/api/2.0/mlflow/model-versions/get?name={STATE['model']}&version=1",
        admin(deployment),
    )
    assert status == 200, reply
    assert reply["model_version"]["run_id"] == STATE["run_id"]
    # The user still logs in (NO_PERMISSIONS: an empty search, not a 401).
    status, _ = call(deployment.url, "/api/2.0/mlflow/experiments/search?max_results=5",
                     STATE["user"])  # fmt: skip
    assert status == 200


def test_an_upgrade_whose_server_fails_restores_the_database(
    deployment: Deployment, tmp_path: Path
) -> None:
    result = run_playbook(
        deployment,
        "site.yml",
        {**UPGRADE, "mlflow_server_extra_args": ["--no-such-flag"],
         "mlflow_server_health_timeout": 10},  # the broken server exits at once
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode != 0, "the upgrade with a broken flag succeeded"
    assert "Upgraded the tracking database" in output  # the migration did run
    assert "restored from" in output and "is back in service" in output
    # A 2.13.0 server does not start on a 3.x schema: serving proves the restore.
    wait_healthy(deployment.url)
    assert version(deployment) == "2.13.0"
    assert_everything_is_there(deployment, tmp_path)


def test_the_upgrade_to_3x_keeps_everything(deployment: Deployment, tmp_path: Path) -> None:
    started = time.monotonic()
    with HealthPoller(deployment.url) as poller:
        result = run_playbook(deployment, "site.yml", UPGRADE)
    took = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "Upgraded the tracking database from schema" in output
    assert version(deployment) == NEW
    assert_everything_is_there(deployment, tmp_path)
    backups = deployment.data_dir / "backups"
    names = sorted(p.name.split("-")[0] for p in backups.glob(f"*-before-{NEW}.db"))
    assert names == ["basic_auth", "basic_auth", "mlflow", "mlflow"]  # this and the failed try
    # The 2.13.0 image stays (mlflow_server_keep_images): a rollback needs no rebuild.
    tags = [t for image in docker.from_env().images.list(deployment.image.split(":")[0])
            for t in image.tags]  # fmt: skip
    repository = deployment.image.split(":")[0]
    assert any(t.startswith(f"{repository}:2.13.0-") for t in tags), tags
    # The old image had the whole lock, the new one has the server's set.
    assert profile_and_pyarrow(f"{repository}:2.13.0") == ("full", True)
    assert profile_and_pyarrow(f"{repository}:{NEW}") == ("server", False)
    outage = poller.longest_outage()
    print(f"upgrade 2.13.0 -> {NEW}: /health not OK for {outage:.1f} s of a {took:.0f} s deploy")
    assert 0 < outage < took


def profile_and_pyarrow(prefix: str) -> tuple[str, bool]:
    """The profile label of the newest image whose tag starts with `prefix`, and whether
    its installed set holds pyarrow (left out of the server-only image)."""
    client = docker.from_env()
    repository = prefix.split(":")[0]
    images = [
        i for i in client.images.list(repository) if any(t.startswith(prefix) for t in i.tags)
    ]
    image = max(images, key=lambda i: str(i.attrs["Created"]))
    installed = installed_pins(client, image.id)
    return image.labels["io.github.mlflow-server.profile"], "pyarrow" in installed


def test_a_downgrade_onto_the_newer_schema_is_refused(deployment: Deployment) -> None:
    before = deployment_container_id(deployment)
    result = run_playbook(deployment, "site.yml", {"mlflow_server_version": "2.13.0"})
    output = result.stdout + result.stderr
    assert result.returncode != 0, "the downgrade succeeded"
    assert "which MLflow 2.13.0 does not know" in output
    assert deployment_container_id(deployment) == before
    assert version(deployment) == NEW


def deployment_container_id(deployment: Deployment) -> str:
    return docker.from_env().containers.get(deployment.container).id


def test_a_release_that_does_not_exist_is_refused_while_the_server_serves(
    deployment: Deployment, tmp_path: Path
) -> None:
    with HealthPoller(deployment.url) as poller:
        result = run_playbook(deployment, "site.yml", {"mlflow_server_version": "9.9.9"})
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "mlflow_server_version=9.9.9 has no lock file" in output
    assert poller.samples and all(ok for _, ok in poller.samples)
    assert version(deployment) == NEW
    assert_everything_is_there(deployment, tmp_path)


def test_a_restore_refuses_a_link_in_the_backup_directory(deployment: Deployment) -> None:
    """The container's user can write its backup directory: a backup name that is a
    symbolic link (here to a file of root's) is refused, and nothing changes."""
    backups = deployment.data_dir / "backups"
    backups.mkdir(exist_ok=True)
    before = sorted(backups.iterdir())
    link = backups / f"mlflow-{uuid.uuid4().hex[:8]}-manual.db"
    link.symlink_to("/etc/hostname")
    database = deployment.data_dir / "mlflow.db"
    try:
        result = run_playbook(deployment, "restore.yml", {"mlflow_server_restore_from": str(link)})
    finally:
        link.unlink()
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "is a symbolic link" in output, output[-3000:]
    # Refused before the backup of what a restore replaces, and the database is the server's.
    assert sorted(p for p in backups.iterdir() if p != link) == before
    assert database.read_bytes()[:16] == b"SQLite format 3\x00"
    wait_healthy(deployment.url, timeout=5)


def test_backup_and_restore_playbooks(deployment: Deployment, tmp_path: Path) -> None:
    result = run_playbook(deployment, "backup.yml")
    assert result.returncode == 0, result.stdout[-3000:]
    backup = next((deployment.data_dir / "backups").glob("mlflow-*-manual.db"))
    client = MlflowClient(tracking_uri=deployment.url)
    later = client.create_experiment(f"after-backup-{uuid.uuid4().hex[:6]}")

    result = run_playbook(deployment, "restore.yml", {"mlflow_server_restore_from": str(backup)})
    assert result.returncode == 0, result.stdout[-3000:]
    wait_healthy(deployment.url)
    status, _ = call(
        deployment.url, f"/api/2.0/mlflow/experiments/get?experiment_id={later}",
        admin(deployment),
    )  # fmt: skip
    assert status == 404  # the experiment made after the backup is gone
    assert_everything_is_there(deployment, tmp_path)
    assert list((deployment.data_dir / "backups").glob("mlflow-*-before-restore.db"))
