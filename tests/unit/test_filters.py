"""The role's filter plugins, as plain Python."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from role_filters import filters

ROOT = Path(__file__).resolve().parents[2]
FAKE_URI = "postgresql://u:fake-pass@db:5432/m"  # pragma: allowlist secret
TLS = "--ssl-certfile=/run/secrets/c --ssl-keyfile=/run/secrets/k"


def _resolve(backend: str, url: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The seed's backend rules for the role's variables (module_utils: backends)."""
    return filters.BACKENDS.resolve(backend, url, settings, "variable", "./mlruns").as_dict()


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
    assert filters.OPTIONS.with_opts(args, "--uvicorn-opts", TLS) == expected
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


IMAGES = [
    {"Id": "sha256:base", "RepoTags": ["python:3.11-slim-bookworm"], "RepoDigests": []},
    {"Id": "sha256:fallback", "RepoTags": ["mlflow-server-base:bookworm"], "RepoDigests": []},
    {"Id": "sha256:server", "RepoTags": ["mlflow-server:3.17.2-abc", "mlflow-server:latest"]},
]


@pytest.mark.parametrize(
    ("name", "found"),
    [
        ("python:3.11-slim-bookworm", "sha256:base"),
        ("docker.io/library/python:3.11-slim-bookworm", "sha256:base"),
        ("mlflow-server", "sha256:server"),  # no tag: latest
        ("mlflow-server:3.17.2-abd", ""),
        ("registry.example.com/python:3.11-slim-bookworm", ""),
    ],
)  # fmt: skip
def test_image_id_finds_an_image_by_the_names_docker_lists(name: str, found: str) -> None:
    assert filters.mlflow_server_image_id(IMAGES, name) == found


def test_base_image_id_prefers_the_configured_base_then_an_allowed_fallback() -> None:
    base, fallback = "python:3.11-slim-bookworm", "mlflow-server-base:bookworm"
    assert filters.mlflow_server_base_image_id(IMAGES, base, fallback, True) == "sha256:base"
    assert (
        filters.mlflow_server_base_image_id(IMAGES[1:], base, fallback, True) == "sha256:fallback"
    )
    assert filters.mlflow_server_base_image_id(IMAGES[1:], base, fallback, False) == ""
    assert filters.mlflow_server_base_image_id(IMAGES[2:], base, fallback, True) == ""


CONTAINER = {
    "Id": "c1",
    "Image": "mlflow-server:3.17.2-abc",
    "ImageID": "sha256:server",
    "State": "running",
}
EXPECTED = [
    {"path": "/d", "state": "directory", "mode": "0755", "uid": 0},
    {
        "path": "/d/data",
        "state": "directory",
        "mode": "0750",
        "uid": 10001,
        "owner": "mlflow-server",
    },
    {"path": "/d/config/key", "state": "file", "mode": "0600", "uid": 10001, "checksum": "aa"},
    {"path": "/d/config/flask", "state": "file", "mode": "0600", "uid": 10001, "checksum": None},
    {"path": "/d/config/aws", "state": "absent"},
]
FOUND = [
    {"path": "/d", "isdir": True, "mode": "0755", "uid": 0, "gid": 0, "pw_name": "root"},
    {
        "path": "/d/data",
        "isdir": True,
        "mode": "0750",
        "uid": 10001,
        "gid": 10001,
        "pw_name": "mlflow-server",
    },
    {
        "path": "/d/config/key",
        "isreg": True,
        "mode": "0600",
        "uid": 10001,
        "gid": 10001,
        "checksum": "aa",
    },
    {
        "path": "/d/config/flask",
        "isreg": True,
        "mode": "0600",
        "uid": 10001,
        "gid": 10001,
        "checksum": "zz",
    },
]


def _drift(
    found: list[dict], container: dict | None = CONTAINER, images: list[dict] = IMAGES
) -> list[str]:
    return filters.mlflow_server_drift(
        EXPECTED, found, container, "mlflow-server:3.17.2-abc", images
    )


def _with(path: str, **changes: object) -> list[dict]:
    return [{**f, **changes} if f["path"] == path else f for f in FOUND]


def test_drift_is_empty_when_the_host_is_as_the_inputs_ask() -> None:
    assert _drift(FOUND) == []


