"""GCS storage: the service-account key reaches the container as a read-only file,
and a new key file replaces the container without showing up anywhere else."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import docker
import pytest
from conftest import Deployment, assert_no_secret, run_playbook, wait_healthy

pytestmark = pytest.mark.gcs


def key_file(deployment: Deployment) -> Path:
    return deployment.data_dir.parent / "config/gcs-credentials.json"


def test_the_key_file_is_private_and_mounted_read_only(deployment: Deployment) -> None:
    key = key_file(deployment)
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    attrs = docker.from_env().containers.get(deployment.container).attrs
    mounts = {m["Destination"]: m for m in attrs["Mounts"]}
    env = dict(item.split("=", 1) for item in attrs["Config"]["Env"])
    path = env["GOOGLE_APPLICATION_CREDENTIALS"]
    assert mounts[path]["Source"] == str(key)
    assert mounts[path]["RW"] is False
    assert env["ARTIFACT_BACKEND"] == "GCS"


def test_a_new_key_file_replaces_the_container_and_stays_secret(
    deployment: Deployment, tmp_path: Path
) -> None:
    """The round trip (test_roundtrip, after this) then runs on the new container."""
    client = docker.from_env()
    before = client.containers.get(deployment.container).attrs["Id"]
    rotated = json.loads(key_file(deployment).read_text())
    rotated["private_key_id"] = f"rotated-{uuid.uuid4().hex}"
    new_key = tmp_path / "rotated-service-account.json"
    new_key.write_text(json.dumps(rotated))
    new_key.chmod(0o600)
    # The PEM body, line by line: any of them printed or baked in is a leak.
    secrets = [line for line in rotated["private_key"].splitlines() if len(line) > 40]
    assert secrets

    result = run_playbook(
        deployment, "site.yml", {"mlflow_server_google_application_credentials": str(new_key)}
    )
    output = result.stdout + result.stderr
    assert_no_secret(output, *secrets)
    assert result.returncode == 0, output[-3000:]
    wait_healthy(deployment.url)
    after = client.containers.get(deployment.container).attrs
    assert after["Id"] != before, "a new key file must recreate the container"
    assert json.loads(key_file(deployment).read_text()) == rotated
    assert oct(key_file(deployment).stat().st_mode & 0o777) == "0o600"
    image = client.images.get(after["Image"])
    assert_no_secret(json.dumps(image.history()) + json.dumps(image.attrs), *secrets)
    assert_no_secret(json.dumps(after["Config"]), *secrets)
