"""MLflow's GenAI job runner (mlflow_server_job_execution) is switched in the container's
environment only where MLflow has one (3.5.0 on), off unless asked for, and a value the
user puts in mlflow_server_env wins; worked out by the role's own deploy plan
(container_env.yml)."""

from __future__ import annotations

from pathlib import Path

import pytest
from role_filters import run_role_cases

HERE = Path(__file__).resolve().parent
KEY = "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"
CASES = {
    "3.17.2 default: off": ({"version": "3.17.2", "jobs": False, "env": {}}, "false"),
    "3.17.2 asked for": ({"version": "3.17.2", "jobs": True, "env": {}}, "true"),
    "3.9.0 default: off": ({"version": "3.9.0", "jobs": False, "env": {}}, "false"),
    "3.5.0 asked for": ({"version": "3.5.0", "jobs": True, "env": {}}, "true"),
    "3.4.0 has no job runner": ({"version": "3.4.0", "jobs": True, "env": {}}, None),
    "2.13.0 has no job runner": ({"version": "2.13.0", "jobs": False, "env": {}}, None),
    "mlflow_server_env wins": ({"version": "3.17.2", "jobs": False, "env": {KEY: "true"}}, "true"),
}


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    return run_role_cases(HERE / "container_env.yml", CASES, tmp_path_factory.mktemp("env"))


@pytest.mark.parametrize("name", CASES)
def test_the_job_runner_is_off_unless_asked_for(name: str, resolved: dict) -> None:
    env = resolved[name]
    assert env.get(KEY) == CASES[name][1], env
    assert env["MLFLOW_DISABLE_TELEMETRY"] == "true"
