"""The image's entrypoint keeps the seed's container contract (DESIGN.md)."""

from __future__ import annotations

import configparser
import os
import subprocess
from pathlib import Path

import pytest

ENTRYPOINT = Path(__file__).resolve().parents[2] / "roles/mlflow_server/files/entrypoint.sh"


@pytest.fixture()
def fake_mlflow(tmp_path: Path) -> Path:
    """An `mlflow` on PATH that prints the store URI it gets by environment, then each
    argument on its own line."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "mlflow"
    script.write_text(
        '#!/bin/sh\necho "store=$MLFLOW_BACKEND_STORE_URI"\n'
        'for a in "$@"; do printf "%s\\n" "$a"; done\n'
    )
    script.chmod(0o755)
    return bin_dir


def run(fake_mlflow: Path, args: list[str], **env: str) -> tuple[list[str], str]:
    # In the test's own directory: with basic-auth the entrypoint writes a Flask secret
    # key into its working directory, which must never be the checkout.
    result = subprocess.run(
        ["sh", str(ENTRYPOINT), *args],
        env={"PATH": f"{fake_mlflow}:/usr/bin:/bin", **env},
        cwd=fake_mlflow.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.splitlines(), result.stderr


def test_defaults_are_the_seeds(fake_mlflow: Path) -> None:
    argv, _ = run(fake_mlflow, ["--host", "0.0.0.0", "--port", "5005"])
    assert argv == [
        "store=sqlite:///mlflow.db",
        "server",
        "--artifacts-destination", "./mlruns",
        "--host", "0.0.0.0", "--port", "5005",
    ]  # fmt: skip


def test_env_vars_map_to_flags_and_flags_pass_through(fake_mlflow: Path) -> None:
    argv, _ = run(
        fake_mlflow,
        ["--host", "0.0.0.0", "--port", "5005", "--workers", "2"],
        ARTIFACT_URL="/mlflow/artifacts",
        DATABASE_URI="postgresql://u:p@db/mlflow",
    )
    # The URI (and its password) is not in the process's arguments.
    assert argv[:4] == [
        "store=postgresql://u:p@db/mlflow",
        "server",
        "--artifacts-destination", "/mlflow/artifacts",
    ]  # fmt: skip
    assert argv[-2:] == ["--workers", "2"]


def test_database_uri_file_is_read(fake_mlflow: Path, tmp_path: Path) -> None:
    uri_file = tmp_path / "database-uri"
    uri_file.write_text("postgresql://u:fake-pass@db/mlflow\n")
    argv, _ = run(fake_mlflow, [], DATABASE_URI_FILE=str(uri_file), DATABASE_URI="sqlite:///x.db")
    assert argv[0] == "store=postgresql://u:fake-pass@db/mlflow"
    assert not [a for a in argv[1:] if "fake-pass" in a]


def test_the_metrics_directory_starts_empty(fake_mlflow: Path, tmp_path: Path) -> None:
    """Prometheus' per-process files of an earlier start are removed before the server
    starts; the argument goes through to MLflow."""
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    (metrics / "counter_1234.db").write_text("stale")
    argv, log = run(fake_mlflow, ["--expose-prometheus", str(metrics)])
    assert argv[-2:] == ["--expose-prometheus", str(metrics)]
    assert metrics.is_dir() and not list(metrics.iterdir())
    assert f"metrics: /metrics (Prometheus; files in {metrics})" in log


def test_custom_command_without_host_still_listens_on_all_addresses(fake_mlflow: Path) -> None:
    """The seed's `docker run ... mlflow-server --port 5005 --app-name basic-auth`."""
    argv, _ = run(fake_mlflow, ["--port", "5005", "--app-name", "basic-auth"])
    assert argv[4:] == ["--host", "0.0.0.0", "--port", "5005", "--app-name", "basic-auth"]


