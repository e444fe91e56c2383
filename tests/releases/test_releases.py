"""The server-only dependency set, release by release: for the newest patch of every
MLflow minor line we lock (or the releases in MLFLOW_RELEASES, comma-separated), the
lock minus what the role's image module leaves out is installed into a venv on this
host (uv, outside the checkout), the packages left out are really absent, and a real
`mlflow server` from it serves the real client (this venv's MLflow): runs, params,
metrics, tags, artifacts through the server's proxy, search, the model registry, on 3.x
logged models and traces, and the UI's pages and the ajax API it calls. The server's log
must show no missing module. The image installs the same set (Dockerfile.j2); the
scenarios prove the images themselves."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient
from packaging.version import Version
from processes import stop_group
from role_filters import filters

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ROOT / "roles/mlflow_server/files/locks"
CACHE = Path(os.environ.get("MLFLOW_RELEASES_CACHE", "/var/tmp/mlflow-releases"))
UV = Path(sys.executable).parent / "uv"


def newest_of_each_minor() -> list[str]:
    newest: dict[tuple[int, int], Version] = {}
    for lock in LOCKS.glob("mlflow-*.txt"):
        version = Version(lock.stem.removeprefix("mlflow-"))
        key = (version.major, version.minor)
        newest[key] = max(newest.get(key, version), version)
    return [str(newest[key]) for key in sorted(newest)]


RELEASES = [v for v in os.environ.get("MLFLOW_RELEASES", "").split(",") if v] or (
    newest_of_each_minor()
)


def server_only_lock(version: str) -> tuple[str, list[str]]:
    """The release's lock as the server-only image installs it, and what it left out."""
    left_out = filters.IMAGE.left_out(version, "server")
    lines = (LOCKS / f"mlflow-{version}.txt").read_text().splitlines(keepends=True)
    kept = [line for line in lines if line.split("==", 1)[0] not in left_out]
    return "".join(kept), left_out


