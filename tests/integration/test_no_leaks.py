"""No secret of the deploy reaches a place others can read: `docker inspect` of the
container and its image, the image history (the builder stages too), the container's
log, the play output of every run in this scenario (ANSIBLE_LOG_PATH), and any file
under the data dir that is not mode 0600. Each secret is searched plain, URL-encoded
and base64-encoded (at the three alignments base64 can put it in)."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import docker
import pytest
from conftest import Deployment, secret_variants


def variants(secret: str) -> list[bytes]:
    return [form.encode() for form in secret_variants(secret)]


@pytest.mark.secure
def test_variants_find_a_secret_base64_encoded_inside_other_text() -> None:
    secret = "fake-secret-for-the-search-1234"  # pragma: allowlist secret
    for prefix in ("", "a", "ab", "abc"):
        blob = base64.b64encode(f"{prefix}{secret}-tail".encode())
        assert any(v in blob for v in variants(secret)), prefix


def secrets_of(deployment: Deployment) -> dict[str, str]:
    """name -> value of every secret this scenario's deploy was given."""
    found = {
        "S3 secret key": deployment.s3_secret,
        "admin password": deployment.auth_password,
        # As the database takes it (variants() include the URL-encoded form).
        "database password": deployment.database_password,
    }
    config = deployment.data_dir.parent / "config"
    flask_key = config / "flask-secret-key"
    if flask_key.exists():
        found["Flask secret key"] = flask_key.read_text().strip()
    key_store = config / "crypto-kek-passphrase"
    if key_store.exists():
        found["AI Gateway key store passphrase"] = key_store.read_text().strip()
    gcs = os.environ.get("MLFLOW_TEST_GCS_CREDENTIALS", "")
    if gcs:
        pem = json.loads(Path(gcs).read_text())["private_key"].splitlines()
        found["GCS private key"] = pem[2]  # one whole line of the key's body
    azure = dict(
        part.split("=", 1) for part in deployment.azure_connection_string.split(";") if "=" in part
    )
    found["Azure account key"] = azure.get("AccountKey", "")
    tls_key = os.environ.get("MLFLOW_TEST_TLS_KEY", "")
    if tls_key:
        found["TLS private key"] = Path(tls_key).read_text().splitlines()[1]
    return {name: value for name, value in found.items() if len(value) >= 8}


def places(deployment: Deployment) -> dict[str, bytes]:
    """Where others can look: place -> content."""
    client = docker.from_env()
    container = client.containers.get(deployment.container)
    image = client.images.get(container.attrs["Image"])
    out = {
        "docker inspect (container)": json.dumps(container.attrs).encode(),
        "docker inspect (image)": json.dumps(image.attrs).encode(),
        "image history": json.dumps(image.history()).encode(),
        "container log": container.logs(),
    }
    name = deployment.image.split(":", 1)[0]
    for other in client.images.list(filters={"label": "io.github.mlflow-server.stage=builder"}):
        out[f"history of builder image {other.short_id}"] = json.dumps(other.history()).encode()
    for other in client.images.list(name=name):
        out[f"history of {other.short_id}"] = json.dumps(other.history()).encode()
    play_log = os.environ.get("ANSIBLE_LOG_PATH", "")
    if play_log and Path(play_log).exists():
        out["play output"] = Path(play_log).read_bytes()
    for path in deployment.data_dir.parent.rglob("*"):
        info = path.lstat()
        mode = stat.S_IMODE(info.st_mode)
        if stat.S_ISREG(info.st_mode) and mode != 0o600 and info.st_size < 50_000_000:
            out[f"file {path} (mode {stat.S_IMODE(info.st_mode):o})"] = path.read_bytes()
    return out


@pytest.mark.secure
@pytest.mark.last
def test_no_secret_is_where_others_can_read_it(deployment: Deployment) -> None:
    secrets = secrets_of(deployment)
    if not secrets:
        pytest.skip("this deploy is given no secret")
    assert os.environ.get("ANSIBLE_LOG_PATH"), "the play output is not logged (ANSIBLE_LOG_PATH)"
    searched = places(deployment)
    assert "play output" in searched, "the scenario's play log is missing"
    leaks = [
        f"{secret} in {place}"
        for place, content in searched.items()
        for secret, value in secrets.items()
        if any(v in content for v in variants(value))
    ]
    assert not leaks, leaks
