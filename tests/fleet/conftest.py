"""Fixtures of the fleet scenario's tests (molecule/fleet/verify.yml runs them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from load import LoadClients

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Fleet:
    lb_url: str  # https, with a certificate of the scenario's private CA
    lb_redirect_url: str  # the balancer's plain HTTP port (redirects to HTTPS)
    ca: str  # the CA's certificate (PEM)
    app_urls: dict[str, str]  # inventory name -> URL published on 127.0.0.1
    inventory: str
    container: str
    username: str
    password: str = field(repr=False)

    @property
    def auth(self) -> tuple[str, str]:
        return (self.username, self.password)

    def load_clients(self) -> LoadClients:
        """8 no-retry clients logging through the load balancer, into an experiment of
        their own (tests/fleet/load.py)."""
        experiment = requests.post(
            f"{self.lb_url}/api/2.0/mlflow/experiments/create",
            json={"name": f"fleet-load-{uuid.uuid4().hex[:8]}"}, auth=self.auth, timeout=30,
            verify=self.ca,
        )  # fmt: skip
        experiment.raise_for_status()
        experiment_id = experiment.json()["experiment_id"]
        return LoadClients(self.lb_url, self.auth, experiment_id, clients=8, ca=self.ca)

    def docker(self, host: str, *argv: str) -> str:
        """`docker ...` on a fleet host's own engine (the host is a container here)."""
        return subprocess.run(
            ["docker", "exec", host, "docker", *argv], capture_output=True, text=True, check=True
        ).stdout.strip()

    def shell(self, host: str, script: str) -> str:
        """A shell command on a fleet host (not in its MLflow container)."""
        return subprocess.run(
            ["docker", "exec", host, "sh", "-c", script], capture_output=True, text=True, check=True
        ).stdout.strip()

    def container_state(self, host: str) -> dict[str, str]:
        out = self.docker(host, "inspect", self.container, "--format", "{{json .}}")
        inspected = json.loads(out)
        labels = inspected["Config"]["Labels"] or {}
        return {"id": inspected["Id"], "image": inspected["Image"],
                "env": "\n".join(inspected["Config"]["Env"]),
                "cmd": " ".join(inspected["Config"]["Cmd"]),
                "version": labels.get("io.github.mlflow-server.version", "")}  # fmt: skip

    def run_playbook(self, extra: dict[str, Any] | None = None) -> subprocess.CompletedProcess[str]:
        """`ansible-playbook playbooks/site.yml` over the fleet, as an operator runs it.
        Extra vars go in a file only root reads, never on the command line."""
        env = {
            **os.environ,
            "ANSIBLE_ROLES_PATH": str(ROOT / "roles"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "40",
        }
        with tempfile.NamedTemporaryFile("w", suffix=".json") as extra_file:
            json.dump(extra or {}, extra_file)
            extra_file.flush()
            result = subprocess.run(
                [str(Path(sys.executable).with_name("ansible-playbook")), "-i", self.inventory,
                 str(ROOT / "playbooks/site.yml"), "-e", f"@{extra_file.name}"],
                capture_output=True, text=True, env=env, cwd=ROOT,
            )  # fmt: skip
        # The recap and the slowest tasks (profile_tasks), in the test's report (-rP).
        print(result.stdout[result.stdout.rfind("PLAY RECAP") :])
        return result


def _env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        pytest.fail(f"{name} is not set: the fleet tests run from molecule/fleet/verify.yml")
    return value


@pytest.fixture(scope="session")
def fleet() -> Fleet:
    return Fleet(
        lb_url=_env("FLEET_LB_URL"),
        lb_redirect_url=_env("FLEET_LB_REDIRECT_URL"),
        ca=_env("FLEET_CA"),
        app_urls=json.loads(_env("FLEET_APP_URLS")),
        inventory=_env("FLEET_INVENTORY"),
        container=_env("FLEET_CONTAINER"),
        username=_env("FLEET_USERNAME"),
        password=_env("FLEET_PASSWORD"),
    )


@pytest.fixture()
def client_env(fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    """The MLflow client of a test logs in as the admin and verifies the scenario's CA."""
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", fleet.username)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", fleet.password)
    # Downloads go through the servers (the proxied path), not to presigned URLs of a
    # store that only the servers reach.
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD", "false")
    # The client verifies the load balancer's certificate against the scenario's CA.
    monkeypatch.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", fleet.ca)
