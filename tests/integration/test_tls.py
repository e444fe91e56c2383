"""HTTPS on the server's own port (the auth scenario: uvicorn on 3.17.2, gunicorn on
2.13.0): the real MLflow client verifies the certificate against the scenario's CA,
an unknown CA and plain HTTP get nothing, the key is a 0600 file mounted read-only."""

from __future__ import annotations

import os
import socket
import ssl
import stat
import urllib.error
import urllib.request
import uuid

import docker
import pytest
from conftest import Deployment
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.auth


def test_the_mlflow_client_logs_over_verified_https(deployment: Deployment) -> None:
    assert deployment.url.startswith("https://"), "this deploy serves plain HTTP"
    assert os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH"), "the client trusts no CA of ours"
    client = MlflowClient(tracking_uri=deployment.url)
    experiment = client.create_experiment(f"tls-{uuid.uuid4().hex[:8]}")
    run_id = client.create_run(experiment).info.run_id
    client.log_metric(run_id, "loss", 0.25)
    assert client.get_run(run_id).data.metrics == {"loss": 0.25}


def test_an_unknown_ca_and_plain_http_get_no_answer(deployment: Deployment) -> None:
    system_only = ssl.create_default_context(cafile="/etc/ssl/certs/ca-certificates.crt")
    with pytest.raises(urllib.error.URLError) as refused:
        urllib.request.urlopen(f"{deployment.url}/health", timeout=10, context=system_only)
    assert isinstance(refused.value.reason, ssl.SSLCertVerificationError)
    plain = deployment.url.replace("https://", "http://", 1)
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)) as plain_refused:
        urllib.request.urlopen(f"{plain}/health", timeout=10)
    # Refused, not merely unanswered: a timeout would hide a server that hangs.
    cause = getattr(plain_refused.value, "reason", plain_refused.value)
    assert not isinstance(cause, TimeoutError), cause


def test_the_key_is_a_private_read_only_mount(deployment: Deployment) -> None:
    attrs = docker.from_env().containers.get(deployment.container).attrs
    mounts = {m["Destination"]: m for m in attrs["Mounts"]}
    for target in ("/run/secrets/tls-certificate.pem", "/run/secrets/tls-key.pem"):
        assert mounts[target]["RW"] is False
        mode = stat.S_IMODE(os.stat(mounts[target]["Source"]).st_mode)
        assert mode == 0o600, f"{mounts[target]['Source']} is mode {mode:o}"


def test_connections_opened_ahead_of_their_requests_do_not_stall_the_server(
    deployment: Deployment,
) -> None:
    """A browser opens connections before it has requests for them (Chromium: up to 6
    per host) and may leave them idle. gunicorn's sync workers (2.x) each wait for the
    request of the connection they accepted, up to their 30 s timeout: with every worker
    held the server answered nothing for 30 s, and the 2.13.0 UI test saw no API call
    for 90 s. The role serves gunicorn with threaded workers; uvicorn never stalled."""
    context = ssl.create_default_context(cafile=os.environ["MLFLOW_TRACKING_SERVER_CERT_PATH"])
    host, port = deployment.url.removeprefix("https://").rsplit(":", 1)
    idle: list[ssl.SSLSocket] = []
    try:
        # Well under the 30 s a held sync worker needs to be killed and replaced.
        for _ in range(6):
            raw = socket.create_connection((host, int(port)), timeout=20)
            idle.append(context.wrap_socket(raw, server_hostname=host))  # handshake, no request
        with urllib.request.urlopen(
            f"{deployment.url}/health", timeout=20, context=context
        ) as reply:
            assert reply.read() == b"OK"
    except (TimeoutError, urllib.error.URLError) as error:
        raise AssertionError(
            f"with {len(idle)} connections open and idle, the server gave no answer in 20 s: "
            f"{error!r}"
        ) from error
    finally:
        for connection in idle:
            connection.close()
