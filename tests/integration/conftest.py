"""Fixtures for the tests that run against a deployed server (molecule verify)."""

from __future__ import annotations

import base64
import json
import os
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import boto3
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
    artifact_store: str  # "local", "s3://bucket", "gs://bucket" or "wasbs://container"
    store_endpoint: str
    s3_key: str
    s3_secret: str = field(repr=False)
    inventory: str = ""
    s3_ca: str = ""
    host: str = ""
    auth_username: str = ""
    auth_password: str = field(default="", repr=False)
    database_uri: str = field(default="", repr=False)
    azure_connection_string: str = field(default="", repr=False)

    @property
    def database_password(self) -> str:
        """The tracking database's password as the database takes it (the URI carries it
        URL-encoded); empty for sqlite."""
        return unquote(urlsplit(self.database_uri).password or "")

    def stored_artifacts(self, run_id: str) -> dict[str, bytes]:
        """Artifacts of the run as the artifact store holds them: path -> content."""
        if self.artifact_store == "local":
            return {
                str(p.relative_to(self.data_dir)): p.read_bytes()
                for p in self.data_dir.rglob("*")
                if p.is_file() and run_id in p.parts
            }
        bucket = self.artifact_store.split("://", 1)[1]
        if self.artifact_store.startswith("wasbs://"):
            container = self.azure_container()
            return {
                blob.name: container.download_blob(blob.name).readall()
                for blob in container.list_blobs()
                if f"/{run_id}/" in blob.name
            }
        if self.artifact_store.startswith("s3://"):
            s3 = self.s3_client()
            listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
            return {
                o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
                for o in listed
                if f"/{run_id}/" in o["Key"]
            }
        base = f"{self.store_endpoint}/storage/v1/b/{bucket}/o"
        with urllib.request.urlopen(base, timeout=10) as reply:
            names = [o["name"] for o in json.load(reply).get("items", [])]
        out = {}
        for name in names:
            if f"/{run_id}/" in name:
                url = f"{self.store_endpoint}/download/storage/v1/b/{bucket}/o/"
                with urllib.request.urlopen(url + quote(name, safe="") + "?alt=media") as r:
                    out[name] = r.read()
        return out

    def azure_container(self) -> Any:
        """The Azurite container of the artifacts, read with the Azure SDK."""
        from azure.storage.blob import BlobServiceClient

        service = BlobServiceClient.from_connection_string(self.azure_connection_string)
        return service.get_container_client(self.artifact_store.split("://", 1)[1])

    def s3_client(self, secret: str | None = None) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.store_endpoint,
            aws_access_key_id=self.s3_key,
            aws_secret_access_key=secret or self.s3_secret,
            region_name="us-east-1",
            verify=self.s3_ca or None,
        )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `last` leave the deployment changed (a rotated password): they run
    after the others, which then need not wait for a deploy that undoes the change."""
    items.sort(key=lambda item: item.get_closest_marker("last") is not None)


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: these tests run from a molecule scenario's verify")
    return value


def _served_image(container: str, fallback: str) -> str:
    """The image reference the server's container was created from: `latest` is the
    newest build of the name, which servers sharing the name take turns at."""
    try:
        return str(docker.from_env().containers.get(container).attrs["Config"]["Image"])
    except docker.errors.NotFound:
        return fallback


@pytest.fixture(scope="session")
def deployment() -> Deployment:
    return Deployment(
        url=_env("MLFLOW_TEST_URL"),
        version=_env("MLFLOW_TEST_VERSION"),
        data_dir=Path(_env("MLFLOW_TEST_DATA_DIR")),
        build_dir=Path(_env("MLFLOW_TEST_BUILD_DIR")),
        container=_env("MLFLOW_TEST_CONTAINER"),
        image=_served_image(_env("MLFLOW_TEST_CONTAINER"), _env("MLFLOW_TEST_IMAGE")),
        artifact_store=_env("MLFLOW_TEST_ARTIFACT_STORE"),
        store_endpoint=os.environ.get("MLFLOW_TEST_STORE_ENDPOINT", ""),
        s3_key=os.environ.get("MLFLOW_TEST_S3_KEY", ""),
        s3_secret=os.environ.get("MLFLOW_TEST_S3_SECRET", ""),
        inventory=os.environ.get("MLFLOW_TEST_INVENTORY", ""),
        s3_ca=os.environ.get("MLFLOW_TEST_S3_CA", ""),
        host=os.environ.get("MLFLOW_TEST_HOST", ""),
        auth_username=os.environ.get("MLFLOW_TEST_AUTH_USERNAME", ""),
        auth_password=os.environ.get("MLFLOW_TEST_AUTH_PASSWORD", ""),
        database_uri=os.environ.get("MLFLOW_TEST_DATABASE_URI", ""),
        azure_connection_string=os.environ.get("MLFLOW_TEST_AZURE_CONNECTION_STRING", ""),
    )


@pytest.fixture(scope="session", autouse=True)
def client_login(deployment: Deployment) -> Iterator[None]:
    """On a basic-auth server the real client logs in as users configure it:
    MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD."""
    names = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
    saved = {name: os.environ.get(name) for name in names}
    if deployment.auth_username:
        login = (deployment.auth_username, deployment.auth_password)
        os.environ.update(zip(names, login, strict=True))
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def open_api(deployment: Deployment, path: str, host: str = "") -> Any:
    """GET {url}{path}, logged in as the admin on a basic-auth server; `host` is the Host
    header a browser would send when the server is reached by that name."""
    request = urllib.request.Request(f"{deployment.url}{path}")
    if host:
        request.add_header("Host", host)
    if deployment.auth_username:
        login = f"{deployment.auth_username}:{deployment.auth_password}".encode()
        request.add_header("Authorization", "Basic " + base64.b64encode(login).decode())
    return urllib.request.urlopen(request, timeout=10)


def container_env(deployment: Deployment) -> dict[str, str]:
    """The environment of the server's container, as `docker inspect` shows it."""
    attrs = docker.from_env().containers.get(deployment.container).attrs
    return dict(item.split("=", 1) for item in attrs["Config"]["Env"])