def test_given_host_is_kept(fake_mlflow: Path) -> None:
    argv, _ = run(fake_mlflow, ["-h", "127.0.0.1"])
    assert argv[4:] == ["-h", "127.0.0.1"]


@pytest.mark.parametrize(
    ("env", "destination", "said"),
    [
        (
            {"ARTIFACT_BACKEND": "ECS", "ARTIFACT_URL": "s3://bucket/mlflow",
             "AWS_ACCESS_KEY_ID": "fake-id", "AWS_SECRET_ACCESS_KEY": "fake-secret",
             "MLFLOW_S3_ENDPOINT_URL": "http://127.0.0.1:9000"},
            "s3://bucket/mlflow", "artifact storage: ECS at s3://bucket/mlflow",
        ),
        (
            {"ARTIFACT_BACKEND": "ECS", "ARTIFACT_URL": "s3://bucket/mlflow",
             "AWS_ACCESS_KEY_ID": "fake-id", "MLFLOW_S3_ENDPOINT_URL": "http://127.0.0.1:9000"},
            "./mlruns", "needs AWS_SECRET_ACCESS_KEY",
        ),
        (
            {"ARTIFACT_BACKEND": "GCS", "ARTIFACT_URL": "gs://bucket/mlflow"},
            "./mlruns", "needs GOOGLE_APPLICATION_CREDENTIALS",
        ),
        (
            {"ARTIFACT_BACKEND": "AZURE", "ARTIFACT_URL": "/mlflow/artifacts"},
            "/mlflow/artifacts", "needs AZURE_STORAGE_CONNECTION_STRING",
        ),
        (
            {"ARTIFACT_BACKEND": "HDFS", "ARTIFACT_URL": "/mlflow/artifacts"},
            "/mlflow/artifacts", "is not ECS, GCS or AZURE",
        ),
    ],
)  # fmt: skip
def test_backend_fallbacks_follow_the_seed_and_say_so(
    fake_mlflow: Path, env: dict[str, str], destination: str, said: str
) -> None:
    argv, stderr = run(fake_mlflow, [], **env)
    assert argv[argv.index("--artifacts-destination") + 1] == destination
    assert said in stderr
    for secret in ("fake-secret",):
        assert secret not in stderr


def test_s3_keys_can_come_from_a_credentials_file(fake_mlflow: Path, tmp_path: Path) -> None:
    """The role's way: boto3 reads the keys from a mounted 0600 file, so the environment
    (docker inspect) holds none; the seed's AWS_* variables keep working beside it."""
    credentials = tmp_path / "aws-credentials"
    credentials.write_text(
        "[default]\naws_access_key_id = fake-id\naws_secret_access_key = fake-secret\n"
    )
    env = {"ARTIFACT_BACKEND": "ECS", "ARTIFACT_URL": "s3://bucket/mlflow",
           "MLFLOW_S3_ENDPOINT_URL": "http://127.0.0.1:9000"}  # fmt: skip
    argv, stderr = run(fake_mlflow, [], AWS_SHARED_CREDENTIALS_FILE=str(credentials), **env)
    assert argv[argv.index("--artifacts-destination") + 1] == "s3://bucket/mlflow"
    assert "fake-secret" not in stderr
    missing = str(tmp_path / "absent")
    argv, stderr = run(fake_mlflow, [], AWS_SHARED_CREDENTIALS_FILE=missing, **env)
    assert argv[argv.index("--artifacts-destination") + 1] == "./mlruns"
    assert "needs AWS_SHARED_CREDENTIALS_FILE(unreadable)" in stderr


