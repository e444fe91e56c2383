"""The server's container runs hardened by default (every scenario): read-only root file
system, every capability dropped, no-new-privileges, a process limit, a bounded log, a
non-root user; it can write to its volumes and /tmp only."""

from __future__ import annotations

import docker
import pytest
from conftest import Deployment

pytestmark = pytest.mark.secure


def test_the_container_is_hardened(deployment: Deployment) -> None:
    attrs = docker.from_env().containers.get(deployment.container).attrs
    host = attrs["HostConfig"]
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert not host.get("CapAdd")
    assert any(opt.startswith("no-new-privileges") for opt in host["SecurityOpt"] or [])
    assert host["PidsLimit"] == 1024
    assert host["Init"] is True  # Docker's init as PID 1 passes SIGTERM on to the server
    bounded_log = {"Type": "json-file", "Config": {"max-file": "5", "max-size": "10m"}}
    assert host["LogConfig"] == bounded_log
    assert attrs["Config"]["User"] == "10001"


def test_the_server_writes_only_to_its_volumes(deployment: Deployment) -> None:
    container = docker.from_env().containers.get(deployment.container)
    denied = container.exec_run(["sh", "-c", "touch /opt/mlflow/written-by-test"])
    assert denied.exit_code != 0
    assert b"Read-only file system" in denied.output
    for writable in ("/tmp", "/mlflow"):
        probe = f"{writable}/.probe"
        allowed = container.exec_run(["sh", "-c", f"touch {probe} && rm {probe}"])
        assert allowed.exit_code == 0, allowed.output
