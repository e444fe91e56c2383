#!/usr/bin/env python3
"""Image size and cold build time: the role's locked two-stage build (the profile the
build dir was rendered with: `server` by default) against the seed's recipe (one
stage, `pip install mlflow==VER boto3 google-cloud-storage`, nothing pinned), built in
the same run on the same base image, no layer cache.

    python bench/build_size.py [--version 3.17.2] [--build-dir /var/lib/mlflow-server/build]

The build dir is one the role rendered (`make deploy` renders the default one); when it
is missing, the bench deploys a server of its own (`bench-size`, 127.0.0.1:5093) to
render one, and removes it with its images at the end. Prints
sizes and times with their ratios; also says whether each image's server imports.
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
from throughput import CA, INVENTORY, ansible, remove_images

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
    parser.add_argument("--version", default=None, help="MLflow release (default: the lock's)")
    parser.add_argument("--build-dir", type=Path, default=Path("/var/lib/mlflow-server/build"))
    args = parser.parse_args()
    if (args.build_dir / "Dockerfile").exists():
        return measure(args)
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        inventory = Path(tmp) / "hosts.yml"
        ca = CA if os.environ.get("REQUESTS_CA_BUNDLE") else ""
        inventory.write_text(INVENTORY.format(name="bench-size", python=sys.executable, ca=ca,
                                              port=5093))  # fmt: skip
        try:
            ansible(inventory, "site.yml")
            args.build_dir = Path("/var/lib/mlflow-bench-size/build")
            return measure(args)
        finally:
            ansible(inventory, "teardown.yml", "-e", remove_images(),
                    "-e", "mlflow_server_remove_data=true")  # fmt: skip


def measure(args: argparse.Namespace) -> None:
    dockerfile = (args.build_dir / "Dockerfile").read_text()
    base = re.search(r"^FROM (\S+) AS builder", dockerfile, re.M)
    lock_version = re.search(
        r"^mlflow(?:\[[a-z,]+\])?==(\S+)", (args.build_dir / "requirements.lock").read_text(), re.M
    )
    if not base or not lock_version:
        raise SystemExit(f"{args.build_dir} is not a build context the role rendered")
    version = args.version or lock_version.group(1)
    client = docker.from_env()
    with tempfile.TemporaryDirectory() as seed_dir:
        seed = Path(seed_dir)
        (seed / "Dockerfile").write_text(SEED_DOCKERFILE.format(base=base.group(1)))
        shutil.copy(args.build_dir / "pip-ca-bundle.pem", seed / "pip-ca-bundle.pem")
        seed_size, seed_time = build(client, seed, f"bench-seed:{version}", version)
    locked_size, locked_time = build(client, args.build_dir, f"bench-locked:{version}", version)
    profile = re.search(r'io\.github\.mlflow-server\.profile="(\w+)"', dockerfile)
    role = f"role ({profile.group(1) if profile else 'full'} profile, locked)"
    mb = 1024 * 1024
    print(f"MLflow {version} on {base.group(1)}")
    print(f"{'build':<34}{'size MiB':>9}{'cold build s':>14}  server")
    print(
        f"{'seed (1 stage, unpinned)':<34}{seed_size / mb:>9.0f}{seed_time:>14.1f}  "
        f"{imports(client, f'bench-seed:{version}')}"
    )
    print(
        f"{role:<34}{locked_size / mb:>9.0f}{locked_time:>14.1f}  "
        f"{imports(client, f'bench-locked:{version}')}"
    )
    print(
        f"ratio locked/seed: size {locked_size / seed_size:.2f}, "
        f"cold build time {locked_time / seed_time:.2f}"
    )
    record_figure(f"image size, {role}", locked_size / mb, seed_size / mb,
                  "seed-shaped image (one stage, unpinned)", "MiB", "lower")  # fmt: skip
    record_figure("cold image build", locked_time, seed_time,
                  "seed-shaped image (one stage, unpinned)", "s", "lower")  # fmt: skip
    for tag in (f"bench-seed:{version}", f"bench-locked:{version}"):
        client.images.remove(tag, force=True)
    client.images.prune(filters={"dangling": True})


if __name__ == "__main__":
    main()