def test_azure_connection_string_comes_from_a_file_to_the_server_only(tmp_path: Path) -> None:
    """The role's way for Azure: the connection string is a mounted file; the entrypoint
    hands its content to the server process (MLflow's Azure client reads the variable),
    says nothing of it, and a missing file falls back to local storage."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "mlflow"
    script.write_text(
        '#!/bin/sh\necho "conn=${AZURE_STORAGE_CONNECTION_STRING:-}"\n'
        'for a in "$@"; do printf "%s\\n" "$a"; done\n'
    )
    script.chmod(0o755)
    secret = tmp_path / "azure-connection-string"
    secret.write_text("AccountName=fake;AccountKey=fake-account-key")
    url = "wasbs://mlflow@fake.blob.core.windows.net/artifacts"
    env = {"ARTIFACT_BACKEND": "AZURE", "ARTIFACT_URL": url}
    argv, stderr = run(bin_dir, [], AZURE_STORAGE_CONNECTION_STRING_FILE=str(secret), **env)
    assert argv[0] == "conn=AccountName=fake;AccountKey=fake-account-key"
    assert argv[argv.index("--artifacts-destination") + 1] == url
    assert "artifact storage: AZURE at " + url in stderr
    assert "fake-account-key" not in stderr
    absent = str(tmp_path / "absent")
    argv, stderr = run(bin_dir, [], AZURE_STORAGE_CONNECTION_STRING_FILE=absent, **env)
    assert argv[argv.index("--artifacts-destination") + 1] == "./mlruns"
    assert "needs AZURE_STORAGE_CONNECTION_STRING_FILE(unreadable)" in stderr


def test_entrypoint_is_posix_sh(fake_mlflow: Path) -> None:
    if not os.path.exists("/bin/dash"):
        pytest.skip("dash is not installed")
    subprocess.run(["/bin/dash", "-n", str(ENTRYPOINT)], check=True)


@pytest.fixture()
def auth_mlflow(tmp_path: Path) -> Path:
    """An `mlflow` that shows what basic-auth would read: its env and its ini."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "mlflow"
    script.write_text(
        "#!/bin/sh\n"
        'echo "config=${MLFLOW_AUTH_CONFIG_PATH:-}"\n'
        'echo "key=${MLFLOW_FLASK_SERVER_SECRET_KEY:-}"\n'
        'echo "password-env=${AUTH_PASSWORD:-}"\n'
        'if [ -f "${MLFLOW_AUTH_CONFIG_PATH:-}" ]; then\n'
        '  stat -c "mode=%a" "$MLFLOW_AUTH_CONFIG_PATH"; cat "$MLFLOW_AUTH_CONFIG_PATH"\n'
        "fi\n"
    )
    script.chmod(0o755)
    # The image's mlflow-db: says what it was asked to migrate, with which ini.
    migrate = bin_dir / "mlflow-db"
    migrate.write_text('#!/bin/sh\necho "mlflow-db $* ini=${MLFLOW_AUTH_CONFIG_PATH:-}"\n')
    migrate.chmod(0o755)
    return bin_dir


