"""Bad input stops at validation with a message that names the variable and the fix,
before anything on the host changes; good input of the same kind passes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ADMIN = {
    "mlflow_server_auth_enabled": True,
    "mlflow_server_auth_username": "fake-admin",
    "mlflow_server_auth_password": "fake-password-long-enough",
    "mlflow_server_auth_database_url": "sqlite:////mlflow/basic_auth.db",
}
# Replicas behind a load balancer on shared state (one PostgreSQL, one S3 bucket).
REPLICAS = {
    "mlflow_server_replicated": True,
    "mlflow_server_database_uri": "postgresql://u:fake-db-pass@db:5432/mlflow",
    "mlflow_server_artifact_backend": "ECS",
    "mlflow_server_artifact_url": "s3://bucket/mlflow",
    "mlflow_server_aws_access_key_id": "fake-key-id",
    "mlflow_server_aws_secret_access_key": "fake-password-long-enough",
    "mlflow_server_s3_endpoint_url": "http://s3.invalid:8333",
}

# Any file on the controller stands in for a PEM where only its presence is checked.
STAND_IN_FILE = str(HERE / "validate_case.yml")
TLS = {"mlflow_server_tls_certificate": STAND_IN_FILE, "mlflow_server_tls_key": STAND_IN_FILE}

# id -> (inputs, None when valid, else words the message must hold)
CASES: dict[str, tuple[dict[str, Any], list[str] | None]] = {
    "no-lock": ({"mlflow_server_version": "9.9.9"},
                ["mlflow_server_version=9.9.9 has no lock file", "scripts/lock_mlflow.py"]),
    "3.17-default-admin": ({"mlflow_server_auth_enabled": True},
                           ["ships no default admin password", "mlflow_server_auth_username",
                            "mlflow_server_auth_password", "mlflow_server_auth_database_url"]),
    "2.13-default-admin": ({"mlflow_server_version": "2.13.0", "mlflow_server_auth_enabled": True},
                           None),
    "3.17-custom-admin": (ADMIN, None),
    "2.22-short-password": ({**ADMIN, "mlflow_server_version": "2.22.0",
                             "mlflow_server_auth_password": "fake-short"},
                            ["12 characters or more", "mlflow_server_auth_password"]),
    "2.21-short-password": ({**ADMIN, "mlflow_server_version": "2.21.3",
                             "mlflow_server_auth_password": "fake-short"}, None),
    "3.17-old-default": ({**ADMIN, "mlflow_server_auth_password": "password1234"},
                         ["refuses MLflow's old default 'password1234'"]),
    "3.3-uvicorn": ({**ADMIN, "mlflow_server_version": "3.3.1"},
                    ["HTTP 500", "3.4.0", "--gunicorn-opts"]),
    "3.3-gunicorn": ({**ADMIN, "mlflow_server_version": "3.3.1",
                      "mlflow_server_extra_args": ["--gunicorn-opts", "--timeout 60"]}, None),
    "3.6-remote-auth-db": ({**ADMIN, "mlflow_server_version": "3.6.0",
                            "mlflow_server_auth_database_url": "postgresql://u:fake-db-pass@db/auth"},
                           ["3.6.0 cannot open auth", "postgresql://***@db/auth", "3.7.0"]),
    "auth-db-is-tracking-db": ({**ADMIN, "mlflow_server_auth_database_url":
                                "sqlite:////mlflow/mlflow.db"},
                               ["name the same database", "mlflow_server_auth_database_url"]),
    "auth-db-off-the-volume": ({**ADMIN, "mlflow_server_auth_database_url": "sqlite:////tmp/a.db"},
                               ["outside", "sqlite:////mlflow/basic_auth.db"]),
    "app-name-in-extra-args": ({"mlflow_server_extra_args": ["--app-name", "basic-auth"]},
                               ["must not carry --app-name", "mlflow_server_auth_enabled"]),
    "mysql-without-driver": ({"mlflow_server_database_uri": "mysql://u:fake-db-pass@db/mlflow"},
                             ["mlflow_server_database_uri must be", "mysql+pymysql://"]),
    "sqlite-off-the-volume": ({"mlflow_server_database_uri": "sqlite:////var/lib/x.db"},
                              ["survives the container"]),
    "postgresql": ({"mlflow_server_database_uri": "postgresql://u:fake-db-pass@db:5432/mlflow"},
                   None),
    "one-image-kept": ({"mlflow_server_keep_images": 1}, ["mlflow_server_keep_images=1"]),
    "replicas-on-sqlite": ({**REPLICAS, "mlflow_server_database_uri": "sqlite:///mlflow.db"},
                           ["mlflow_server_database_uri=sqlite", "mlflow_server_replicated",
                            "PostgreSQL/MySQL"]),
    "replicas-local-artifacts": ({**REPLICAS, "mlflow_server_artifact_backend": ""},
                                 ["the artifacts (local storage", "S3 or GCS"]),
    "replicas-s3-without-key": ({**REPLICAS, "mlflow_server_aws_secret_access_key": ""},
                                ["the artifacts (local storage",
                                 "needs mlflow_server_aws_secret_access_key"]),
    "replicas-sqlite-auth-db": ({**REPLICAS, **ADMIN}, ["the auth database"]),
    "replicas-shared-state": ({**REPLICAS, **ADMIN, "mlflow_server_auth_database_url":
                               "postgresql://u:fake-db-pass@db:5432/auth"}, None),
    "replicas-unknown-build-host": ({**REPLICAS, "mlflow_server_build_host": "nowhere"},
                                    ["mlflow_server_build_host=nowhere"]),
    # Secrets on failure paths: named, never printed.
    "auth-db-is-tracking-postgres": ({**ADMIN, **REPLICAS, "mlflow_server_auth_database_url":
                                      REPLICAS["mlflow_server_database_uri"]},
                                     ["name the same database", "postgresql://***@db:5432/mlflow"]),
    "pip-index-with-token": ({"mlflow_server_pip_index_url":
                              "https://ci:fake-db-pass@pypi.invalid/simple"},
                             ["mlflow_server_pip_index_url carries credentials"]),
    "line-break-in-auth-db-url": ({**ADMIN, "mlflow_server_auth_database_url":
                                   "postgresql://u:fake-db-pass@db/auth\n[x]"},
                                  ["mlflow_server_auth_database_url must be one line"]),
    "line-break-in-s3-secret": ({**REPLICAS, "mlflow_server_aws_secret_access_key":
                                 "fake-password-long-enough\n[evil]"},
                                ["mlflow_server_aws_secret_access_key must be one line"]),
    # HTTPS on the server's own port and the strict switch for exposed servers.
    "tls-without-key": ({"mlflow_server_tls_certificate": STAND_IN_FILE},
                        ["needs both mlflow_server_tls_certificate and mlflow_server_tls_key"]),
    "tls-missing-file": ({"mlflow_server_tls_certificate": "/nonexistent/cert.pem",
                          "mlflow_server_tls_key": STAND_IN_FILE},
                         ["/nonexistent/cert.pem", "PEM files on the controller"]),
    "tls-under-waitress": ({**TLS, "mlflow_server_extra_args": ["--waitress-opts", "--threads 4"]},
                           ["(--waitress-opts in mlflow_server_extra_args) serves no TLS"]),
    "tls": (TLS, None),
    "strict-open-server": ({"mlflow_server_exposure_strict": True},
                           ["with no authentication", "mlflow_server_auth_enabled",
                            "mlflow_server_bind_address to 127.0.0.1"]),
    "strict-auth-in-clear": ({**ADMIN, "mlflow_server_exposure_strict": True},
                             ["with basic-auth over plain HTTP", "mlflow_server_tls_certificate"]),
    "strict-loopback": ({"mlflow_server_exposure_strict": True,
                         "mlflow_server_bind_address": "127.0.0.1"}, None),
    "strict-auth-and-tls": ({**ADMIN, **TLS, "mlflow_server_exposure_strict": True}, None),
}  # fmt: skip


# Good input the role deploys, but says something about: id -> (inputs, words of a
# warning it must give, or None when it must give no exposure warning).
WARNING_CASES: dict[str, tuple[dict[str, Any], list[str] | None]] = {
    "open-server-by-default": ({}, ["The MLflow server has no authentication",
                                    "0.0.0.0:5005", "mlflow_server_auth_enabled",
                                    "mlflow_server_exposure_strict=true refuses"]),
    "auth-in-clear-text": (ADMIN, ["basic-auth passwords reach the MLflow server in clear text",
                                   "mlflow_server_tls_certificate"]),
    "auth-over-tls": ({**ADMIN, **TLS}, None),
    "loopback-only": ({"mlflow_server_bind_address": "127.0.0.1"}, None),
}  # fmt: skip


def validate(inputs: dict[str, Any], tmp: Path) -> subprocess.CompletedProcess[str]:
    extra = tmp / f"{abs(hash(json.dumps(inputs, sort_keys=True)))}.json"
    extra.write_text(json.dumps({"mlflow_server_data_dir": str(tmp / "data"), **inputs}))
    return subprocess.run(
        [
            str(Path(sys.executable).with_name("ansible-playbook")),
            str(HERE / "validate_case.yml"),
            "-i", "localhost,",
            "-e", f"ansible_python_interpreter={sys.executable}",
            "-e", f"@{extra}",
        ],
        capture_output=True, text=True, cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if k != "ANSIBLE_CALLBACKS_ENABLED"},
             "ANSIBLE_ROLES_PATH": str(ROOT / "roles"), "ANSIBLE_NOCOLOR": "1"},
    )  # fmt: skip


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess]:
    tmp = tmp_path_factory.mktemp("validate")
    with ThreadPoolExecutor(max_workers=4) as pool:
        cases = {**CASES, **WARNING_CASES}
        runs = {name: pool.submit(validate, inputs, tmp) for name, (inputs, _) in cases.items()}
        return {name: run.result() for name, run in runs.items()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_validation_case(name: str, outcomes: dict[str, subprocess.CompletedProcess]) -> None:
    result = outcomes[name]
    output = " ".join((result.stdout + result.stderr).split())
    expected = CASES[name][1]
    if expected is None:
        assert result.returncode == 0, output[-2000:]
        return
    assert result.returncode != 0, f"{name} passed validation"
    for words in expected:
        assert words in output, output[-2000:]
    assert "fake-db-pass" not in output and "fake-password-long-enough" not in output
    assert not (Path(result.args[-1][1:]).parent / "data").exists()  # nothing on the host


@pytest.mark.parametrize("name", sorted(WARNING_CASES))
def test_an_exposed_server_is_warned_about(
    name: str, outcomes: dict[str, subprocess.CompletedProcess]
) -> None:
    result = outcomes[name]
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 0, output[-2000:]
    warned = "mlflow_server_exposure_strict=true refuses such a deploy" in output
    expected = WARNING_CASES[name][1]
    assert warned == (expected is not None), output[-2000:]
    for words in expected or []:
        assert words in output, output[-2000:]
