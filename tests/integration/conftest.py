"""Fixtures for the tests that run against a deployed server (molecule verify)."""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest


@dataclass(frozen=True)
class Deployment:
    url: str
    version: str
    data_dir: Path
    build_dir: Path
    container: str
    image: str


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: these tests run from a molecule scenario's verify")
    return value


@pytest.fixture(scope="session")
def deployment() -> Deployment:
    return Deployment(
        url=_env("MLFLOW_TEST_URL"),
        version=_env("MLFLOW_TEST_VERSION"),
        data_dir=Path(_env("MLFLOW_TEST_DATA_DIR")),
        build_dir=Path(_env("MLFLOW_TEST_BUILD_DIR")),
        container=_env("MLFLOW_TEST_CONTAINER"),
        image=_env("MLFLOW_TEST_IMAGE"),
    )


@pytest.fixture(scope="session")
def docker_client() -> docker.DockerClient:
    return docker.from_env()


def wait_healthy(url: str, timeout: float = 120.0) -> float:
    """Wait until GET {url}/health answers OK; return the seconds it took."""
    start = time.monotonic()
    last_error = "no answer"
    while time.monotonic() - start < timeout:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as reply:
                if reply.status == 200 and reply.read().strip() == b"OK":
                    return time.monotonic() - start
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            last_error = str(error)
        time.sleep(0.5)
    raise AssertionError(f"{url}/health did not answer OK within {timeout} s ({last_error})")
