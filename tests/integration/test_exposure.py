"""A default deploy is closed: its port is published on loopback only (the default
scenario sets neither mlflow_server_bind_address nor mlflow_server_exposure_strict)."""

from __future__ import annotations

import socket
import urllib.request
from urllib.parse import urlsplit

import docker
import pytest
from conftest import Deployment

pytestmark = pytest.mark.default_scenario


def test_a_default_deploy_answers_on_loopback_only(deployment: Deployment) -> None:
    container = docker.from_env().containers.get(deployment.container).attrs
    bindings = container["HostConfig"]["PortBindings"]
    assert [b["HostIp"] for port in bindings.values() for b in port] == ["127.0.0.1"]
    port = urlsplit(deployment.url).port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as reply:
        assert reply.status == 200
    # 127.0.0.2 is another address of this host: a port published on every address
    # (0.0.0.0) answers there too, one bound to 127.0.0.1 refuses the connection.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.2", port), timeout=10).close()