@pytest.mark.parametrize(
    ("found", "reason"),
    [
        (_with("/d", mode="0777"), "/d has mode 0777, not 0755"),
        (_with("/d/data", uid=0), "/d/data is owned by 0:10001, not 10001:10001"),
        (_with("/d/data", pw_name=None), "/d/data's owner 10001 is not the host user mlflow-server"),  # noqa: E501
        (_with("/d/config/key", checksum="bb"), "/d/config/key has other content"),
        (_with("/d/config/key", isreg=False, isdir=True), "/d/config/key is a directory, not a file"),  # noqa: E501
        ([f for f in FOUND if f["path"] != "/d/config/key"], "/d/config/key is missing"),
        ([*FOUND, {"path": "/d/config/aws", "isreg": True}], "/d/config/aws is there"),
    ],
)  # fmt: skip
def test_drift_names_each_path_changed_by_hand(found: list[dict], reason: str) -> None:
    assert _drift(found) == [reason]


def test_drift_of_the_container_and_its_image() -> None:
    assert _drift(FOUND, container={}) == ["no container"]
    assert _drift(FOUND, container={**CONTAINER, "State": "exited"}) == [
        "the container is exited, not running"
    ]
    assert _drift(FOUND, container={**CONTAINER, "Image": "mlflow-server:old"}) == [
        "the container runs mlflow-server:old, not mlflow-server:3.17.2-abc"
    ]
    retagged = [
        IMAGES[0],
        IMAGES[1],
        {"Id": "sha256:other", "RepoTags": ["mlflow-server:3.17.2-abc"]},
    ]
    assert _drift(FOUND, images=retagged) == [
        "mlflow-server:3.17.2-abc is not the image the container runs"
    ]


@pytest.mark.parametrize(
    ("version", "profile", "kept", "left_out"),
    [
        ("2.5.0", "server", set(), {"pyarrow", "scipy", "matplotlib", "numpy", "pandas"}),
        ("2.22.4", "server", set(), {"scikit-learn", "pillow", "numpy", "pandas"}),
        ("3.0.1", "server", {"numpy", "pandas"}, {"pyarrow", "skops", "joblib"}),
        ("3.17.2", "server", {"numpy", "pandas"}, {"pyarrow", "scipy", "fonttools"}),
        ("3.17.2", "full", {"numpy", "pyarrow", "scipy"}, set()),
    ],
)  # fmt: skip
def test_left_out_of_the_server_only_image(
    version: str, profile: str, kept: set[str], left_out: set[str]
) -> None:
    result = filters.IMAGE.left_out(version, profile)
    assert left_out <= set(result)
    assert not kept & set(result)
    assert result == sorted(result)
    assert profile != "full" or result == []


ECS_SETTINGS = {
    "mlflow_server_aws_access_key_id": "fake-key-id",
    "mlflow_server_aws_secret_access_key": "fake-secret",  # pragma: allowlist secret
    "mlflow_server_s3_endpoint_url": "http://127.0.0.1:8333",
}


@pytest.mark.parametrize(
    ("backend", "url", "settings", "expected"),
    [
        ("ECS", "s3://b/a", ECS_SETTINGS, ("ECS", "s3://b/a", [])),
        (" ecs ", "s3://b/a", ECS_SETTINGS, ("ECS", "s3://b/a", [])),
        ("ECS", "s3://b/a", {**ECS_SETTINGS, "mlflow_server_s3_endpoint_url": ""},
         ("", "./mlruns", ["needs mlflow_server_s3_endpoint_url", "is remote but"])),
        ("GCS", "gs://b/a", {},
         ("", "./mlruns", ["needs mlflow_server_google_application_credentials", "is remote"])),
        ("AZURE", "./mlruns", {},
         ("", "./mlruns", ["needs mlflow_server_azure_storage_connection_string"])),
        ("AZURE", "wasbs://c@a.blob.core.windows.net/p",
         {"mlflow_server_azure_storage_connection_string": "AccountName=a;AccountKey=fake"},
         ("AZURE", "wasbs://c@a.blob.core.windows.net/p", [])),
        ("", "wasbs://c@a.blob.core.windows.net/p", {}, ("", "./mlruns", ["is remote but"])),
        ("HDFS", "./mlruns", {}, ("", "./mlruns", ["HDFS is not ECS, GCS or AZURE"])),
        ("", "/mlflow/artifacts", {}, ("", "/mlflow/artifacts", [])),
        ("", "s3://b/a", ECS_SETTINGS, ("", "./mlruns", ["is remote but the backend is local"])),
    ],
)  # fmt: skip
def test_resolve_backend_falls_back_and_says_why(
    backend: str, url: str, settings: dict, expected: tuple
) -> None:
    resolved = _resolve(backend, url, settings)
    want_backend, want_url, reasons = expected
    assert (resolved["backend"], resolved["url"]) == (want_backend, want_url)
    assert len(resolved["reasons"]) == len(reasons)
    for reason, said in zip(reasons, resolved["reasons"], strict=True):
        assert reason in said


