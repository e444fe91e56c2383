"""The role's filter plugins, as plain Python."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "roles/mlflow_server/filter_plugins/mlflow_server.py"
_SPEC = importlib.util.spec_from_file_location("mlflow_server_filters", _PATH)
assert _SPEC and _SPEC.loader
filters = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(filters)

FAKE_URI = "postgresql://u:fake-pass@db:5432/m"  # pragma: allowlist secret
TLS = "--ssl-certfile=/run/secrets/c --ssl-keyfile=/run/secrets/k"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], ["--uvicorn-opts", TLS]),
        (["--workers", "1"], ["--workers", "1", "--uvicorn-opts", TLS]),
        (["--uvicorn-opts", "--timeout-keep-alive 30"],
         ["--uvicorn-opts", f"--timeout-keep-alive 30 {TLS}"]),
        (["--uvicorn-opts=--timeout-keep-alive 30", "--workers", "2"],
         [f"--uvicorn-opts=--timeout-keep-alive 30 {TLS}", "--workers", "2"]),
    ],
)  # fmt: skip
def test_with_opts_adds_to_the_servers_own_option(args: list[str], expected: list[str]) -> None:
    given = list(args)
    assert filters.mlflow_server_with_opts(args, "--uvicorn-opts", TLS) == expected
    assert args == given  # the inventory's list is not changed


@pytest.mark.parametrize(
    ("uri", "masked"),
    [
        (FAKE_URI, "postgresql://***@db:5432/m"),
        ("mysql+pymysql://u@db/m", "mysql+pymysql://***@db/m"),
        ("sqlite:////mlflow/mlflow.db", "sqlite:////mlflow/mlflow.db"),
        ("https://pypi.invalid/simple", "https://pypi.invalid/simple"),
    ],
)
def test_mask_hides_the_user_info_only(uri: str, masked: str) -> None:
    assert filters.mlflow_server_mask(uri) == masked


def test_published_ports_put_a_container_back_where_it_was() -> None:
    bindings = {
        "5005/tcp": [
            {"HostIp": "127.0.0.1", "HostPort": "5011"},
            {"HostIp": "::1", "HostPort": "5011"},
        ],
        "9000/udp": [{"HostIp": "", "HostPort": "9000"}],
    }
    assert filters.mlflow_server_published_ports(bindings) == [
        "127.0.0.1:5011:5005/tcp", "[::1]:5011:5005/tcp", "9000:9000/udp",
    ]  # fmt: skip
    assert filters.mlflow_server_published_ports(None) == []  # host network


def test_mounts_put_a_container_back_on_its_own_volumes() -> None:
    inspected = [
        {"Type": "bind", "Source": "/var/lib/old/data", "Target": "/mlflow"},
        {
            "Type": "bind",
            "Source": "/var/lib/old/c/x",
            "Target": "/run/x",
            "ReadOnly": True,
        },
    ]
    assert filters.mlflow_server_mounts(inspected) == [
        {"type": "bind", "source": "/var/lib/old/data", "target": "/mlflow", "read_only": False},
        {"type": "bind", "source": "/var/lib/old/c/x", "target": "/run/x", "read_only": True},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("container", "url"),
    [
        ({"Config": {"Cmd": ["--host", "0.0.0.0", "--port", "5005"]},
          "HostConfig": {"NetworkMode": "bridge", "PortBindings": {
              "5005/tcp": [{"HostIp": "0.0.0.0", "HostPort": "5011"}]}}},
         "http://127.0.0.1:5011/health"),
        ({"Config": {"Cmd": ["--host", "127.0.0.1", "--port", "5007", "--uvicorn-opts",
                             "--ssl-certfile=/run/secrets/c --ssl-keyfile=/run/secrets/k"]},
          "HostConfig": {"NetworkMode": "host", "PortBindings": {}}},
         "https://127.0.0.1:5007/health"),
        ({"Config": {"Cmd": ["--host", "::1", "--port", "5008"]},
          "HostConfig": {"NetworkMode": "host"}},
         "http://[::1]:5008/health"),
    ],
)  # fmt: skip
def test_health_url_of_a_container_as_it_was_created(container: dict, url: str) -> None:
    assert filters.mlflow_server_health_url_of(container, 5005) == url


def _info(**container: object) -> dict:
    base = {
        "Image": "sha256:" + "ab" * 32,
        "RestartCount": 1,
        "Config": {
            "Image": "mlflow-server:3.17.2-0123",
            "Labels": {"io.github.mlflow-server.version": "3.17.2"},
            "Env": ["ARTIFACT_BACKEND=ECS", "ARTIFACT_URL=s3://b/m",
                    "AWS_SHARED_CREDENTIALS_FILE=/c"],
            "Cmd": ["--app-name", "basic-auth",
                    "--uvicorn-opts", "--ssl-certfile=/c --ssl-keyfile=/k"],
        },
        "HostConfig": {"PortBindings": {"5005/tcp": [{"HostIp": "", "HostPort": "5005"}]}},
        "State": {"Status": "running", "Running": True,
                  "StartedAt": "2026-11-27T08:00:00.123456789Z"},
    }  # fmt: skip
    return {"exists": True, "container": {**base, **container}}


def test_status_reports_a_running_server_without_credentials() -> None:
    now = filters.datetime(2026, 11, 28, 10, 5, 59, tzinfo=filters.UTC)
    backups = [
        {"path": "/d/data/backups/mlflow-1.db", "mtime": 1795800000.0},
        {"path": "/d/data/backups/postgresql-2.dump", "mtime": 1795810000.0},
    ]
    status = filters.mlflow_server_status(_info(), {"status": 200}, backups, "postgresql", now)
    assert status == {
        "state": "running", "health": "OK", "url": "https://127.0.0.1:5005",
        "mlflow_version": "3.17.2", "image": "mlflow-server:3.17.2-0123",
        "image_id": "sha256:abababababab", "up": "1d 2h 5m", "restarts": 1,
        "artifact_backend": "ECS", "artifact_url": "s3://b/m", "database": "postgresql",
        "auth": "basic-auth", "tls": True,
        "last_backup": "/d/data/backups/postgresql-2.dump (2026-11-27T20:06:40Z)",
    }  # fmt: skip


def test_status_of_a_stopped_a_failing_and_a_missing_server() -> None:
    stopped = _info(State={"Status": "exited", "Running": False, "StartedAt": ""})
    status = filters.mlflow_server_status(stopped, {"skipped": True}, [], "sqlite")
    assert (status["state"], status["health"], status["up"]) == ("exited", "not running", "")
    failing = filters.mlflow_server_status(_info(), {"status": -1, "msg": "refused"}, [], "x")
    assert failing["health"] == "failing: -1 refused"
    missing = filters.mlflow_server_status({"exists": False, "container": {}}, None, [], "x")
    assert missing == {"state": "absent", "health": "no container", "last_backup": "none"}
