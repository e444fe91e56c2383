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
import yaml
from inputs import certificate, certificate_authority

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ENVIRONMENTS = sorted(p.name for p in (ROOT / "inventory/example").iterdir() if p.is_dir())


PLACEHOLDER = re.compile(r"CHANGE-ME[\w-]*")


def _copy(name: str, tmp_path: Path, filled: bool) -> tuple[Path, Path]:
    """A copy of the environment whose vault.yml is the example (each placeholder given
    a generated value when `filled`), encrypted with a password generated for the test."""
    copy = tmp_path / name
    shutil.copytree(ROOT / "inventory/example" / name, copy)
    password = tmp_path / "vault-password"
    password.write_text(secrets.token_urlsafe(24))
    password.chmod(0o600)
    vault = copy / "group_vars/mlflow_servers/vault.yml"
    text = vault.with_name("vault.yml.example").read_text()
    if filled:
        text = PLACEHOLDER.sub(lambda _: secrets.token_hex(32), text)
    vault.write_text(text)
    subprocess.run(
        [str(BIN / "ansible-vault"), "encrypt", str(vault), "--vault-password-file", str(password)],
        check=True, capture_output=True,
    )  # fmt: skip
    return copy, password


@pytest.fixture(params=ENVIRONMENTS)
def environment(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, Path]:
    """The environment with its vault filled in, as an operator deploys it."""
    return _copy(request.param, tmp_path, filled=True)


def _env() -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k != "ANSIBLE_CALLBACKS_ENABLED"},
            "ANSIBLE_ROLES_PATH": str(ROOT / "roles"), "ANSIBLE_NOCOLOR": "1"}  # fmt: skip


def _certificates(inventory: Path, directory: Path) -> Path:
    """What an operator puts in files/<env>/ (env_files_dir): a CA (ca.pem) and, signed
    by it, each server's certificate naming the host (NAME.pem, NAME.key), generated here
    into the test's own directory."""
    directory.mkdir()
    hosts = yaml.safe_load((inventory / "hosts.yml").read_text())
    ca = certificate_authority(directory)
    for name in hosts["all"]["children"]["mlflow_servers"]["hosts"]:
        certificate(directory, name, ca=ca, dns=(name,))
    return directory


def _validate(inventory: Path, password: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The role's validation over every server of the inventory (validate_inventory.yml),
    with the environment's certificates in place (env_files_dir)."""
    files = _certificates(inventory, tmp_path / "files")
    return subprocess.run(
        [str(BIN / "ansible-playbook"), str(ROOT / "tests/unit/validate_inventory.yml"),
         "-i", str(inventory), "--vault-password-file", str(password),
         "-e", f"ansible_python_interpreter={sys.executable}",
         "-e", f"mlflow_server_data_dir={tmp_path / 'data'}",
         "-e", f"env_files_dir={files}"],
        capture_output=True, text=True, cwd=ROOT, env=_env(),
    )  # fmt: skip


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
    result = _validate(*environment, tmp_path)
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


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_a_vault_left_with_its_placeholders_is_refused(name: str, tmp_path: Path) -> None:
    """A copied vault whose CHANGE-ME placeholders were not replaced would deploy a
    published admin password and Flask key: validation refuses it, naming each variable."""
    result = _validate(*_copy(name, tmp_path, filled=False), tmp_path)
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, output[-3000:]
    assert "the placeholder of the example vault (CHANGE-ME) is still there" in output
    names = ["mlflow_server_database_uri", "mlflow_server_auth_password",
             "mlflow_server_aws_secret_access_key", "mlflow_server_flask_secret_key"]  # fmt: skip
    for variable in names:
        assert variable in output, variable
    assert "CHANGE-ME-to-a-long-password" not in output
