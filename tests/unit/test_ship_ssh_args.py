"""The image archive travels to each host without SSH compression (Ansible's default
ssh_args compress, and zlib bounds a large archive on a LAN), keeping every other
ssh argument the inventory gives; mlflow_server_image_ship_compression keeps it on.
Evaluated with the role's own filter (ship_ssh_args.yml)."""

from __future__ import annotations

from pathlib import Path

import pytest
from role_filters import run_role_cases

HERE = Path(__file__).resolve().parent
DEFAULT = "-C -o ControlMaster=auto -o ControlPersist=60s"
CASES = {
    "Ansible's default: -C off": (
        {"given": [DEFAULT, DEFAULT], "compression": False},
        ["-o Compression=no -o ControlMaster=auto -o ControlPersist=60s"] * 2),
    "the inventory's own args kept": (
        {"given": ["-o ProxyJump=jump -C", "-4 -o ServerAliveInterval=5"], "compression": False},
        ["-o Compression=no -o ProxyJump=jump", "-o Compression=no -4 -o ServerAliveInterval=5"]),
    "no args at all": (
        {"given": ["", ""], "compression": False},
        ["-o Compression=no", "-o Compression=no"]),
    "an option merely containing -C is not cut": (
        {"given": ["-o ProxyCommand=nc-C %h %p", DEFAULT], "compression": False},
        ["-o Compression=no -o ProxyCommand=nc-C %h %p",
         "-o Compression=no -o ControlMaster=auto -o ControlPersist=60s"]),
    "compression asked for: untouched": (
        {"given": [DEFAULT, "-o ProxyJump=jump"], "compression": True},
        [DEFAULT, "-o ProxyJump=jump"]),
}  # fmt: skip


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    return run_role_cases(HERE / "ship_ssh_args.yml", CASES, tmp_path_factory.mktemp("ship"))


@pytest.mark.parametrize("name", CASES)
def test_the_archive_travels_with_the_expected_ssh_args(
    name: str, resolved: dict[str, list[str]]
) -> None:
    assert resolved[name] == CASES[name][1]
