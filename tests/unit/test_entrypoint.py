"""The image's entrypoint keeps the seed's container contract (DESIGN.md)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ENTRYPOINT = Path(__file__).resolve().parents[2] / "roles/mlflow_server/files/entrypoint.sh"


@pytest.fixture()
def fake_mlflow(tmp_path: Path) -> Path:
    """An `mlflow` on PATH that prints each argument it gets on its own line."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "mlflow"
    script.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
    script.chmod(0o755)
    return bin_dir


def run(fake_mlflow: Path, args: list[str], **env: str) -> tuple[list[str], str]:
    result = subprocess.run(
        ["sh", str(ENTRYPOINT), *args],
        env={"PATH": f"{fake_mlflow}:/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.splitlines(), result.stderr


def test_defaults_are_the_seeds(fake_mlflow: Path) -> None:
    argv, _ = run(fake_mlflow, ["--host", "0.0.0.0", "--port", "5005"])
    assert argv == [
        "server",
        "--backend-store-uri", "sqlite:///mlflow.db",
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
    assert argv[:5] == [
        "server",
        "--backend-store-uri", "postgresql://u:p@db/mlflow",
        "--artifacts-destination", "/mlflow/artifacts",
    ]  # fmt: skip
    assert argv[-2:] == ["--workers", "2"]


def test_custom_command_without_host_still_listens_on_all_addresses(fake_mlflow: Path) -> None:
    """The seed's `docker run ... mlflow-server --port 5005 --app-name basic-auth`."""
    argv, _ = run(fake_mlflow, ["--port", "5005", "--app-name", "basic-auth"])
    assert argv[5:] == ["--host", "0.0.0.0", "--port", "5005", "--app-name", "basic-auth"]


def test_given_host_is_kept(fake_mlflow: Path) -> None:
    argv, _ = run(fake_mlflow, ["-h", "127.0.0.1"])
    assert argv[5:] == ["-h", "127.0.0.1"]


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
            "/mlflow/artifacts", "is not ECS or GCS",
        ),
    ],
)  # fmt: skip
def test_backend_fallbacks_follow_the_seed_and_say_so(
    fake_mlflow: Path, env: dict[str, str], destination: str, said: str
) -> None:
    argv, stderr = run(fake_mlflow, [], **env)
    assert argv[4] == destination
    assert said in stderr
    for secret in ("fake-secret",):
        assert secret not in stderr


def test_entrypoint_is_posix_sh(fake_mlflow: Path) -> None:
    if not os.path.exists("/bin/dash"):
        pytest.skip("dash is not installed")
    subprocess.run(["/bin/dash", "-n", str(ENTRYPOINT)], check=True)
