"""GCS storage: the service-account key reaches the container as a read-only file."""

from __future__ import annotations

import docker
import pytest
from conftest import Deployment

pytestmark = pytest.mark.gcs


def test_the_key_file_is_private_and_mounted_read_only(deployment: Deployment) -> None:
    key = deployment.data_dir.parent / "config/gcs-credentials.json"
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    attrs = docker.from_env().containers.get(deployment.container).attrs
    mounts = {m["Destination"]: m for m in attrs["Mounts"]}
    env = dict(item.split("=", 1) for item in attrs["Config"]["Env"])
    path = env["GOOGLE_APPLICATION_CREDENTIALS"]
    assert mounts[path]["Source"] == str(key)
    assert mounts[path]["RW"] is False
    assert env["ARTIFACT_BACKEND"] == "GCS"
