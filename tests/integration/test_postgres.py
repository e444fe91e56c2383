"""The tracking store in PostgreSQL: the data lands there, the URI's password stays secret,
an unreachable database cannot take the server down, and backup.yml dumps it."""

from __future__ import annotations

import stat
import subprocess
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import docker
import pytest
from conftest import (
    Deployment,
    assert_database_password_hidden,
    assert_no_secret,
    open_api,
    recap_count,
    run_playbook,
    wait_healthy,
)
from mlflow.tracking import MlflowClient
from packaging.version import Version

pytestmark = pytest.mark.postgres

SOCKET_DIR = "/var/tmp/molecule-postgres"  # prepare's cluster (tests/emulators.py)


def psql(deployment: Deployment, sql: str) -> str:
    url = urlsplit(deployment.database_uri)
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", "psql", "-h", SOCKET_DIR, "-p", str(url.port),
         "-d", url.path.lstrip("/"), "-qtAc", sql],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


def test_experiments_are_stored_in_postgresql(deployment: Deployment) -> None:
    name = f"pg-{uuid.uuid4().hex[:8]}"
    client = MlflowClient(tracking_uri=deployment.url)
    experiment = client.create_experiment(name)
    run_id = client.create_run(experiment).info.run_id
    client.log_metric(run_id, "loss", 0.125)
    assert psql(deployment, f"SELECT experiment_id FROM experiments WHERE name = '{name}'") == (
        experiment
    )
    assert psql(deployment, f"SELECT value FROM metrics WHERE run_uuid = '{run_id}'") == "0.125"


def test_the_database_password_stays_secret(deployment: Deployment) -> None:
    assert_database_password_hidden(deployment)


def test_an_unreachable_database_fails_the_deploy_and_the_server_keeps_serving(
    deployment: Deployment,
) -> None:
    before = docker.from_env().containers.get(deployment.container).id
    unreachable = deployment.database_uri.replace(":5433/", ":5999/")
    result = run_playbook(
        deployment,
        "site.yml",
        {"mlflow_server_database_uri": unreachable, "mlflow_server_database_wait_timeout": 5},
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, "a deploy onto an unreachable database succeeded"
    assert "did not accept connections within 5 s" in output
    assert_no_secret(output, deployment.database_password)
    wait_healthy(deployment.url)
    assert docker.from_env().containers.get(deployment.container).id == before
    uri_file = deployment.data_dir.parent / "config/database-uri"
    assert uri_file.read_text().strip() == deployment.database_uri
    assert not list(uri_file.parent.glob("database-uri.*"))

    again = run_playbook(deployment, "site.yml")
    assert again.returncode == 0, again.stdout[-2000:]
    assert recap_count(again.stdout, deployment.host) == 0
    with open_api(deployment, "/health") as reply:
        assert reply.read().strip() == b"OK"


def test_backup_playbook_dumps_the_database(deployment: Deployment) -> None:
    result = run_playbook(deployment, "backup.yml")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert_no_secret(output, deployment.database_password)
    dumps = sorted((deployment.data_dir / "backups").glob("postgresql-*-manual.dump"))
    assert len(dumps) == 1
    info = dumps[0].stat()
    assert (stat.S_IMODE(info.st_mode), info.st_uid) == (0o600, 0)
    # The AI Gateway's key store passphrase goes with the database it can decrypt.
    if Version(deployment.version) >= Version("3.8.0"):
        copy = dumps[0].with_name(
            dumps[0].name.replace("postgresql-", "crypto-kek-passphrase-")[: -len(".dump")]
        )
        info = copy.stat()
        assert (stat.S_IMODE(info.st_mode), info.st_uid) == (0o600, 0)
        passphrase = deployment.data_dir.parent / "config" / "crypto-kek-passphrase"
        assert copy.read_text() == passphrase.read_text()
    listing = subprocess.run(
        ["pg_restore", "--list", str(dumps[0])], capture_output=True, text=True, check=True
    ).stdout
    assert "TABLE DATA public experiments" in listing


def test_a_failed_dump_says_why_without_the_password(deployment: Deployment) -> None:
    """pg_dump's own error reaches the operator (the password goes in a 0600 password
    file, so the task hides nothing), the password given does not, and the password file
    is removed."""
    parts = urlsplit(deployment.database_uri)
    wrong = f"wrong-{uuid.uuid4().hex[:12]}"
    uri = deployment.database_uri.replace(f":{parts.password}@", f":{wrong}@", 1)
    before = set(Path("/tmp").glob("ansible.*.pgpass"))
    result = run_playbook(deployment, "backup.yml", {"mlflow_server_database_uri": uri})
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "password authentication failed" in output, output[-3000:]
    assert_no_secret(output, wrong)
    assert set(Path("/tmp").glob("ansible.*.pgpass")) == before, "password file left behind"
    assert "The server was not touched" in output
    assert len(list((deployment.data_dir / "backups").glob("postgresql-*-manual.dump"))) == 1
