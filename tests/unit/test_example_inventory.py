"""The example environments deploy as they are, once their vault is filled in: replicas
on shared state (the role refuses anything else), secrets only in an encrypted vault."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ENVIRONMENTS = sorted(p.name for p in (ROOT / "inventory/example").iterdir() if p.is_dir())


@pytest.fixture(params=ENVIRONMENTS)
def environment(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the environment whose vault.yml is the example, encrypted with a
    password generated for the test."""
    copy = tmp_path / request.param
    shutil.copytree(ROOT / "inventory/example" / request.param, copy)
    password = tmp_path / "vault-password"
    password.write_text(secrets.token_urlsafe(24))
    password.chmod(0o600)
    vault = copy / "group_vars/mlflow_servers/vault.yml"
    shutil.copy(vault.with_name("vault.yml.example"), vault)
    subprocess.run(
        [str(BIN / "ansible-vault"), "encrypt", str(vault), "--vault-password-file", str(password)],
        check=True, capture_output=True,
    )  # fmt: skip
    return copy, password


def _env() -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k != "ANSIBLE_CALLBACKS_ENABLED"},
            "ANSIBLE_ROLES_PATH": str(ROOT / "roles"), "ANSIBLE_NOCOLOR": "1"}  # fmt: skip


def test_environment_has_replicas_behind_a_load_balancer(environment: tuple[Path, Path]) -> None:
    inventory, password = environment
    assert (
        (inventory / "group_vars/mlflow_servers/vault.yml")
        .read_text()
        .startswith("$ANSIBLE_VAULT;")
    )
    listed = subprocess.run(
        [str(BIN / "ansible-inventory"), "-i", str(inventory), "--list",
         "--vault-password-file", str(password)],
        check=True, capture_output=True, text=True, env=_env(),
    )  # fmt: skip
    groups = json.loads(listed.stdout)
    assert len(groups["mlflow_servers"]["hosts"]) >= 2
    assert len(groups["mlflow_lb"]["hosts"]) == 1


def test_environment_passes_the_roles_validation(
    environment: tuple[Path, Path], tmp_path: Path
) -> None:
    inventory, password = environment
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), str(ROOT / "tests/unit/validate_inventory.yml"),
         "-i", str(inventory), "--vault-password-file", str(password),
         "-e", f"ansible_python_interpreter={sys.executable}",
         "-e", f"mlflow_server_data_dir={tmp_path / 'data'}"],
        capture_output=True, text=True, cwd=ROOT, env=_env(),
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "CHANGE-ME" not in result.stdout + result.stderr


def test_files_the_examples_point_to_stay_out_of_git() -> None:
    """Every file an example inventory points to under files/ (certificates, keys) is
    ignored by git: a real one put there is never committed."""
    named = set()
    for path in (ROOT / "inventory/example").rglob("*.yml"):
        named |= set(re.findall(r"\.\./(files/[^\"'\s]+)", path.read_text()))
    assert named, "the examples name no file under files/"
    for relative in sorted(named):
        ignored = subprocess.run(["git", "check-ignore", "-q", relative], cwd=ROOT)
        assert ignored.returncode == 0, f"{relative} would be committed"
    tracked = subprocess.run(["git", "check-ignore", "-q", "files/README.md"], cwd=ROOT)
    assert tracked.returncode == 1, "files/README.md must stay in git"
