"""What an operator runs beside the deploy: playbooks/status.yml reports the server as
it runs (read from the host, no credential shown, nothing changed); playbooks/gc.yml
removes deleted runs and their artifacts for good; a build that fails says why."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import docker
import pytest
from conftest import (
    Deployment,
    assert_no_secret,
    call,
    container_env,
    json_of,
    json_run,
    run_playbook,
    wait_healthy,
)
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from packaging.version import Version

BACKENDS = {"local": "local", "s3": "ECS", "gs": "GCS", "wasbs": "AZURE"}
UI_TELEMETRY = "/ajax-api/3.0/mlflow/ui-telemetry"


def status_of(deployment: Deployment) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The report of this deployment's host and the host's stats (json callback)."""
    result = run_playbook(deployment, "status.yml", env={"ANSIBLE_STDOUT_CALLBACK": "json"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    play = json_of(result.stdout)
    host = deployment.host or "instance"
    reports = [
        task["hosts"][host]["msg"]
        for task in play["plays"][0]["tasks"]
        if task["task"]["name"].endswith("status | Report the server") and host in task["hosts"]
    ]
    return reports[0], play["stats"][host], result.stdout + result.stderr


def test_status_reports_the_running_server(deployment: Deployment) -> None:
    report, stats, output = status_of(deployment)
    container = docker.from_env().containers.get(deployment.container).attrs
    assert report["state"] == "running"
    assert report["health"] == "OK"
    assert report["url"] == deployment.url
    assert report["mlflow_version"] == deployment.version
    assert report["image"] == container["Config"]["Image"]
    assert container["Image"].startswith(report["image_id"])
    assert report["artifact_backend"] == BACKENDS[deployment.artifact_store.split(":")[0]]
    kind = deployment.database_uri.split(":")[0].split("+")[0] or "sqlite"
    assert report["database"] == kind
    assert report["auth"] == ("basic-auth" if deployment.auth_username else "none")
    assert report["tls"] == deployment.url.startswith("https://")
    assert report["up"].endswith("m") and report["restarts"] == container["RestartCount"]
    assert stats["changed"] == 0 and stats["failures"] == 0
    assert_no_secret(output, deployment.s3_secret, deployment.auth_password)


@pytest.mark.default_scenario
def test_the_deploy_ends_with_a_summary_of_each_server(deployment: Deployment) -> None:
    """A deploy ends with one block per server: what it serves, and every warning the
    run raised, the same ones Ansible printed. Here in --check with the server opened
    to every address (no auth, the strict switch off), so the exposure warning must be
    among them."""
    host = deployment.host or "instance"
    run = json_run(
        deployment, "site.yml", "--check",
        "-e", "mlflow_server_bind_address=0.0.0.0", "-e", "mlflow_server_exposure_strict=false",
    )  # fmt: skip
    *deploy_plays, summary_play = run["plays"]
    assert summary_play["play"]["name"] == "Summarize the deploy"
    summary = summary_play["tasks"][-1]["hosts"][host]["mlflow_server_deployed"]
    container = docker.from_env().containers.get(deployment.container).attrs
    assert summary["url"] == deployment.url
    assert summary["mlflow_version"] == deployment.version
    assert summary["image"] == container["Config"]["Image"]
    assert summary["artifact_backend"] == BACKENDS[deployment.artifact_store.split(":")[0]]
    assert summary["data_dir"] == str(deployment.data_dir.parent)
    raised = [
        " ".join(warning.split())
        for play in deploy_plays
        for task in play["tasks"]
        for warning in task["hosts"].get(host, {}).get("warnings", [])
    ]
    assert summary["warnings"] == raised
    assert any("has no authentication" in warning for warning in raised)
    assert run["stats"][host]["failures"] == 0


@pytest.mark.default_scenario
def test_the_server_runs_one_worker_per_cpu_of_the_docker_host_up_to_four(
    deployment: Deployment,
) -> None:
    """mlflow_server_workers=0 (the default) under uvicorn (3.17.2, no --workers in the
    inventory): as many uvicorn workers run as the Docker engine reports CPUs, at most
    MLflow's own default of 4."""
    engine = docker.from_env()
    expected = min(engine.info()["NCPU"], 4)
    container = engine.containers.get(deployment.container)
    command = container.attrs["Config"]["Cmd"]
    assert command[command.index("--workers") :][:2] == ["--workers", str(expected)]
    processes = container.top(ps_args="-eo pid,ppid,args")["Processes"]
    (uvicorn,) = [pid for pid, _, args in processes if " -m uvicorn " in args]
    workers = [args for _, ppid, args in processes if ppid == uvicorn and "spawn_main" in args]
    assert len(workers) == expected, processes


def test_the_genai_job_runner_is_off(deployment: Deployment) -> None:
    """mlflow_server_job_execution false (the default): on releases that have MLflow's job
    runner (3.5.0 on; MLflow starts it by default from 3.9.0) the container is told not
    to start it, and no job runner or huey consumer runs beside the workers."""
    if Version(deployment.version) < Version("3.5.0"):
        pytest.skip(f"MLflow {deployment.version} has no job runner")
    assert container_env(deployment)["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    container = docker.from_env().containers.get(deployment.container)
    processes = [args for _, args in container.top(ps_args="-eo pid,args")["Processes"]]
    assert any(" -m uvicorn " in args or "gunicorn" in args for args in processes), processes
    jobs = [args for args in processes if "mlflow.server.jobs" in args or "huey" in args]
    assert jobs == [], jobs


def test_usage_telemetry_is_off(deployment: Deployment) -> None:
    """MLflow's usage telemetry is off (mlflow_server_telemetry_enabled false): the server
    says so to the UI's telemetry endpoint (releases that have it) instead of taking
    records."""
    env = container_env(deployment)
    assert (env["MLFLOW_DISABLE_TELEMETRY"], env["DO_NOT_TRACK"]) == ("true", "true")
    login = (
        (deployment.auth_username, deployment.auth_password) if deployment.auth_username else None
    )
    if Version(deployment.version) < Version("3.8.0"):
        pytest.skip(f"MLflow {deployment.version} has no UI telemetry endpoint (3.8.0 on)")
    status, reply = call(deployment.url, UI_TELEMETRY, login, "POST", {"records": []})
    assert (status, reply) == (200, {"status": "disabled"})


def test_gc_removes_deleted_runs_and_their_artifacts_for_good(
    deployment: Deployment, tmp_path: Path
) -> None:
    client = MlflowClient(tracking_uri=deployment.url)
    experiment_id = client.create_experiment(f"gc-{uuid.uuid4().hex[:8]}")
    kept, deleted = (client.create_run(experiment_id).info.run_id for _ in range(2))
    (tmp_path / "notes.txt").write_text("an artifact gc must remove with its run")
    for run_id in (kept, deleted):
        client.log_artifact(run_id, str(tmp_path / "notes.txt"))
    client.delete_run(deleted)
    assert deployment.stored_artifacts(deleted), "the artifact was not stored"

    result = run_playbook(deployment, "gc.yml")
    assert result.returncode == 0, result.stdout[-3000:]
    assert f"Run with ID {deleted} has been permanently deleted" in result.stdout
    with pytest.raises(MlflowException, match=r"RESOURCE_DOES_NOT_EXIST|not found"):
        client.get_run(deleted)
    assert deployment.stored_artifacts(deleted) == {}
    # What was not deleted stays, run and artifact.
    assert client.get_run(kept).info.lifecycle_stage == "active"
    assert list(deployment.stored_artifacts(kept)) != []
    # Nothing left to collect: a second run changes nothing.
    again = run_playbook(deployment, "gc.yml")
    assert again.returncode == 0 and "changed=0" in again.stdout, again.stdout[-3000:]


@pytest.mark.default_scenario
def test_a_failed_build_says_why_and_the_server_keeps_serving(deployment: Deployment) -> None:
    """A build that cannot install its packages (its package index is the build
    container's own 127.0.0.1:9, where nothing listens) fails the deploy with the build's
    own last lines, before the running container is touched; the next deploy of the
    inventory puts the build context back."""
    engine = docker.from_env()
    before = engine.containers.get(deployment.container).id
    failed = run_playbook(
        deployment, "site.yml", {"mlflow_server_pip_index_url": "http://127.0.0.1:9/simple/"}
    )
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0, output[-3000:]
    assert "failed; the running server was not touched" in output, output[-3000:]
    last_lines = output.split("The build's last lines:", 1)[1]
    assert "127.0.0.1:9" in last_lines or "uv==" in last_lines, last_lines[:3000]
    wait_healthy(deployment.url)
    assert engine.containers.get(deployment.container).id == before
    again = run_playbook(deployment, "site.yml")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-2000:]
    assert engine.containers.get(deployment.container).id == before
