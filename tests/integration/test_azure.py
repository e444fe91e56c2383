"""Azure Blob Storage (the azure scenario, against Azurite): the connection string stays
secret (a 0600 file mounted read-only, never in the container's configuration), and a
wrong account key cannot take the server down. The round trip through the server's
proxy into the Azurite container is test_roundtrip's (stored_artifacts reads the blobs);
the leak test searches every place for the account key."""

from __future__ import annotations

import json
import stat
import uuid

import docker
import pytest
from conftest import Deployment, assert_no_secret, container_env, run_playbook, wait_healthy

pytestmark = pytest.mark.azure

CONNECTION_FILE = "azure-connection-string"


def account_key(deployment: Deployment) -> str:
    parts = dict(p.split("=", 1) for p in deployment.azure_connection_string.split(";") if p)
    return parts["AccountKey"]


def test_the_connection_string_is_only_in_the_private_file(deployment: Deployment) -> None:
    secret_file = deployment.data_dir.parent / "config" / CONNECTION_FILE
    info = secret_file.stat()
    assert (stat.S_IMODE(info.st_mode), info.st_uid) == (0o600, 10001)
    assert secret_file.read_text() == deployment.azure_connection_string
    env = container_env(deployment)
    assert env["AZURE_STORAGE_CONNECTION_STRING_FILE"] == f"/run/secrets/{CONNECTION_FILE}"
    assert "AZURE_STORAGE_CONNECTION_STRING" not in env
    attrs = docker.from_env().containers.get(deployment.container).attrs
    assert account_key(deployment) not in json.dumps(attrs)
    mounts = {m["Destination"]: m for m in attrs["Mounts"]}
    assert mounts[f"/run/secrets/{CONNECTION_FILE}"]["RW"] is False


def test_a_wrong_key_fails_the_deploy_and_the_server_keeps_serving(
    deployment: Deployment,
) -> None:
    """A connection string whose key the account does not have: the deploy's artifact
    probe through the new server fails, the previous container (and its connection
    string) serve again, and nothing of either key is printed."""
    secret_file = deployment.data_dir.parent / "config" / CONNECTION_FILE
    # An earlier deploy cut off before its cleanup left the copy of a replaced secret.
    stale = secret_file.with_name(f"{CONNECTION_FILE}.4242.2026-01-01@00:00:00~")
    stale.write_text("the secret an interrupted deploy replaced")
    wrong_key = uuid.uuid4().hex * 2  # valid base64, not the account's key
    wrong = deployment.azure_connection_string.replace(account_key(deployment), wrong_key)
    engine = docker.from_env()
    before = engine.containers.get(deployment.container).attrs
    result = run_playbook(
        deployment, "site.yml", {"mlflow_server_azure_storage_connection_string": wrong}
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, "the deploy with a wrong key succeeded"
    assert "is back in service" in output
    assert "mlflow-artifacts/artifacts" in output  # the artifact store probe caught it
    assert_no_secret(output, wrong_key, account_key(deployment))
    wait_healthy(deployment.url)
    after = engine.containers.get(deployment.container).attrs
    assert after["Image"] == before["Image"]
    assert secret_file.read_text() == deployment.azure_connection_string
    assert not list(secret_file.parent.glob(f"{CONNECTION_FILE}.*")), "a copy of the key is left"