def venv_of(version: str) -> tuple[Path, list[str]]:
    lock, left_out = server_only_lock(version)
    venv = CACHE / f"{version}-{hashlib.sha256(lock.encode()).hexdigest()[:12]}"
    if not (venv / ".installed").exists():
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([UV, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
        (venv / "requirements.lock").write_text(lock)
        subprocess.run(
            [UV, "pip", "install", "--quiet", "--python", venv / "bin/python", "--no-deps",
             "-r", venv / "requirements.lock"],
            check=True,
        )  # fmt: skip
        (venv / ".installed").touch()
    return venv, left_out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str, data: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture(scope="session")
def venvs() -> Iterator[dict[str, Future[tuple[Path, list[str]]]]]:
    """Each release's venv, made one after the other in the background while the releases
    before it serve their round trips: the downloads of a cold cache overlap the tests."""
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        yield {version: pool.submit(venv_of, version) for version in RELEASES}
    finally:
        pool.shutdown(cancel_futures=True)


@pytest.fixture(params=RELEASES)
def server(
    request: pytest.FixtureRequest, tmp_path: Path, venvs: dict[str, Future[tuple[Path, list[str]]]]
) -> Iterator[tuple[str, str, Path]]:
    version: str = request.param
    venv, left_out = venvs[version].result()
    check = subprocess.run(
        [UV, "pip", "check", "--python", venv / "bin/python"], capture_output=True, text=True
    )
    problems = [
        line
        for line in (check.stdout + check.stderr).splitlines()
        if line.startswith("The package")
        and not re.match(rf"The package `mlflow` requires `({'|'.join(left_out)})\b", line)
    ]
    assert problems == [], f"{version}: a kept package needs one left out: {problems}"
    for name in ("pyarrow", "scipy", "sklearn", "matplotlib"):
        assert not (venv / f"lib/python3.11/site-packages/{name}").exists(), name
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [venv / "bin/mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
             "--workers", "1", "--backend-store-uri", f"sqlite:///{tmp_path}/mlflow.db",
             "--artifacts-destination", str(tmp_path / "artifacts")],
            cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "PATH": f"{venv}/bin:{os.environ['PATH']}",  # gunicorn
                 # As the role runs it (mlflow_server_job_execution false).
                 "MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while not healthy(url):
            assert process.poll() is None, f"{version} exited:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"{version}: no /health in 180 s"
            time.sleep(0.5)
        yield version, url, log
    finally:
        stop_group(process)
    missing = re.findall(r"No module named '([\w.]+)'", log.read_text())
    assert not missing, f"{version}'s server missed modules: {sorted(set(missing))}"


def healthy(url: str) -> bool:
    try:
        return get(f"{url}/health")[0] == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def test_the_server_only_set_serves_a_client_round_trip(
    server: tuple[str, str, Path], tmp_path: Path
) -> None:
    version, url, _log = server
    release = Version(version)
    mlflow.set_tracking_uri(url)
    client = MlflowClient(tracking_uri=url)
    experiment_id = client.create_experiment(f"releases-{uuid.uuid4().hex[:8]}")
    run_id = client.create_run(experiment_id, tags={"team": "ml"}).info.run_id
    client.log_batch(
        run_id,
        metrics=[mlflow.entities.Metric("loss", 1.0 / (step + 1), 0, step) for step in range(5)],
        params=[mlflow.entities.Param("alpha", "0.5")],
    )
    payload = os.urandom(4096)
    (tmp_path / "weights.bin").write_bytes(payload)
    client.log_artifact(run_id, str(tmp_path / "weights.bin"), artifact_path="model")
    client.set_terminated(run_id)

    found = client.search_runs([experiment_id], "metrics.loss < 0.5 and params.alpha = '0.5'")
    assert [run.info.run_id for run in found] == [run_id]
    assert [m.value for m in client.get_metric_history(run_id, "loss")][-1] == 0.2
    # By artifact URI: the 3.x client looks a run's "model" path up among logged models.
    artifacts = client.get_run(run_id).info.artifact_uri
    listed = mlflow.artifacts.list_artifacts(artifact_uri=f"{artifacts}/model")
    assert [a.path for a in listed] == ["model/weights.bin"]
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=f"{artifacts}/model/weights.bin", dst_path=str(tmp_path / "back")
    )
    assert Path(local).read_bytes() == payload
    assert list((tmp_path / "artifacts").rglob("weights.bin")), "the proxy stored nothing"

    name = f"model-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    source = f"{artifacts}/model"
    model_version = client.create_model_version(name, source, run_id)
    client.set_registered_model_alias(name, "champion", model_version.version)
    assert client.get_model_version_by_alias(name, "champion").run_id == run_id
    assert [mv.version for mv in client.search_model_versions(f"name='{name}'")] == ["1"]

    if release >= Version("3.0"):
        model = client.create_logged_model(experiment_id, name="lean")
        assert client.get_logged_model(model.model_id).name == "lean"
        mlflow.set_experiment(experiment_id=experiment_id)
        with mlflow.start_span("lean-span") as span:  # stored through the artifact proxy
            span.set_inputs({"q": "ping"})
            span.set_outputs({"a": "pong"})
        mlflow.flush_trace_async_logging()
        traces = client.search_traces(locations=[experiment_id])
        # 3.0 - 3.1 servers give the trace an ID of their own: compare what it holds.
        assert [[s.name for s in t.data.spans] for t in traces] == [["lean-span"]]
        assert traces[0].data.spans[0].outputs == {"a": "pong"}

    status, index = get(f"{url}/")
    assert status == 200 and b"<html" in index.lower()
    assets = re.findall(rb'(?:src|href)="\.?/?(static-files/[^"]+\.(?:js|css))"', index)
    assert assets, index[:500]
    assert get(f"{url}/{assets[0].decode()}")[0] == 200
    for path, body in [
        ("ajax-api/2.0/mlflow/experiments/search", b'{"max_results": 10}'),
        ("ajax-api/2.0/mlflow/runs/search", f'{{"experiment_ids": ["{experiment_id}"]}}'.encode()),
        ("ajax-api/2.0/mlflow/registered-models/search?max_results=10", None),
        (f"ajax-api/2.0/mlflow/metrics/get-history?run_id={run_id}&metric_key=loss", None),
    ]:  # fmt: skip
        status, reply = get(f"{url}/{path}", body)
        assert status == 200, f"{path}: {status} {reply[:300]!r}"
