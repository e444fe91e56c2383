"""`make lint` fails on a committed secret (scripts/check_secrets.py), and passes on
this repository."""

from __future__ import annotations

import secrets
import shutil
import string
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECK = [sys.executable, str(ROOT / "scripts/check_secrets.py")]


def _token(length: int) -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(length))


def _check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CHECK, "--root", str(root)], capture_output=True, text=True)


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """A git work tree with this repository's baseline and one harmless file."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    shutil.copy(ROOT / ".secrets.baseline", tmp_path)
    (tmp_path / "README.md").write_text("# nothing secret here\n")
    return tmp_path


def _stage(repo: Path, name: str, content: str) -> None:
    (repo / name).parent.mkdir(parents=True, exist_ok=True)
    (repo / name).write_text(content)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)


def test_this_repository_holds_no_secret() -> None:
    result = _check(ROOT)
    assert result.returncode == 0, result.stderr


def test_a_harmless_tree_passes(repo: Path) -> None:
    _stage(repo, "app.py", "print('hello')\n")
    assert _check(repo).returncode == 0


def test_a_planted_credential_fails(repo: Path) -> None:
    planted = f'aws_secret_access_key = "{_token(40)}"\n'
    _stage(repo, "deploy/settings.py", planted)
    result = _check(repo)
    assert result.returncode == 1
    assert "deploy/settings.py" in result.stdout + result.stderr


def test_an_unencrypted_vault_fails(repo: Path) -> None:
    _stage(repo, "inventory/prod/group_vars/all/vault.yml", "vault_x: plain\n")
    result = _check(repo)
    assert result.returncode == 1
    assert "unencrypted vault" in result.stderr


def test_an_encrypted_vault_passes(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    password = tmp_path_factory.mktemp("vault") / "password"
    password.write_text(_token(24))
    vault = repo / "inventory/prod/group_vars/all/vault.yml"
    vault.parent.mkdir(parents=True)
    vault.write_text(f"vault_db_password: {_token(24)}\n")
    subprocess.run(
        [str(Path(sys.executable).with_name("ansible-vault")), "encrypt", str(vault),
         "--vault-password-file", str(password)],
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    result = _check(repo)
    assert result.returncode == 0, result.stderr


def test_a_generated_key_file_fails_whatever_its_content(repo: Path) -> None:
    _stage(repo, ".flask-secret-key", secrets.token_hex(32) + "\n")
    result = _check(repo)
    assert result.returncode == 1
    assert ".flask-secret-key" in result.stderr
