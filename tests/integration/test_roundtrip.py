"""What a user of the deployed server relies on, checked with the real MLflow client."""

from __future__ import annotations

import os
import socket
import urllib.error
import uuid
from pathlib import Path

import docker
import mlflow.artifacts
import pytest
from conftest import Deployment, open_api, wait_healthy
from mlflow.tracking import MlflowClient
from packaging.version import Version

SEARCH = "/api/2.0/mlflow/experiments/search?max_results=1"


def test_server_runs_the_requested_mlflow_release(deployment: Deployment) -> None:
    with open_api(deployment, "/version") as reply:
        assert reply.read().decode().strip() == deployment.version


@pytest.mark.parametrize("name", sorted({socket.gethostname(), socket.getfqdn()}))
def test_server_answers_when_reached_by_the_machines_host_name(
    deployment: Deployment, name: str
) -> None:
    port = deployment.url.rsplit(":", 1)[1]
    with open_api(deployment, SEARCH, host=f"{name}:{port}") as reply:
        assert reply.status == 200


def test_server_still_refuses_host_names_it_was_not_given(deployment: Deployment) -> None:
    """The DNS-rebinding guard of MLflow 3.5+ stays on (older releases have none)."""
    if Version(deployment.version) < Version("3.5.0"):
        pytest.skip(f"MLflow {deployment.version} has no Host-header check")
    with pytest.raises(urllib.error.HTTPError) as refused:
        open_api(deployment, SEARCH, host="attacker.example")
    assert refused.value.code == 403


def _read_back(client: MlflowClient, run_id: str, payload: bytes, tmp: Path) -> None:
    run = client.get_run(run_id)
    assert run.data.params == {"alpha": "0.5", "optimizer": "adam"}
    assert run.data.metrics == {"rmse": 0.25}
    assert [m.value for m in client.get_metric_history(run_id, "rmse")] == [0.5, 0.25]
    assert run.info.status == "FINISHED"
    # Proxied artifact storage: the client never sees the server's file system.
    # Addressed by the run's artifact URI, not runs:/, which a 3.x client resolves
    # through the logged-models API that 2.x servers do not have.
    artifacts = run.info.artifact_uri
    assert artifacts.startswith("mlflow-artifacts:")
    listed = mlflow.artifacts.list_artifacts(artifact_uri=f"{artifacts}/model")
    assert [(f.path.rsplit("/", 1)[-1], f.file_size) for f in listed] == [
        ("weights.bin", len(payload))
    ]
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=f"{artifacts}/model/weights.bin", dst_path=str(tmp)
    )
    assert Path(local).read_bytes() == payload


def test_runs_and_artifacts_round_trip_and_survive_a_restart(
    deployment: Deployment, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    client = MlflowClient(tracking_uri=deployment.url)
    experiment_id = client.create_experiment(f"roundtrip-{uuid.uuid4().hex[:8]}")
    run_id = client.create_run(experiment_id).info.run_id
    client.log_param(run_id, "alpha", "0.5")
    client.log_param(run_id, "optimizer", "adam")
    client.log_metric(run_id, "rmse", 0.5, step=0)
    client.log_metric(run_id, "rmse", 0.25, step=1)
    payload = os.urandom(64 * 1024)
    upload = tmp_path / "upload" / "weights.bin"
    upload.parent.mkdir()
    upload.write_bytes(payload)
    client.log_artifact(run_id, str(upload), artifact_path="model")
    client.set_terminated(run_id)

    mlflow.set_tracking_uri(deployment.url)
    _read_back(client, run_id, payload, tmp_path / "before")

    # The artifact went through the server into the configured store, and only there.
    stored = deployment.stored_artifacts(run_id)
    assert list(stored.values()) == [payload], f"{run_id} in {deployment.artifact_store}: {stored}"
    assert next(iter(stored)).endswith("artifacts/model/weights.bin")
    if deployment.artifact_store != "local":
        local = [p for p in deployment.data_dir.rglob("weights.bin") if run_id in p.parts]
        assert local == [], "the artifact was also written to local storage"
    # The tracking store is where the deployment says: sqlite in the data dir, or not there.
    sqlite = not deployment.database_uri or deployment.database_uri.startswith("sqlite:")
    assert (deployment.data_dir / "mlflow.db").is_file() == sqlite

    # Stopped as `docker stop` stops it: the server ends on SIGTERM (Docker's init passes
    # it on; MLflow 2.x's CLI as PID 1 ignored it), not by Docker's SIGKILL (exit 137)
    # when the timeout runs out.
    container = docker_client.containers.get(deployment.container)
    container.stop(timeout=30)
    container.reload()
    assert container.attrs["State"]["ExitCode"] != 137, container.attrs["State"]
    container.start()
    wait_healthy(deployment.url)

    _read_back(MlflowClient(tracking_uri=deployment.url), run_id, payload, tmp_path / "after")
