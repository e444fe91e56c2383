"""Two servers on one host, sharing an image name, through three images.

Server A moves 2.13.0 -> 3.17.2 with metrics (a build of its own) -> 3.17.2 while
server B stays on 2.13.0, then B follows to A's image. 2.13.0 and 3.17.2 are the
releases other scenarios build (their installs come from the build cache); the metrics
image adds the exporter's small lock on top of 3.17.2's install, so the test builds no
release of its own. Each server keeps its newest `mlflow_server_keep_images` (2 here)
images, but never removes one that a container uses: after A's third image the
2.13.0 image, beyond A's two, stays for B; once B has moved, B's deploy removes it. A
deploy only builds an image when it is missing and moves `latest` only then, so a deploy
of one server never makes a re-run (or `--check`) of the other report a change. What
each server holds survives every release. One worker each.
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

# A's images in turn: (release, metrics); B starts on the first and ends on the last.
IMAGES = [("2.13.0", False), ("3.17.2", True), ("3.17.2", False)]
IMAGE = "molecule-neighbours"
SERVERS = {
    "a": {"mlflow_server_container_name": "molecule-nb-a", "mlflow_server_port": 5031,
          "mlflow_server_data_dir": "/var/lib/molecule-nb-a"},
    "b": {"mlflow_server_container_name": "molecule-nb-b", "mlflow_server_port": 5032,
          "mlflow_server_data_dir": "/var/lib/molecule-nb-b"},
}  # fmt: skip


def _vars(server: str, image: tuple[str, bool]) -> dict[str, Any]:
    # One worker: a server start imports MLflow once instead of four times (gunicorn, 2.x).
    return {**SERVERS[server], "mlflow_server_image_name": IMAGE, "mlflow_server_keep_images": 2,
            "mlflow_server_version": image[0], "mlflow_server_metrics_enabled": image[1],
            "mlflow_server_workers": 1}  # fmt: skip


def _url(server: str) -> str:
    return f"http://127.0.0.1:{SERVERS[server]['mlflow_server_port']}"


def _deploy(deployment: Deployment, server: str, image: tuple[str, bool], *options: str) -> int:
    """site.yml for one of the two servers; its PLAY RECAP `changed=`."""
    result = run_playbook(deployment, "site.yml", _vars(server, image), *options)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return recap_count(result.stdout, deployment.host or "instance")


def _tags() -> set[str]:
    """The tags of the image name the host holds (`latest` left out)."""
    tags = {tag for image in docker.from_env().images.list(name=IMAGE) for tag in image.tags}
    return {tag for tag in tags if tag.startswith(f"{IMAGE}:") and not tag.endswith(":latest")}


def _serves(server: str, image: tuple[str, bool]) -> str:
    """Check the server runs the image's release (and exporter); return its image tag."""
    wait_healthy(_url(server))
    status, version = call(_url(server), "/version")
    assert (status, str(version).strip()) == (200, image[0]), f"server {server}"
    status, _ = call(_url(server), "/metrics")
    assert (status == 200) == image[1], f"server {server}: /metrics answered {status}"
    container = docker.from_env().containers.get(SERVERS[server]["mlflow_server_container_name"])
    assert container.attrs["Config"]["Labels"]["io.github.mlflow-server.version"] == image[0]
    return str(container.attrs["Config"]["Image"])


def _experiment(server: str, name: str) -> str:
    path = f"/api/2.0/mlflow/experiments/get-by-name?experiment_name={name}"
    status, body = call(_url(server), path)
    assert status == 200, f"server {server} lost experiment {name}: {body}"
    return str(body["experiment"]["experiment_id"])


@pytest.fixture(scope="module")
def neighbours(deployment: Deployment) -> Iterator[dict[str, str]]:
    """Both servers on the first image, each with an experiment of its own; both
    removed (with their data and images) at the end."""
    names = {server: f"nb-{server}-{uuid.uuid4().hex[:8]}" for server in SERVERS}
    try:
        for server in SERVERS:
            _deploy(deployment, server, IMAGES[0])
            _serves(server, IMAGES[0])
            status, body = call(_url(server), "/api/2.0/mlflow/experiments/create",
                                method="POST", body={"name": names[server]})  # fmt: skip
            assert status == 200, body
        yield names
    finally:
        for server in SERVERS:
            run_playbook(deployment, "teardown.yml", {
                **_vars(server, IMAGES[-1]),
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


def test_two_servers_sharing_an_image_name_move_through_three_images(
    deployment: Deployment, neighbours: dict[str, str]
) -> None:
    tags = {}
    for image in IMAGES[1:]:
        _deploy(deployment, "a", image)
        tags[image] = _serves("a", image)
        # B, untouched, still serves its release, and a re-run of it changes nothing.
        tags[IMAGES[0]] = _serves("b", IMAGES[0])
        assert _deploy(deployment, "b", IMAGES[0]) == 0, f"after A moved to {image}"
    assert len(set(tags.values())) == len(IMAGES), f"three images, three tags: {tags}"
    # A keeps its two newest images; the third, beyond them, is B's: kept.
    assert _tags() == set(tags.values()), "an image a container uses was removed"

    # B's deploy keeps the newest image nobody runs: A's metrics image, built here after
    # the 2.13.0 one (a cache hit keeps the date of its first build).
    client = docker.from_env()
    created = {image: client.images.get(tags[image]).attrs["Created"] for image in IMAGES[:2]}
    assert created[IMAGES[1]] > created[IMAGES[0]], f"built in another order: {created}"
    _deploy(deployment, "b", IMAGES[-1])
    _serves("b", IMAGES[-1])
    # Nobody runs 2.13.0 any more: B's deploy removed it, and kept the newest two.
    assert _tags() == {tags[IMAGES[1]], tags[IMAGES[2]]}

    for server in SERVERS:
        assert _deploy(deployment, server, IMAGES[-1]) == 0, f"re-run of server {server}"
        assert _deploy(deployment, server, IMAGES[-1], "--check") == 0, f"--check of {server}"
        # What it held before the three images is still there.
        _experiment(server, neighbours[server])
