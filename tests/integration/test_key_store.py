"""The AI Gateway's key store (MLflow 3.8.0 on) encrypts the provider API keys it keeps in
the tracking database with a passphrase of the deploy's own, never MLflow's built-in
default: generated once into config/ (0600, the container's user) unless the inventory
gives one, and handed to the server process from a mounted file (`docker inspect` shows
the file's path, not the passphrase). Every scenario."""

from __future__ import annotations

import hashlib
import stat

import docker
import pytest
from conftest import Deployment, container_env
from packaging.version import Version

pytestmark = pytest.mark.secure

# MLflow's own, for development only (mlflow/utils/crypto.py).
BUILT_IN = "mlflow-default-kek-passphrase-for-development-only"  # pragma: allowlist secret
# The sha256 of MLFLOW_CRYPTO_KEK_PASSPHRASE in the environment of every process of the
# container that runs MLflow (its server and workers), read as the container's user;
# PID 1 is Docker's init, which has the container's configured environment only.
PROCESS_PASSPHRASES = r"""
import hashlib, os
for pid in filter(str.isdigit, os.listdir("/proc")):
    if pid == "1":
        continue
    try:
        cmdline = open(f"/proc/{pid}/cmdline", "rb").read()
        environ = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
    except OSError:
        continue
    if b"mlflow" in cmdline and b"PROCESS_PASSPHRASES" not in cmdline:
        env = dict(e.split(b"=", 1) for e in environ if b"=" in e)
        value = env.get(b"MLFLOW_CRYPTO_KEK_PASSPHRASE", b"")
        print(pid, hashlib.sha256(value).hexdigest())
"""


def test_the_server_process_holds_the_deploys_own_passphrase(deployment: Deployment) -> None:
    if Version(deployment.version) < Version("3.8.0"):
        pytest.skip(f"MLflow {deployment.version} has no AI Gateway key store (3.8.0 on)")
    path = deployment.data_dir.parent / "config" / "crypto-kek-passphrase"
    info = path.stat()
    assert (stat.S_IMODE(info.st_mode), info.st_uid) == (0o600, 10001)
    passphrase = path.read_text()
    assert len(passphrase) >= 32 and passphrase != BUILT_IN
    env = container_env(deployment)
    assert env["MLFLOW_CRYPTO_KEK_PASSPHRASE_FILE"] == "/run/secrets/crypto-kek-passphrase"
    assert "MLFLOW_CRYPTO_KEK_PASSPHRASE" not in env
    container = docker.from_env().containers.get(deployment.container)
    script = "# PROCESS_PASSPHRASES\n" + PROCESS_PASSPHRASES
    found = container.exec_run(["python3", "-c", script])
    assert found.exit_code == 0, found.output
    hashes = {line.split()[1] for line in found.output.decode().splitlines()}
    assert hashes == {hashlib.sha256(passphrase.encode()).hexdigest()}, found.output
