#!/usr/bin/env python3
"""Cold deploy and image size: the role's deploy of a server that has no image yet (its
locked two-stage build, the `server` profile by default, run with
`mlflow_server_build_nocache` so no layer comes from the engine's cache; then the
container, the schema job and the health gate) against the seed's recipe (one stage,
`pip install mlflow==VER boto3 google-cloud-storage`, nothing pinned, built without cache)
plus its `docker run` until `/health` answers, both on the same base image in the same run.

    python bench/build_size.py [--version 3.17.2]

The role's server is `bench-size` (127.0.0.1:5093, image `bench-mlflow`, the one all
benches share), the seed's container publishes 127.0.0.1:5092; both are removed at the
end with their images (under `make bench` the role's image stays for the next benches and
the report removes it). Prints times and sizes with their ratios; also says whether each
image's server imports.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import docker
from summary import record as record_figure
from throughput import CA, INVENTORY, ansible, remove_images, wait_healthy

NAME = "bench-size"
IMAGE = "bench-mlflow"  # every bench's servers run it: the next benches find it built
SEED_PORT = 5092

SEED_DOCKERFILE = """\
FROM {base}
ARG MLFLOW_VER
COPY pip-ca-bundle.pem /tmp/ca.pem
RUN python3 -m venv /opt/venv \\
 && PIP_CERT=/tmp/ca.pem /opt/venv/bin/pip install --no-cache-dir \\
      mlflow==${{MLFLOW_VER}} boto3 google-cloud-storage
ENV PATH=/opt/venv/bin:$PATH
"""


def build(client: docker.DockerClient, path: Path, tag: str, version: str) -> tuple[int, float]:
    start = time.monotonic()
    image, _ = client.images.build(
        path=str(path), tag=tag, buildargs={"MLFLOW_VER": version}, nocache=True, rm=True
    )
    return int(image.attrs["Size"]), time.monotonic() - start


def imports(client: docker.DockerClient, tag: str) -> str:
    try:
        client.containers.run(
            tag,
            entrypoint=["python", "-c", "import mlflow.store.tracking.sqlalchemy_store"],
            remove=True,
        )
        return "imports"
    except docker.errors.ContainerError as error:
        last = error.stderr.decode().strip().splitlines()[-1] if error.stderr else str(error)
        return f"FAILS: {last}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default=None, help="MLflow release (default: the role's)")
    args = parser.parse_args()
    client = docker.from_env()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        inventory = Path(tmp) / "hosts.yml"
        ca = CA if os.environ.get("REQUESTS_CA_BUNDLE") else ""
        inventory.write_text(INVENTORY.format(name=NAME, python=sys.executable, ca=ca, port=5093))
        release = ["-e", f"mlflow_server_version={args.version}"] if args.version else []
        for image in client.images.list(name=IMAGE):  # a leftover would make the deploy warm
            client.images.remove(image.id, force=True)
        try:
            start = time.monotonic()
            ansible(inventory, "site.yml", "-e", "mlflow_server_build_nocache=true", *release)
            role_deploy = time.monotonic() - start
            measure(client, role_deploy)
        finally:
            ansible(inventory, "teardown.yml", "-e", remove_images(),
                    "-e", "mlflow_server_remove_data=true")  # fmt: skip


def seed_start(client: docker.DockerClient, tag: str) -> float:
    """Seconds from the seed's `docker run` to its first OK on /health."""
    start = time.monotonic()
    container = client.containers.run(
        tag, command=["mlflow", "server", "--host", "0.0.0.0", "--port", "5005"],
        ports={"5005/tcp": ("127.0.0.1", SEED_PORT)}, detach=True,
    )  # fmt: skip
    try:
        wait_healthy(f"http://127.0.0.1:{SEED_PORT}", 300, 0.1)
        return time.monotonic() - start
    finally:
        container.remove(force=True, v=True)


def measure(client: docker.DockerClient, role_deploy: float) -> None:
    build_dir = Path(f"/var/lib/mlflow-{NAME}/build")
    dockerfile = (build_dir / "Dockerfile").read_text()
    base = re.search(r"^FROM (\S+) AS builder", dockerfile, re.M)
    if not base:
        raise SystemExit(f"{build_dir} is not a build context the role rendered")
    role_image = client.containers.get(NAME).image
    version = role_image.labels["org.opencontainers.image.version"]
    with tempfile.TemporaryDirectory() as seed_dir:
        seed = Path(seed_dir)
        (seed / "Dockerfile").write_text(SEED_DOCKERFILE.format(base=base.group(1)))
        shutil.copy(build_dir / "pip-ca-bundle.pem", seed / "pip-ca-bundle.pem")
        seed_size, seed_build = build(client, seed, f"bench-seed:{version}", version)
    seed_deploy = seed_build + seed_start(client, f"bench-seed:{version}")
    role_size = int(role_image.attrs["Size"])
    profile = re.search(r'io\.github\.mlflow-server\.profile="(\w+)"', dockerfile)
    role = f"role ({profile.group(1) if profile else 'full'} profile, locked)"
    seed_name = "seed-shaped image (one stage, unpinned)"
    mb = 1024 * 1024
    print(f"MLflow {version} on {base.group(1)}")
    print(f"{'deploy':<34}{'size MiB':>9}{'cold deploy s':>15}  server")
    print(f"{'seed: docker build + docker run':<34}{seed_size / mb:>9.0f}{seed_deploy:>15.1f}  "
          f"{imports(client, f'bench-seed:{version}')}")  # fmt: skip
    print(f"{role + ': site.yml':<34}{role_size / mb:>9.0f}{role_deploy:>15.1f}  "
          f"{imports(client, role_image.id)}")  # fmt: skip
    print(f"seed's build alone: {seed_build:.1f} s")
    print(f"ratio role/seed: size {role_size / seed_size:.2f}, "
          f"cold deploy time {role_deploy / seed_deploy:.2f}")  # fmt: skip
    record_figure(f"image size, {role}", role_size / mb, seed_size / mb, seed_name, "MiB",
                  "lower")  # fmt: skip
    record_figure("cold deploy to /health (site.yml, no image, no layer cache)", role_deploy,
                  seed_deploy, "seed: docker build (no cache) + docker run to /health", "s",
                  "lower")  # fmt: skip
    client.images.remove(f"bench-seed:{version}", force=True)
    client.images.prune(filters={"dangling": True})


if __name__ == "__main__":
    main()
