"""The tracking store in MariaDB (the mariadb scenario, from MLflow 2.13.0): the data lands
there, the password stays secret, and an upgrade to 3.17.2 migrates the schema after a
mysqldump backup that restores. The tests run in file order: the upgrade changes the
release the ones before it ran on."""

from __future__ import annotations

import re
import stat
import subprocess
import threading
import uuid
from pathlib import Path
from typing import Any

import docker
import pytest
from conftest import (
    Deployment,
    assert_database_password_hidden,
    assert_no_secret,
    run_playbook,
    wait_healthy,
)
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.mariadb

SOCKET = "/var/tmp/molecule-mariadb/mysqld.sock"  # prepare's server (tests/emulators.py)
NEW = "3.17.2"
STATE: dict[str, Any] = {}
MARIADB = ["mariadb", "--no-defaults", f"--socket={SOCKET}", "--user=root", "-N", "-B"]


def sql(statement: str, database: str = "mlflow") -> str:
    """As MariaDB's root, through the socket (root has no password and no TCP login)."""
    return subprocess.run(
        [*MARIADB, database, "-e", statement], capture_output=True, text=True, check=True
    ).stdout.strip()


def load(dump: Path, database: str) -> None:
    """`mariadb DB < FILE`, as the restore entry point's message tells an operator."""
    with dump.open("rb") as source:
        subprocess.run([*MARIADB, database], stdin=source, capture_output=True, check=True)


class ArgvWatch:
    """Every command line on the host, sampled every 20 ms while a deploy runs."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
            self.seen.update(ps.splitlines())
            self._stop.wait(0.02)

    def __enter__(self) -> ArgvWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def test_runs_are_stored_in_mariadb(deployment: Deployment) -> None:
    name = f"maria-{uuid.uuid4().hex[:8]}"
    client = MlflowClient(tracking_uri=deployment.url)
    experiment = client.create_experiment(name)
    run_id = client.create_run(experiment, tags={"stage": "before-upgrade"}).info.run_id
    client.log_metric(run_id, "loss", 0.25)
    client.log_param(run_id, "lr", "0.01")
    assert sql(f"SELECT experiment_id FROM experiments WHERE name = '{name}'") == experiment
    assert sql(f"SELECT value FROM metrics WHERE run_uuid = '{run_id}'") == "0.25"
    STATE.update(experiment=experiment, run_id=run_id, schema=sql("SELECT * FROM alembic_version"))


def test_the_database_password_stays_secret(deployment: Deployment) -> None:
    assert_database_password_hidden(deployment)


def test_an_upgrade_dumps_with_mysqldump_then_migrates_and_keeps_the_runs(
    deployment: Deployment,
) -> None:
    """2.13.0 -> 3.17.2 changes the schema: mysqldump first, its password in a 0600 option
    file (never on a command line, never printed), then `mlflow db upgrade`."""
    password = deployment.database_password
    temp_before = set(Path("/tmp").glob("ansible.*.cnf"))
    with ArgvWatch() as watch:
        result = run_playbook(deployment, "site.yml", {"mlflow_server_version": NEW})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert_no_secret(output, password)
    assert_no_secret("\n".join(watch.seen), password)
    # The dump task's command line, as `-v` prints it (YAML results under the project's
    # ansible.cfg, JSON under Molecule's): the option file first.
    option_file_first = (
        r'(cmd:\n\s*- mysqldump\n\s*- |"cmd": \["mysqldump", ")'
        r"--defaults-extra-file=/tmp/ansible\.[\w.-]+\.cnf\b"
    )
    assert re.search(option_file_first, output), output[-4000:]
    dumped = [argv for argv in watch.seen if argv.startswith("mysqldump ")]
    assert all("--defaults-extra-file=" in argv for argv in dumped), dumped
    assert f"Upgraded the tracking database from schema {STATE['schema']}" in output
    assert set(Path("/tmp").glob("ansible.*.cnf")) == temp_before, "option file left behind"

    dumps = sorted((deployment.data_dir / "backups").glob(f"mysql-*-before-{NEW}.dump"))
    assert len(dumps) == 1, dumps
    info = dumps[0].stat()
    assert (stat.S_IMODE(info.st_mode), info.st_uid) == (0o600, 0)
    text = dumps[0].read_text()
    assert "CREATE TABLE `experiments`" in text and STATE["run_id"] in text
    STATE["dump"] = dumps[0]

    labels = docker.from_env().containers.get(deployment.container).attrs["Config"]["Labels"]
    assert labels["io.github.mlflow-server.version"] == NEW
    assert sql("SELECT * FROM alembic_version") != STATE["schema"]
    wait_healthy(deployment.url)
    run = MlflowClient(tracking_uri=deployment.url).get_run(STATE["run_id"])
    assert run.data.metrics == {"loss": 0.25}
    assert run.data.params == {"lr": "0.01"}
    assert run.data.tags["stage"] == "before-upgrade"


def test_the_dump_restores_into_a_database_of_its_own(deployment: Deployment) -> None:
    """What the restore entry point tells an operator to run (`mysql DB < FILE`) gives
    back the database as it was before the upgrade."""
    scratch = f"restore_{uuid.uuid4().hex[:8]}"
    sql(f"CREATE DATABASE `{scratch}`")
    try:
        load(STATE["dump"], scratch)
        assert sql("SELECT * FROM alembic_version", scratch) == STATE["schema"]
        assert (
            sql(f"SELECT value FROM metrics WHERE run_uuid = '{STATE['run_id']}'", scratch)
            == "0.25"
        )
    finally:
        sql(f"DROP DATABASE `{scratch}`")