@pytest.fixture(scope="session")
def docker_client() -> docker.DockerClient:
    return docker.from_env()


def pins(text: str) -> dict[str, str]:
    """name -> version of every `name==version` line (extras and case dropped)."""
    found = {}
    for line in text.splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.strip().split("==", 1)
            found[name.split("[")[0].lower().replace("_", "-")] = version.split()[0]
    return found


def installed_pins(client: docker.DockerClient, image: str) -> dict[str, str]:
    """What the image installed, as it records it (/opt/mlflow/installed.txt)."""
    installed = client.containers.run(
        image, entrypoint=["cat", "/opt/mlflow/installed.txt"], remove=True
    ).decode()
    return pins(installed)


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


def secret_variants(secret: str) -> list[str]:
    """The secret as a leak would show it: plain, URL-encoded, and base64-encoded at the
    three alignments base64 can put it in (the characters that also carry bits of the
    text around it left out)."""
    raw = secret.encode()
    found = {secret, quote(secret, safe="")}
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw).decode()
        start = (shift * 4 + 2) // 3 if shift else 0
        end = len(encoded) - (4 if (shift + len(raw)) % 3 else 0)
        if end - start >= 8:
            found.add(encoded[start:end])
    return sorted(found)


def assert_no_secret(text: str, *secrets: str) -> None:
    """Fail, naming the lines but never printing the secret, when text holds one (plain,
    URL- or base64-encoded)."""
    for secret in filter(None, secrets):
        forms = secret_variants(secret)
        lines = [n for n, line in enumerate(text.splitlines(), 1) if any(f in line for f in forms)]
        assert not lines, f"a secret is printed on output lines {lines[:10]}"


def assert_database_password_hidden(deployment: Deployment) -> None:
    """The tracking database's password is in neither `docker inspect`, the image, any
    command line on the host (the server's workers included), nor any file under the data
    dir but the 0600 URI file of the container's user (which holds it URL-encoded)."""
    password = deployment.database_password
    assert password
    client = docker.from_env()
    container = client.containers.get(deployment.container)
    assert_no_secret(json.dumps(container.attrs), password)
    assert "DATABASE_URI_FILE=/run/secrets/database-uri" in container.attrs["Config"]["Env"]
    image = client.images.get(container.attrs["Config"]["Image"])
    assert_no_secret(json.dumps(image.history()) + json.dumps(image.attrs), password)
    processes = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert_no_secret(processes, password)
    # The URI file holds it as the URI does (URL-encoded).
    forms = {password.encode(), (urlsplit(deployment.database_uri).password or "").encode()}
    root = deployment.data_dir.parent
    holding = sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and any(form in p.read_bytes() for form in forms)
    )
    assert holding == ["config/database-uri"]
    uri_file = (root / "config/database-uri").stat()
    assert (stat.S_IMODE(uri_file.st_mode), uri_file.st_uid) == (0o600, 10001)


ROOT = Path(__file__).resolve().parents[2]


def run_playbook(
    deployment: Deployment,
    playbook: str = "site.yml",
    extra: dict[str, Any] | None = None,
    *options: str,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`ansible-playbook -v playbooks/PLAYBOOK` on this deployment's host, as an operator
    runs it. Extra vars go in a file only root reads, never on the command line."""
    command = [
        str(Path(sys.executable).with_name("ansible-playbook")), "-v",
        "-i", deployment.inventory,
        str(ROOT / "playbooks" / playbook), *options,
    ]  # fmt: skip
    if deployment.host:
        command += ["--limit", deployment.host]
    env = {
        **os.environ,
        "ANSIBLE_ROLES_PATH": str(ROOT / "roles"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        **(env or {}),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json") as extra_file:
        if extra:
            json.dump(extra, extra_file)  # NamedTemporaryFile is created 0600
            extra_file.flush()
            command += ["-e", f"@{extra_file.name}"]
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)


def json_of(stdout: str) -> dict[str, Any]:
    """The json callback's document (other callbacks, e.g. profile_tasks, print around it)."""
    return json.JSONDecoder().raw_decode(stdout[stdout.index("{\n") :])[0]


def json_run(deployment: Deployment, playbook: str, *options: str) -> dict[str, Any]:
    """A playbook run that must succeed, as the json callback reports it."""
    result = run_playbook(
        deployment, playbook, None, *options, env={"ANSIBLE_STDOUT_CALLBACK": "json"}
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return json_of(result.stdout)


def recap_count(output: str, host: str, field: str = "changed") -> int:
    """A field's count (`changed=` unless told) in the host's PLAY RECAP line."""
    lines = [x for x in output.splitlines() if x.startswith(f"{host} ") and "changed=" in x]
    return int(lines[-1].split(f"{field}=")[1].split()[0])


def call(
    url: str,
    path: str,
    auth: tuple[str, str] | None = None,
    method: str = "GET",
    body: dict[str, Any] | None = None,
) -> tuple[int, Any]:
    """One REST call; (status, parsed JSON or text)."""
    request = urllib.request.Request(f"{url}{path}", method=method)
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, data=data, timeout=20) as reply:
            status, raw = reply.status, reply.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def free_port() -> int:
    """A free TCP port on 127.0.0.1, to publish a throwaway container on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
