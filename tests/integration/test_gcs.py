"""GCS storage: the service-account key reaches the container as a read-only file, the
server's client signs its token requests with it, and a new key file replaces the
container without showing up anywhere else."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import docker
import google.auth.exceptions
import google.auth.transport.requests
import pytest
from conftest import Deployment, assert_no_secret, run_playbook, wait_healthy
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.oauth2 import service_account
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.gcs

# The token endpoint the scenario's prepare starts at the key's token_uri
# (tests/emulators.py gcs start --key): one JSON line per token request.
GRANTS = Path("/var/tmp/molecule-gcs-store/token/grants.log")


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


def _grants() -> list[dict]:
    return [json.loads(line) for line in GRANTS.read_text().splitlines()]


def _token_request(key: dict) -> int:
    """The status the token endpoint answers a grant signed with `key`'s private key."""
    credentials = service_account.Credentials.from_service_account_info(
        key, scopes=["https://www.googleapis.com/auth/devstorage.read_write"]
    )
    try:
        credentials.refresh(google.auth.transport.requests.Request())
    except google.auth.exceptions.RefreshError:
        return 400
    return 200


def test_the_server_authenticates_with_the_key(deployment: Deployment, tmp_path: Path) -> None:
    """The artifact probe of the deploy and a logged artifact went through the key: the
    token endpoint saw grants signed with it and none it refused. The endpoint itself
    refuses a grant signed with another private key of the same account."""
    key = json.loads(key_file(deployment).read_text())
    client = MlflowClient(tracking_uri=deployment.url)
    run_id = client.create_run(client.create_experiment(f"gcs-{uuid.uuid4().hex[:8]}")).info.run_id
    (tmp_path / "a.txt").write_text("through the key")
    client.log_artifact(run_id, str(tmp_path / "a.txt"))
    assert list(deployment.stored_artifacts(run_id).values()) == [b"through the key"]
    grants = _grants()
    assert grants, "the server's client never asked the key's token_uri for a token"
    assert {g["iss"] for g in grants} == {key["client_email"]}
    assert all(g["verified"] for g in grants), grants

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = {**key, "private_key": other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()}  # fmt: skip
    assert _token_request(forged) == 400
    assert _token_request(key) == 200
    assert [g["verified"] for g in _grants()[-2:]] == [False, True]


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