def run_auth(bin_dir: Path, cwd: Path, args: list[str], **env: str) -> tuple[str, str]:
    result = subprocess.run(
        ["sh", str(ENTRYPOINT), *args],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "TMPDIR": str(cwd), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout, result.stderr


SEED_ADMIN = {
    "AUTH_USERNAME": "fake-admin",
    "AUTH_PASSWORD": "fake-pass%word-123",
    "AUTH_DATABASE_URL": "sqlite:////mlflow/auth.db",
}


@pytest.mark.parametrize("flag", [["--app-name", "basic-auth"], ["--app-name=basic-auth"]])
def test_seed_admin_renders_a_private_ini_with_no_permissions(
    auth_mlflow: Path, tmp_path: Path, flag: list[str]
) -> None:
    out, err = run_auth(auth_mlflow, tmp_path, ["--port", "5005", *flag], **SEED_ADMIN)
    config = next(line for line in out.splitlines() if line.startswith("config="))
    ini_path = config.split("=", 1)[1]
    assert ini_path.startswith(str(tmp_path))
    assert "mode=600" in out
    parser = configparser.ConfigParser()
    parser.read_string(out.split("mode=600\n", 1)[1])
    assert dict(parser["mlflow"]) == {
        "default_permission": "NO_PERMISSIONS",
        "database_uri": "sqlite:////mlflow/auth.db",
        "admin_username": "fake-admin",
        "admin_password": "fake-pass%word-123",
    }
    assert "password-env=\n" in out  # not left in the server's environment
    assert "fake-pass" not in err
    assert "basic-auth: admin fake-admin" in err


def test_the_seed_admins_auth_database_is_migrated_once_before_the_server(
    auth_mlflow: Path, tmp_path: Path
) -> None:
    """Every worker migrating a fresh auth database at once races (one dies): the
    entrypoint migrates it first, with the ini it rendered."""
    out, _ = run_auth(auth_mlflow, tmp_path, ["--app-name", "basic-auth"], **SEED_ADMIN)
    lines = out.splitlines()
    config = next(line for line in lines if line.startswith("config="))
    assert lines[0] == f"mlflow-db auth-upgrade ini={config.split('=', 1)[1]}"
    # Without a seed admin the role's one-off job (or MLflow's defaults) has the say.
    env = {k: v for k, v in SEED_ADMIN.items() if k != "AUTH_PASSWORD"}
    out, _ = run_auth(auth_mlflow, tmp_path, ["--app-name", "basic-auth"], **env)
    assert "mlflow-db" not in out


def test_the_auth_database_password_is_not_logged(auth_mlflow: Path, tmp_path: Path) -> None:
    url = "postgresql://auth:fake-db-pass-31337@db:5432/auth"  # pragma: allowlist secret
    env = {**SEED_ADMIN, "AUTH_DATABASE_URL": url}
    _, err = run_auth(auth_mlflow, tmp_path, ["--app-name", "basic-auth"], **env)
    assert "fake-db-pass-31337" not in err
    assert "auth database postgresql://***@db:5432/auth" in err


@pytest.mark.parametrize("missing", sorted(SEED_ADMIN))
def test_an_incomplete_seed_admin_leaves_mlflows_defaults(
    auth_mlflow: Path, tmp_path: Path, missing: str
) -> None:
    env = {k: v for k, v in SEED_ADMIN.items() if k != missing}
    out, err = run_auth(auth_mlflow, tmp_path, ["--app-name", "basic-auth"], **env)
    assert "config=\n" in out
    assert f"(missing: {missing})" in err


def test_flask_secret_key_is_generated_once_and_kept(auth_mlflow: Path, tmp_path: Path) -> None:
    first, err = run_auth(auth_mlflow, tmp_path, ["--app-name", "basic-auth"])
    second, _ = run_auth(auth_mlflow, tmp_path, ["--app-name", "basic-auth"])
    key = next(line for line in first.splitlines() if line.startswith("key="))
    assert len(key) > len("key=") + 32
    assert key in second.splitlines()
    assert oct((tmp_path / ".flask-secret-key").stat().st_mode & 0o777) == "0o600"
    assert "generated the Flask secret key" in err


def test_flask_secret_key_file_is_read(auth_mlflow: Path, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("fake-key-from-file")
    out, _ = run_auth(
        auth_mlflow,
        tmp_path,
        ["--app-name", "basic-auth"],
        MLFLOW_FLASK_SERVER_SECRET_KEY_FILE=str(key_file),
        MLFLOW_AUTH_CONFIG_PATH="/run/secrets/basic_auth.ini",
    )
    assert "key=fake-key-from-file" in out.splitlines()
    assert "config=/run/secrets/basic_auth.ini" in out.splitlines()
    assert not (tmp_path / ".flask-secret-key").exists()


def test_without_basic_auth_nothing_about_auth_happens(auth_mlflow: Path, tmp_path: Path) -> None:
    out, err = run_auth(auth_mlflow, tmp_path, ["--port", "5005"], **SEED_ADMIN)
    assert "config=\n" in out and "key=\n" in out
    assert "basic-auth" not in err
