"""Good input passes the role's validation and resolution, and an exposed server is
warned about. Bad input is refused through the playbook against a running server, with a
fingerprint of the host before and after: tests/integration/test_bad_inputs.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from inputs import ADMIN, REPLICAS, TLS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# The server published on every address; opened without auth and TLS only when
# mlflow_server_exposure_strict is turned off (it is on by default).
OPEN_ADDRESS: dict[str, Any] = {"mlflow_server_bind_address": "0.0.0.0"}
OPENED: dict[str, Any] = {**OPEN_ADDRESS, "mlflow_server_exposure_strict": False}
# id -> (inputs, None when valid, else words the message must hold)
CASES: dict[str, dict[str, Any]] = {
    "3.17-custom-admin": ADMIN,
    "2.21-short-password": {**ADMIN, "mlflow_server_version": "2.21.3",
                            "mlflow_server_auth_password": "fake-short"},
    "3.3-gunicorn": {**ADMIN, "mlflow_server_version": "3.3.1",
                     "mlflow_server_extra_args": ["--gunicorn-opts", "--timeout 60"]},
    "postgresql": {"mlflow_server_database_uri": "postgresql://u:fake-db-pass@db:5432/mlflow"},
    "replicas-shared-state": {**REPLICAS, **ADMIN, "mlflow_server_auth_database_url":
                              "postgresql://u:fake-db-pass@db:5432/auth"},
    "tls": TLS,
    "strict-loopback": {"mlflow_server_exposure_strict": True,
                        "mlflow_server_bind_address": "127.0.0.1"},
    "strict-auth-and-tls": {**ADMIN, **TLS, **OPEN_ADDRESS, "mlflow_server_exposure_strict": True},
    # Names, paths and addresses the role checks, in the forms users give them.
    "registry-image-ipv6-limits": {
        "mlflow_server_image_name": "registry.example.com:5000/team/mlflow-server",
        "mlflow_server_container_name": "mlflow_team.a-1",
        "mlflow_server_bind_address": "::1",
        "mlflow_server_memory_limit": "4g",
        "mlflow_server_log_max_size": "50m",
        "mlflow_server_allowed_hosts": ["mlflow.example.com", "*.example.org:443"],
        "mlflow_server_cors_allowed_origins": ["https://ui.example.com"],
        "mlflow_server_env": {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false", "_X1": "1"},
        "mlflow_server_s3_endpoint_url": "https://s3.example.com:9000/",
        "mlflow_server_artifact_url": "s3://bucket/team-a/mlflow",
    },
    # The seed's fallback: an S3 backend without its endpoint serves local storage.
    "s3-without-endpoint": {"mlflow_server_artifact_backend": "ECS",
                            "mlflow_server_s3_endpoint_url": "", "mlflow_server_artifact_url": ""},
    # Admin passwords with quotes, spaces, $() and % are data: the ini escapes %.
    "hostile-admin-password": {**ADMIN, "mlflow_server_auth_password":
                               "fake pass 'with' \"quotes\" $(id) 100%"},
}  # fmt: skip


# Good input the role deploys, but says something about: id -> (inputs, words of a
# warning it must give, or None when it must give no exposure warning).
WARNING_CASES: dict[str, tuple[dict[str, Any], list[str] | None]] = {
    "closed-by-default": ({}, None),
    "open-server-when-allowed": (OPENED, ["The MLflow server has no authentication",
                                          "0.0.0.0:5005", "mlflow_server_auth_enabled",
                                          "mlflow_server_exposure_strict=true refuses"]),
    "auth-in-clear-text": ({**ADMIN, **OPENED},
                           ["basic-auth passwords reach the MLflow server in clear text",
                            "mlflow_server_tls_certificate"]),
    "auth-over-tls": ({**ADMIN, **TLS, **OPEN_ADDRESS}, None),
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
        cases = {**CASES, **{name: inputs for name, (inputs, _) in WARNING_CASES.items()}}
        runs = {name: pool.submit(validate, inputs, tmp) for name, inputs in cases.items()}
        return {name: run.result() for name, run in runs.items()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_good_input_passes(name: str, outcomes: dict[str, subprocess.CompletedProcess]) -> None:
    result = outcomes[name]
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 0, output[-2000:]
    assert "fake-db-pass" not in output and "fake-password-long-enough" not in output


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


def test_an_older_ansible_core_is_refused_with_the_fix(tmp_path: Path) -> None:
    """The role states ansible-core 2.19 as its oldest controller (meta/runtime.yml) and
    checks it: under 2.18 the deploy stops at its first step, naming the version and the
    fix. (The collections come from this venv's `ansible` package.)"""
    venv = tmp_path / "ansible-2.18"
    uv = str(Path(sys.executable).with_name("uv"))
    subprocess.run([uv, "venv", "-q", str(venv), "--python", sys.executable], check=True)
    subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(venv / "bin/python"), "ansible-core==2.18.19"],
        check=True,
    )
    extra = tmp_path / "inputs.json"
    extra.write_text(json.dumps({"mlflow_server_data_dir": str(tmp_path / "data")}))
    collections = next(p for p in map(Path, sys.path) if (p / "ansible_collections").is_dir())
    result = subprocess.run(
        [
            str(venv / "bin/ansible-playbook"), str(HERE / "validate_case.yml"),
            "-i", "localhost,", "-e", f"ansible_python_interpreter={venv / 'bin/python'}",
            "-e", f"@{extra}",
        ],
        capture_output=True, text=True, cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")},
             "ANSIBLE_ROLES_PATH": str(ROOT / "roles"), "ANSIBLE_NOCOLOR": "1",
             "ANSIBLE_COLLECTIONS_PATH": str(collections)},
    )  # fmt: skip
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, output[-2000:]
    assert "needs ansible-core 2.19 or newer" in output, output[-2000:]
    assert "this is ansible-core 2.18.19" in output and "make venv" in output
