"""ECS (S3-compatible) storage: credentials stay secret, a wrong one cannot take the
server down, a missing one falls back to local storage with a warning."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import uuid
from pathlib import Path

import docker
import mlflow.artifacts
import pytest
from conftest import Deployment, assert_no_secret, container_env, run_playbook, wait_healthy
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.s3


def deploy(deployment: Deployment, **overrides: str | bool) -> subprocess.CompletedProcess[str]:
    """Run the site playbook against the scenario's inventory, as an operator would."""
    return run_playbook(deployment, "site.yml", overrides)


def log_artifact(deployment: Deployment, tmp_path: Path) -> tuple[str, bytes]:
    client = MlflowClient(tracking_uri=deployment.url)
    experiment = client.get_experiment_by_name("s3-checks") or client.get_experiment(
        client.create_experiment("s3-checks")
    )
    run_id = client.create_run(experiment.experiment_id).info.run_id
    payload = os.urandom(4096)
    upload = tmp_path / "weights.bin"
    upload.write_bytes(payload)
    client.log_artifact(run_id, str(upload), artifact_path="model")
    mlflow.set_tracking_uri(deployment.url)
    back = mlflow.artifacts.download_artifacts(
        artifact_uri=f"{client.get_run(run_id).info.artifact_uri}/model/weights.bin",
        dst_path=str(tmp_path / "back"),
    )
    assert Path(back).read_bytes() == payload
    return run_id, payload


def test_the_secret_is_not_in_the_image(deployment: Deployment) -> None:
    image = docker.from_env().images.get(deployment.image)
    history = json.dumps(image.history()) + json.dumps(image.attrs["Config"])
    assert_no_secret(history, deployment.s3_secret, deployment.s3_key)


def test_the_keys_are_only_in_the_private_credentials_file(deployment: Deployment) -> None:
    credentials = deployment.data_dir.parent / "config" / "aws-credentials"
    for path in deployment.data_dir.parent.rglob("*"):
        if path.is_file() and path != credentials and path.stat().st_size < 10_000_000:
            found = deployment.s3_secret.encode() in path.read_bytes()
            assert not found, f"the S3 secret is written in {path}"
    info = credentials.stat()
    assert (stat.S_IMODE(info.st_mode), info.st_uid) == (0o600, 10001)
    attrs = docker.from_env().containers.get(deployment.container).attrs
    mount = next(m for m in attrs["Mounts"] if m["Source"] == str(credentials))
    assert (mount["Destination"], mount["RW"]) == ("/run/secrets/aws-credentials", False)


def test_a_wrong_secret_fails_the_deploy_and_the_server_keeps_serving(
    deployment: Deployment, tmp_path: Path
) -> None:
    wrong = f"wrong-{uuid.uuid4().hex}"
    before = docker.from_env().containers.get(deployment.container).attrs["Image"]
    result = deploy(deployment, mlflow_server_aws_secret_access_key=wrong)
    output = result.stdout + result.stderr
    assert result.returncode != 0, "the deploy with a wrong secret succeeded"
    assert "is back in service" in output
    assert "mlflow-artifacts/artifacts" in output  # the artifact store probe caught it
    assert_no_secret(output, wrong, deployment.s3_secret)
    wait_healthy(deployment.url)
    assert docker.from_env().containers.get(deployment.container).attrs["Image"] == before
    # The previous keys are back in their 0600 file, and none is in the environment.
    env = container_env(deployment)
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & set(env)
    credentials = deployment.data_dir.parent / "config" / "aws-credentials"
    assert env["AWS_SHARED_CREDENTIALS_FILE"] == "/run/secrets/aws-credentials"
    assert credentials.stat().st_mode & 0o777 == 0o600
    content = credentials.read_text()
    assert deployment.s3_secret in content and wrong not in content
    assert not list(credentials.parent.glob("aws-credentials.*")), "a copy of the keys is left"
    run_id, payload = log_artifact(deployment, tmp_path)
    assert list(deployment.stored_artifacts(run_id).values()) == [payload]


# The last three tests each start from what the one before left (local storage, then
# TLS verification off): one deploy each, none spent on putting the config back.
def test_a_missing_endpoint_falls_back_to_local_storage_with_a_warning(
    deployment: Deployment, tmp_path: Path
) -> None:
    result = deploy(deployment, mlflow_server_s3_endpoint_url="")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:].replace(deployment.s3_secret, "***")
    assert "[WARNING]" in output
    assert "needs mlflow_server_s3_endpoint_url" in output
    assert_no_secret(output, deployment.s3_secret)
    assert container_env(deployment)["ARTIFACT_BACKEND"] == ""
    run_id, payload = log_artifact(deployment, tmp_path)
    local = [p for p in deployment.data_dir.rglob("weights.bin") if run_id in p.parts]
    assert [p.read_bytes() for p in local] == [payload]


def test_tls_verification_can_be_turned_off_for_self_signed_stores(
    deployment: Deployment, tmp_path: Path
) -> None:
    """From local storage back to the store, this time without the CA bundle."""
    result = deploy(deployment, mlflow_server_s3_ca_bundle="", mlflow_server_s3_ignore_tls=True)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:].replace(deployment.s3_secret, "***")
    assert_no_secret(output, deployment.s3_secret)
    env = container_env(deployment)
    assert env["ARTIFACT_BACKEND"] == "ECS"
    assert env["MLFLOW_S3_IGNORE_TLS"] == "true"
    assert "AWS_CA_BUNDLE" not in env
    run_id, payload = log_artifact(deployment, tmp_path)
    assert list(deployment.stored_artifacts(run_id).values()) == [payload]


def test_an_untrusted_endpoint_fails_the_deploy_and_the_server_keeps_serving(
    deployment: Deployment, tmp_path: Path
) -> None:
    """Neither the CA bundle nor TLS verification off: the store's certificate is refused."""
    before = docker.from_env().containers.get(deployment.container).attrs
    result = deploy(deployment, mlflow_server_s3_ca_bundle="")
    output = result.stdout + result.stderr
    assert result.returncode != 0, "a deploy that cannot verify the store succeeded"
    assert "is back in service" in output
    # The store's certificate refused by verification, not some other TLS failure.
    assert "CERTIFICATE_VERIFY_FAILED" in output, output[-3000:].replace(
        deployment.s3_secret, "***"
    )
    wait_healthy(deployment.url)
    after = docker.from_env().containers.get(deployment.container).attrs
    assert after["Image"] == before["Image"]
    assert after["Config"]["Env"] == before["Config"]["Env"]
    run_id, payload = log_artifact(deployment, tmp_path)
    assert list(deployment.stored_artifacts(run_id).values()) == [payload]