@pytest.mark.parametrize(
    ("uri", "in_container", "on_host"),
    [
        ("sqlite:///mlflow.db", "sqlite:////mlflow/mlflow.db", "/srv/m/data/mlflow.db"),
        ("sqlite:///db/x.db", "sqlite:////mlflow/db/x.db", "/srv/m/data/db/x.db"),
        ("sqlite:////mlflow/auth.db", "sqlite:////mlflow/auth.db", "/srv/m/data/auth.db"),
        ("sqlite:////elsewhere/x.db", "sqlite:////elsewhere/x.db", ""),
        ("sqlite:////mlflowx/x.db", "sqlite:////mlflowx/x.db", ""),
        (FAKE_URI, FAKE_URI, ""),
        ("/mlflow/backups/m-1.db", "/mlflow/backups/m-1.db", "/srv/m/data/backups/m-1.db"),
    ],
)  # fmt: skip
def test_sqlite_paths_map_from_the_container_to_the_host(
    uri: str, in_container: str, on_host: str
) -> None:
    assert filters.AUTH.sqlite_in_container(uri, "/mlflow") == in_container
    assert filters.mlflow_server_host_path(uri, "/mlflow", "/srv/m/data/") == on_host


def test_ini_values_reads_back_what_the_template_escaped() -> None:
    ini = (
        "[mlflow]\ndefault_permission = NO_PERMISSIONS\ndatabase_uri = sqlite:////mlflow/basic_auth.db\n"
        "admin_username = admin = x\nadmin_password = 100%% \"q\" = $(x)\n"
    )  # fmt: skip
    keys = ["admin_username", "admin_password", "database_uri"]
    assert filters.mlflow_server_ini_values(ini, keys) == {
        "admin_username": "admin = x",
        "admin_password": '100% "q" = $(x)',  # pragma: allowlist secret
        "database_uri": "sqlite:////mlflow/basic_auth.db",
    }
    assert filters.mlflow_server_ini_values("", ["admin_password"]) == {}


def test_build_failure_splits_the_error_from_the_builds_last_lines() -> None:
    """docker_image's message: the error, then the build's output as a Python list of
    chunks with the terminal's color codes (community.docker's own format)."""
    output = [
        "Step 1/2 : FROM base",
        "",
        " ---> Running in 1",
        "\x1b[91mERROR: no uv\x1b[0m",
        "done",
    ]
    message = f"Error building x - code: 1, message: The command failed, logs: {output}"
    failure = filters.mlflow_server_build_failure(message, 2)
    assert failure["error"] == "Error building x - code: 1, message: The command failed"
    assert failure["last_lines"] == ["ERROR: no uv", "done"]
    assert failure["text"] == "ERROR: no uv\ndone"
    assert filters.mlflow_server_build_failure("no logs here", 5)["last_lines"] == []
    unparsed = filters.mlflow_server_build_failure("e, logs: ['cut short", 5)
    assert unparsed["last_lines"] == ["['cut short"]


def test_log_tail_gives_the_last_messages_of_a_json_file_log() -> None:
    log = "\n".join(
        [json.dumps({"log": f"line {n}\n", "stream": "stderr"}) for n in range(5)] + ["not json"]
    )
    assert filters.mlflow_server_log_tail(log, 3) == ["line 3", "line 4", "not json"]
    assert filters.mlflow_server_log_tail(log, 0) == []
    assert filters.mlflow_server_log_tail("", 5) == []


@pytest.mark.parametrize(
    ("report", "upgrade_needed"),
    [
        ({"initialized": True, "current": "a", "head": "a", "known": True}, False),
        ({"initialized": True, "current": "a", "head": "b", "known": True}, True),
        ({"initialized": False, "current": None, "head": "b", "known": True}, False),
        ({"initialized": True, "current": "a", "head": "a", "known": True,
          "auth": {"initialized": True, "current": "x", "head": "y", "known": True}}, True),
        ({"initialized": True, "current": "a", "head": "a", "known": True,
          "auth": {"initialized": False, "current": None, "head": "y", "known": True}}, False),
    ],
)  # fmt: skip
def test_schema_status_says_whether_either_database_needs_an_upgrade(
    report: dict, upgrade_needed: bool
) -> None:
    output = "Waiting for the database...\n" + json.dumps(report) + "\n"
    status = filters.mlflow_server_schema_status(output)
    assert status["upgrade_needed"] is upgrade_needed
    assert status["auth"]["known"] is True


