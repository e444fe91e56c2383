"""The image stays usable on its own, the seed's way (shared/spec/seed-image-README.md)."""

from __future__ import annotations

import docker
import pytest
from conftest import Deployment, free_port, installed_pins, pins, wait_healthy
from role_filters import filters

pytestmark = pytest.mark.image


def test_image_serves_on_5005_with_no_arguments(
    deployment: Deployment, docker_client: docker.DockerClient
) -> None:
    """`docker run -d -p 5005:5005 mlflow-server` (published on a free port here)."""
    port = free_port()
    container = docker_client.containers.run(
        deployment.image, detach=True, ports={"5005/tcp": ("127.0.0.1", port)}
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}")
        container.reload()
        assert container.attrs["Config"]["User"] not in ("", "0", "root")
        logs = container.logs().decode()
        assert "artifact storage: local at ./mlruns" in logs
    finally:
        container.remove(force=True, v=True)


def test_standalone_build_without_mlflow_ver_fails_clearly(
    deployment: Deployment, docker_client: docker.DockerClient
) -> None:
    # Remove only the images this failed build made: the other dangling builder images
    # are the build caches of the deployments on this host (some may be building now).
    leftovers = {"dangling": True, "label": "io.github.mlflow-server.stage=builder"}
    with pytest.raises(docker.errors.BuildError) as failure:
        docker_client.images.build(path=str(deployment.build_dir), rm=True, forcerm=True)
    # The log is an iterator: read it once.
    log = "".join(str(chunk.get("stream", "")) for chunk in failure.value.build_log)
    made = _images_made_by(log)
    for image in docker_client.images.list(filters=leftovers):
        if image.id.removeprefix("sha256:")[:12] in made:
            docker_client.images.remove(image.id, force=True)
    assert "MLFLOW_VER must be given" in log


def test_installed_set_is_recorded_in_the_image(
    deployment: Deployment, docker_client: docker.DockerClient
) -> None:
    image = docker_client.images.get(deployment.image)
    assert image.labels["org.opencontainers.image.version"] == deployment.version
    installed = installed_pins(docker_client, deployment.image)
    lock = (deployment.build_dir / "requirements.lock").read_text()
    exporter = deployment.build_dir / "prometheus.lock"  # mlflow_server_metrics_enabled
    if exporter.exists():
        lock += exporter.read_text()
    # The server-only profile (the default) installs the lock without what the server
    # never imports, and nothing else.
    profile = image.labels["io.github.mlflow-server.profile"]
    left_out = filters.IMAGE.left_out(deployment.version, profile)
    heavy = {"pyarrow", "scipy", "scikit-learn", "matplotlib"}
    assert profile != "server" or heavy <= set(left_out)
    expected = {name: pin for name, pin in pins(lock).items() if name not in left_out}
    assert installed == expected


def _images_made_by(log: str) -> set[str]:
    """Short ids of the layers a classic build committed, not those it took from cache."""
    made, cached = set(), False
    for line in log.splitlines():
        if line.startswith("Step "):
            cached = " : FROM " in line  # the base, not a layer of this build
        elif line.strip() == "---> Using cache":
            cached = True
        elif line.startswith(" ---> ") and not cached and " " not in line[6:].strip():
            made.add(line[6:].strip()[:12])
    return made
