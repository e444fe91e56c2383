"""Two servers on one host, sharing an image name, through four releases.

Server A moves 2.13.0 -> 2.14.3 -> 2.16.2 -> 3.17.2 while server B stays on 2.13.0, then
B follows to 3.17.2 (2.13.0 and 3.17.2 are the releases other scenarios build: their
installs come from the build cache; 2.14.3 and 2.16.2, whose server-only installs are
about 60% of a 3.x one, are built here; one worker each). Each server keeps
its newest `mlflow_server_keep_images` (3) images, but never removes one that a container
uses: after A's fourth release the 2.13.0 image, beyond A's three, stays for B; once B
has moved, B's deploy removes it. A deploy only builds an image when it is missing and
moves `latest` only then, so a deploy of one server never makes a re-run (or `--check`)
of the other report a change. What each server holds survives every release.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from typing import Any

import docker
import pytest
from conftest import Deployment, call, recap_count, run_playbook, wait_healthy

pytestmark = pytest.mark.default_scenario

RELEASES = ["2.13.0", "2.14.3", "2.16.2", "3.17.2"]
IMAGE = "molecule-neighbours"
SERVERS = {
    "a": {"mlflow_server_container_name": "molecule-nb-a", "mlflow_server_port": 5031,
          "mlflow_server_data_dir": "/var/lib/molecule-nb-a"},
    "b": {"mlflow_server_container_name": "molecule-nb-b", "mlflow_server_port": 5032,
          "mlflow_server_data_dir": "/var/lib/molecule-nb-b"},
}  # fmt: skip


def _vars(server: str, release: str) -> dict[str, Any]:
    # One worker: a server start imports MLflow once instead of four times (gunicorn, 2.x).
    return {**SERVERS[server], "mlflow_server_image_name": IMAGE,
            "mlflow_server_version": release, "mlflow_server_workers": 1}  # fmt: skip


def _url(server: str) -> str:
    return f"http://127.0.0.1:{SERVERS[server]['mlflow_server_port']}"


def _deploy(deployment: Deployment, server: str, release: str, *options: str) -> int:
    """site.yml for one of the two servers; its PLAY RECAP `changed=`."""
    result = run_playbook(deployment, "site.yml", _vars(server, release), *options)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return recap_count(result.stdout, deployment.host or "instance")


def _release_tags() -> set[str]:
    """The releases of the image name the host holds (`latest` left out)."""
    tags = {tag for image in docker.from_env().images.list(name=IMAGE) for tag in image.tags}
    return {
        tag.split(":", 1)[1].split("-", 1)[0]
        for tag in tags
        if tag.startswith(f"{IMAGE}:") and not tag.endswith(":latest")
    }


def _serves(server: str, release: str) -> None:
    wait_healthy(_url(server))
    status, version = call(_url(server), "/version")
    assert (status, str(version).strip()) == (200, release), f"server {server}"
    container = docker.from_env().containers.get(SERVERS[server]["mlflow_server_container_name"])
    assert container.attrs["Config"]["Labels"]["io.github.mlflow-server.version"] == release


def _experiment(server: str, name: str) -> str:
    path = f"/api/2.0/mlflow/experiments/get-by-name?experiment_name={name}"
    status, body = call(_url(server), path)
    assert status == 200, f"server {server} lost experiment {name}: {body}"
    return str(body["experiment"]["experiment_id"])


@pytest.fixture(scope="module")
def neighbours(deployment: Deployment) -> Iterator[dict[str, str]]:
    """Both servers on the first release, each with an experiment of its own; both
    removed (with their data and images) at the end."""
    names = {server: f"nb-{server}-{uuid.uuid4().hex[:8]}" for server in SERVERS}
    try:
        for server in SERVERS:
            _deploy(deployment, server, RELEASES[0])
            _serves(server, RELEASES[0])
            status, body = call(_url(server), "/api/2.0/mlflow/experiments/create",
                                method="POST", body={"name": names[server]})  # fmt: skip
            assert status == 200, body
        yield names
    finally:
        for server in SERVERS:
            run_playbook(deployment, "teardown.yml", {
                **_vars(server, RELEASES[-1]),
                "mlflow_server_remove_data": True, "mlflow_server_remove_images": True,
            })  # fmt: skip
            shutil.rmtree(SERVERS[server]["mlflow_server_data_dir"], ignore_errors=True)
        # By tag: an image of identical layers built by another scenario has the same ID
        # and that scenario's tags, which must stay.
        client = docker.from_env()
        for image in client.images.list(name=IMAGE):
            for tag in image.tags:
                if tag.startswith(f"{IMAGE}:"):
                    client.images.remove(tag)


def test_two_servers_sharing_an_image_name_move_through_four_releases(
    deployment: Deployment, neighbours: dict[str, str]
) -> None:
    for release in RELEASES[1:]:
        _deploy(deployment, "a", release)
        _serves("a", release)
        # B, untouched, still serves its release, and a re-run of it changes nothing.
        _serves("b", RELEASES[0])
        assert _deploy(deployment, "b", RELEASES[0]) == 0, f"after A moved to {release}"
    # A keeps its three newest images; the fourth, beyond them, is B's: kept.
    assert _release_tags() == set(RELEASES), "an image a container uses was removed"

    _deploy(deployment, "b", RELEASES[-1])
    _serves("b", RELEASES[-1])
    # Nobody runs 2.13.0 any more: B's deploy removed it, and kept the newest three.
    assert _release_tags() == set(RELEASES[1:])

    for server in SERVERS:
        assert _deploy(deployment, server, RELEASES[-1]) == 0, f"re-run of server {server}"
        assert _deploy(deployment, server, RELEASES[-1], "--check") == 0, f"--check of {server}"
        # What it held before four releases is still there.
        _experiment(server, neighbours[server])
