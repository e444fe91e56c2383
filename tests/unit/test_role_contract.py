"""The roles' inputs have one source of truth, and the README shows it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = ["mlflow_server", "mlflow_lb", "docker_engine", "local_base_image"]

# Public names inventories depend on (DESIGN.md): renaming one breaks users.
CONTRACT = {
    "mlflow_server_version", "mlflow_server_port", "mlflow_server_bind_address",
    "mlflow_server_container_name", "mlflow_server_image_name", "mlflow_server_base_image",
    "mlflow_server_data_dir", "mlflow_server_artifact_backend", "mlflow_server_artifact_url",
    "mlflow_server_database_uri", "mlflow_server_aws_access_key_id",
    "mlflow_server_aws_secret_access_key", "mlflow_server_s3_endpoint_url",
    "mlflow_server_google_application_credentials", "mlflow_server_auth_enabled",
    "mlflow_server_auth_username", "mlflow_server_auth_password",
    "mlflow_server_auth_database_url", "mlflow_server_extra_args", "mlflow_server_env",
}  # fmt: skip


def _spec(role: str) -> dict[str, dict[str, dict]]:
    return yaml.safe_load((ROOT / "roles" / role / "meta/argument_specs.yml").read_text())[
        "argument_specs"
    ]


def _defaults(role: str) -> dict:
    return yaml.safe_load((ROOT / "roles" / role / "defaults/main.yml").read_text()) or {}


@pytest.mark.parametrize("role", ROLES)
def test_defaults_match_the_argument_specs_key_for_key(role: str) -> None:
    options: dict[str, dict] = {}
    for entry in _spec(role).values():
        options.update(entry["options"])
    with_default = {name: o["default"] for name, o in options.items() if "default" in o}
    assert _defaults(role) == with_default


@pytest.mark.parametrize("role", ROLES)
def test_every_option_is_prefixed_and_described(role: str) -> None:
    prefix = role + "_"
    for entry in _spec(role).values():
        for name, option in entry["options"].items():
            assert name.startswith(prefix), name
            assert option.get("description"), f"{name} has no description"


def test_secrets_have_no_default_and_are_no_log() -> None:
    options = _spec("mlflow_server")["main"]["options"]
    for name in (
        "mlflow_server_aws_secret_access_key",
        "mlflow_server_auth_password",
        "mlflow_server_flask_secret_key",
    ):
        assert options[name].get("no_log") is True
        assert "default" not in options[name]


def test_public_variable_names_are_kept() -> None:
    assert set(_spec("mlflow_server")["main"]["options"]) >= CONTRACT


def test_readme_variable_tables_are_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts/readme_vars.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_make_test_runs_every_molecule_scenario() -> None:
    scenarios = {p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml")}
    makefile = (ROOT / "Makefile").read_text()
    listed = next(line for line in makefile.splitlines() if line.startswith("LANES ?="))
    lanes = listed.split("?=", 1)[1].replace('"', " ").split()
    assert sorted(lanes) == sorted(scenarios), "each scenario in exactly one lane"