def test_bind_mounts_mount_the_copied_files_read_only() -> None:
    files = [
        {"src": "/ctl/k.json", "source": "/srv/m/config/g.json", "target": "/run/secrets/g.json"},
        {"src": "/ctl/ca.pem", "source": "/srv/m/config/ca.pem", "target": "/run/secrets/ca.pem"},
    ]  # fmt: skip
    mounts = filters.PLAN.bind_mounts(files)
    assert [(m["source"], m["target"]) for m in mounts] == [
        ("/srv/m/config/g.json", "/run/secrets/g.json"),
        ("/srv/m/config/ca.pem", "/run/secrets/ca.pem"),
    ]
    assert all(m["type"] == "bind" and m["read_only"] is True and "src" not in m for m in mounts)
    assert filters.PLAN.bind_mounts([]) == []


def test_every_variable_the_backends_read_is_an_input_of_the_role() -> None:
    specs = yaml.safe_load((ROOT / "roles/mlflow_server/meta/argument_specs.yml").read_text())
    assert set(filters.BACKENDS.VARIABLES) <= set(specs["argument_specs"]["main"]["options"])


@pytest.mark.parametrize(
    ("backend", "settings", "env", "files"),
    [
        ("ECS", {**ECS_SETTINGS, "mlflow_server_s3_addressing_style": "path",
                 "mlflow_server_s3_region": "us-east-1", "mlflow_server_s3_ignore_tls": False},
         {"AWS_SHARED_CREDENTIALS_FILE": "/run/secrets/aws-credentials",
          "MLFLOW_S3_ENDPOINT_URL": "http://127.0.0.1:8333",
          "MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE": "path", "AWS_DEFAULT_REGION": "us-east-1"},
         {"aws-credentials": "[default]\naws_access_key_id = fake-key-id\n"
                             "aws_secret_access_key = fake-secret\n"}),
        ("GCS", {"mlflow_server_google_application_credentials": "/k.json"},
         {"GOOGLE_APPLICATION_CREDENTIALS": "/run/secrets/gcs-credentials.json"}, {}),
        ("AZURE", {"mlflow_server_azure_storage_connection_string": "AccountName=a;AccountKey=k"},
         {"AZURE_STORAGE_CONNECTION_STRING_FILE": "/run/secrets/azure-connection-string"},
         {"azure-connection-string": "AccountName=a;AccountKey=k"}),
        ("", ECS_SETTINGS, {}, {}),
    ],
)  # fmt: skip
def test_backend_runtime_holds_secrets_in_files_never_in_the_environment(
    backend: str, settings: dict, env: dict, files: dict
) -> None:
    plan = filters.BACKENDS.runtime_plan(backend, settings, "/d/config", 10001)
    assert plan["env"] == env
    assert {f["source"]: f["content"] for f in plan["files"]} == {
        f"/d/config/{name}": content for name, content in files.items()
    }
    assert all(
        f["target"] == f"/run/secrets/{f['source'].rsplit('/', 1)[1]}" for f in plan["files"]
    )
    every = {"/d/config/aws-credentials", "/d/config/azure-connection-string"}
    assert set(plan["absent"]) == every - {f["source"] for f in plan["files"]}
    written = [e for e in plan["expected"] if e["state"] == "file"]
    assert [(e["path"], e["mode"], e["uid"]) for e in written] == [
        (f["source"], "0600", 10001) for f in plan["files"]
    ]
    for secret in ("fake-secret", "AccountKey=k"):
        assert secret not in json.dumps(plan["env"])


def test_a_wasbs_url_must_name_a_container_and_an_account() -> None:
    conn = {"mlflow_server_azure_storage_connection_string": "AccountName=a;AccountKey=k"}
    good = "wasbs://mlflow@account.blob.core.windows.net/artifacts"
    assert _resolve("AZURE", good, conn)["problems"] == []
    for bad in ("wasbs://account.blob.core.windows.net/artifacts",
                "wasbs://ml@account.blob.core.windows.net/a",
                "wasbs://mlflow@account.example.com/a"):  # fmt: skip
        problems = _resolve("AZURE", bad, conn)["problems"]
        assert problems == [
            f"mlflow_server_artifact_url={bad} is not an AZURE URL: write it as "
            "wasbs://CONTAINER@ACCOUNT.blob.core.windows.net/PATH"
        ]
