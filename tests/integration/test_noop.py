"""A deploy with nothing to do reads the host and stops: it renders, copies and builds
nothing. What it compares (the container, its image, every path a deploy makes with
its mode, owner and checksum, the record of the last deploy) still catches a change
made by hand, which the full deploy then puts right."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import docker
import pytest
from conftest import Deployment, json_run


def _summary_and_tasks(run: dict[str, Any], host: str) -> tuple[dict[str, Any], list[str]]:
    """The host's deploy summary and the names of the tasks that ran on it (not skipped)."""
    *deploy_plays, summary_play = run["plays"]
    summary = summary_play["tasks"][-1]["hosts"][host]["mlflow_server_deployed"]
    ran = [
        task["task"]["name"]
        for play in deploy_plays
        for task in play["tasks"]
        if host in task["hosts"] and not task["hosts"][host].get("skipped")
    ]
    return summary, ran


def _phase(name: str) -> str:
    """The phase of a task of the role: its file, the second part of a name of a task of
    tasks/deploy/ or tasks/shared/ ("deploy | run | ..."), the first of the others."""
    parts = name.split(" : ")[-1].split(" | ")
    return parts[1] if parts[0] in ("deploy", "shared") and len(parts) > 2 else parts[0]


def test_a_deploy_with_nothing_to_do_stops_after_reading_the_host(deployment: Deployment) -> None:
    """Every scenario's deploy (its backend files, keys, auth and database URI) matches
    its record: a run after a deploy of the inventory changes nothing and runs none of
    the deploy's tasks."""
    host = deployment.host or "instance"
    run = json_run(deployment, "site.yml")
    summary, ran = _summary_and_tasks(run, host)
    if summary["drift"]:  # an earlier test deployed other inputs (gcs rotates its key)
        run = json_run(deployment, "site.yml")
        summary, ran = _summary_and_tasks(run, host)
    assert summary["drift"] == [], f"a repeated deploy found differences: {summary['drift']}"
    assert run["stats"][host]["changed"] == 0
    phases = {"apply", "user", "render", "image_context", "image_build", "run", "images"}
    deploy_tasks = [name for name in ran if _phase(name) in phases]
    assert deploy_tasks == [], f"the no-op ran deploy tasks: {deploy_tasks}"
    container = docker.from_env().containers.get(deployment.container).attrs
    assert container["Image"].startswith(summary["image_id"])


@pytest.mark.default_scenario
def test_a_file_changed_by_hand_is_seen_and_put_right(deployment: Deployment) -> None:
    """A mode and a content changed on the host: --check names both and changes nothing,
    the deploy restores them (without replacing the container: the image's inputs on the
    controller did not change), and the next run has nothing to do."""
    host = deployment.host or "instance"
    scratch = deployment.data_dir.parent / "tmp"
    dockerfile = deployment.build_dir / "Dockerfile"
    original = dockerfile.read_text()
    container_id = docker.from_env().containers.get(deployment.container).id
    os.chmod(scratch, 0o755)
    dockerfile.write_text(original + "# edited by hand\n")
    try:
        expected = [
            f"{scratch} has mode 0755, not 0700",
            f"{dockerfile} has other content",
        ]
        check = json_run(deployment, "site.yml", "--check")
        summary, _ = _summary_and_tasks(check, host)
        assert summary["drift"] == expected
        assert check["stats"][host]["changed"] >= 2
        assert oct(scratch.stat().st_mode & 0o777) == "0o755"
        assert dockerfile.read_text().endswith("# edited by hand\n")

        fixed = json_run(deployment, "site.yml")
        summary, _ = _summary_and_tasks(fixed, host)
        assert summary["drift"] == expected
        assert oct(scratch.stat().st_mode & 0o777) == "0o700"
        assert dockerfile.read_text() == original
        assert docker.from_env().containers.get(deployment.container).id == container_id
    finally:
        os.chmod(scratch, 0o700)
        Path(dockerfile).write_text(original)

    again = json_run(deployment, "site.yml")
    summary, _ = _summary_and_tasks(again, host)
    assert summary["drift"] == [] and again["stats"][host]["changed"] == 0
