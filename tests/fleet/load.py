"""Clients that log to MLflow through the load balancer while the fleet changes.

`LoadClients`: each thread owns one run and loops, a round a second: log a batch of
metrics (acknowledged writes are recorded), and every third round search runs. No
client retries: every request that does not answer 200 counts as failed. `read_back`
then checks that every acknowledged metric point is stored.

`SoakClients`: the real MLflow client, retrying as it does (`RetryCounter` sees every
failed attempt), logging metrics, params and small artifacts; `read_back` checks all
three.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import requests
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient
from urllib3.util.retry import Retry

API = "/api/2.0/mlflow"


class ClientThreads:
    """Client threads, one per entry of `self.stats`, each running `self._client(stats,
    number)` until `self._stop` is set; started once every client has created its run."""

    stats: list[Any]
    join_timeout = 60.0
    # Each client's pause between rounds: 8 clients send a steady stream (a round every
    # 1/8 s on average through the balancer) without saturating the servers' CPU, which
    # would slow every replaced server's start and the other scenarios beside this one.
    pause = 1.0

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _client(self, stats: Any, number: int) -> None:
        raise NotImplementedError

    def start(self) -> None:
        for number, entry in enumerate(self.stats):
            thread = threading.Thread(
                target=self._client, args=(entry, number), daemon=True,
                name=f"{type(self).__name__}-{number}",
            )  # fmt: skip
            thread.start()
            self._threads.append(thread)
        deadline = time.monotonic() + 60
        while any(not s.run_id for s in self.stats) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert all(s.run_id for s in self.stats), "the clients could not create their runs"

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.join_timeout)
        assert not any(t.is_alive() for t in self._threads), "a client did not stop"


@dataclass
class ClientStats:
    run_id: str = ""
    requests: int = 0
    failures: list[str] = field(default_factory=list)
    acked_steps: list[int] = field(default_factory=list)


class LoadClients(ClientThreads):
    """N threads logging batches and searching runs until stopped (bounded in time)."""

    def __init__(
        self, url: str, auth: tuple[str, str], experiment_id: str, clients: int = 8,
        max_seconds: float = 900.0, ca: str = "",
    ) -> None:  # fmt: skip
        self.url = url.rstrip("/")
        self.verify: str | bool = ca or True
        self.auth = auth
        self.experiment_id = experiment_id
        self.stats = [ClientStats() for _ in range(clients)]
        self.max_seconds = max_seconds
        super().__init__()

    def _post(self, session: requests.Session, path: str, body: dict[str, Any]) -> Any:
        # verify per request: a session's own is overridden by REQUESTS_CA_BUNDLE.
        reply = session.post(
            f"{self.url}{API}/{path}", json=body, auth=self.auth, timeout=30, verify=self.verify
        )
        reply.raise_for_status()
        return reply.json()

    def _client(self, stats: ClientStats, number: int) -> None:
        session = requests.Session()
        stats.run_id = self._post(
            session, "runs/create",
            {"experiment_id": self.experiment_id, "run_name": f"load-{number}"},
        )["run"]["info"]["run_id"]  # fmt: skip
        deadline = time.monotonic() + self.max_seconds
        step = 0
        while not self._stop.is_set() and time.monotonic() < deadline:
            step += 1
            try:
                stats.requests += 1
                metric = {"key": "load", "value": float(step), "step": step,
                          "timestamp": int(time.time() * 1000)}  # fmt: skip
                self._post(session, "runs/log-batch", {"run_id": stats.run_id, "metrics": [metric]})
                stats.acked_steps.append(step)
                if step % 3 == 0:
                    stats.requests += 1
                    self._post(session, "runs/search", {
                        "experiment_ids": [self.experiment_id], "max_results": 5,
                    })  # fmt: skip
            except requests.RequestException as error:
                stats.failures.append(
                    f"{time.strftime('%H:%M:%S')} {type(error).__name__}: {error}"
                )
            self._stop.wait(self.pause)

    @property
    def total_requests(self) -> int:
        return sum(s.requests for s in self.stats)

    @property
    def failures(self) -> list[str]:
        return [f for s in self.stats for f in s.failures]

    def read_back(self) -> list[str]:
        """The acknowledged metric points that the store does not hold (should be none)."""
        lost = []
        session = requests.Session()
        for stats in self.stats:
            reply = session.get(
                f"{self.url}{API}/metrics/get-history",
                params={"run_id": stats.run_id, "metric_key": "load", "max_results": 100000},
                auth=self.auth, timeout=60, verify=self.verify,
            )  # fmt: skip
            reply.raise_for_status()
            stored = {int(m["step"]) for m in reply.json().get("metrics", [])}
            lost += [f"{stats.run_id} step {s}" for s in stats.acked_steps if s not in stored]
        return lost


class OutageProbe:
    """Polls GET {url}/health every `interval` seconds until stopped; says how long, in
    all and at the longest stretch, it did not answer 200."""

    def __init__(self, url: str, ca: str, interval: float = 0.1) -> None:
        self.url = url.rstrip("/")
        self.ca = ca
        self.interval = interval
        self.samples: list[tuple[float, bool]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            try:
                reply = session.get(f"{self.url}/health", timeout=2, verify=self.ca)
                ok = reply.status_code == 200
            except requests.RequestException:
                ok = False
            self.samples.append((time.monotonic(), ok))
            time.sleep(self.interval)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def stretches(self) -> list[tuple[float, float]]:
        """Each stretch without a 200: (seconds from the first sample, length)."""
        if not self.samples:
            return []
        first = self.samples[0][0]
        found: list[tuple[float, float]] = []
        start: float | None = None
        for t0, ok in self.samples:
            if not ok and start is None:
                start = t0
            if ok and start is not None:
                found.append((start - first, t0 - start))
                start = None
        if start is not None:
            found.append((start - first, self.samples[-1][0] - start))
        return found

    def outage(self) -> tuple[float, float]:
        """(seconds not answering in all, longest stretch)."""
        lengths = [length for _, length in self.stretches()]
        return sum(lengths), max(lengths, default=0.0)


class RetryCounter:
    """Every attempt of the soak clients' HTTP calls that failed and went to urllib3's
    `Retry` (a broken connection, or a status the MLflow client retries such as 502, 503
    or a server's 500), with the time it failed and why. urllib3 logs a retry only after
    its backoff (up to a minute with the MLflow client's), so counting its log records
    put one fault's failed attempts in the next fault's window; `Retry.increment` runs as
    the attempt fails. Only threads whose name starts with `threads` are counted (the
    test's own probes do not retry)."""

    def __init__(self, threads: str = "SoakClients-") -> None:
        self.threads = threads
        self.failures: list[tuple[float, str]] = []
        self._increment = Retry.increment

    @property
    def times(self) -> list[float]:
        return [t for t, _ in self.failures]

    def between(self, start: float, end: float) -> list[str]:
        return [cause for t, cause in self.failures if start <= t < end]

    def __enter__(self) -> RetryCounter:
        increment, failures, threads = self._increment, self.failures, self.threads

        def counted(retry: Retry, method: str | None = None, url: str | None = None,
                    response: Any = None, error: Exception | None = None,
                    *args: Any, **kwargs: Any) -> Retry:  # fmt: skip
            if threading.current_thread().name.startswith(threads):
                cause = f"HTTP {response.status}" if response is not None else repr(error)
                failures.append((time.monotonic(), f"{method} {url}: {cause}"[:300]))
            return increment(retry, method, url, response, error, *args, **kwargs)

        Retry.increment = counted  # type: ignore[method-assign]
        return self

    def __exit__(self, *_: object) -> None:
        Retry.increment = self._increment  # type: ignore[method-assign]


@dataclass
class SoakStats:
    run_id: str = ""
    calls: list[float] = field(default_factory=list)  # when each call started
    errors: list[tuple[float, str]] = field(default_factory=list)  # failed after retries
    acked_steps: list[int] = field(default_factory=list)  # metric `soak` and param p<step>
    acked_artifacts: dict[str, str] = field(default_factory=dict)  # name -> content


class SoakClients(ClientThreads):
    """N threads, each with the real MLflow client (and so its retries) and a run of its
    own: every round logs a metric and a param in one batch, every `artifact_every`th
    round a small artifact too. What a call returned from is acknowledged."""

    def __init__(
        self, url: str, experiment_id: str, workdir: Path, clients: int = 8,
        artifact_every: int = 10, max_seconds: float = 900.0,
    ) -> None:  # fmt: skip
        self.url = url
        self.experiment_id = experiment_id
        self.workdir = workdir
        self.artifact_every = artifact_every
        self.max_seconds = max_seconds
        self.stats = [SoakStats() for _ in range(clients)]
        self.join_timeout = 300.0  # a call in its retries finishes them
        super().__init__()

    def _client(self, stats: SoakStats, number: int) -> None:
        client = MlflowClient(self.url)
        stats.run_id = client.create_run(self.experiment_id, run_name=f"soak-{number}").info.run_id
        files = self.workdir / f"client-{number}"
        files.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.max_seconds
        step = 0
        while not self._stop.is_set() and time.monotonic() < deadline:
            step += 1
            stats.calls.append(time.monotonic())
            try:
                client.log_batch(
                    stats.run_id,
                    metrics=[Metric("soak", float(step), int(time.time() * 1000), step)],
                    params=[Param(f"p{step}", str(step))],
                )
                stats.acked_steps.append(step)
                if step % self.artifact_every == 0:
                    name = f"a{step}.txt"
                    content = f"{stats.run_id} step {step}\n"
                    (files / name).write_text(content)
                    stats.calls.append(time.monotonic())
                    client.log_artifact(stats.run_id, str(files / name), artifact_path="soak")
                    stats.acked_artifacts[name] = content
            except Exception as error:  # every failure is counted, not raised
                stats.errors.append((time.monotonic(), f"{type(error).__name__}: {error}"[:300]))
            self._stop.wait(self.pause)

    def calls_between(self, start: float, end: float) -> int:
        return sum(start <= t < end for s in self.stats for t in s.calls)

    def errors_between(self, start: float, end: float) -> list[str]:
        return [e for s in self.stats for t, e in s.errors if start <= t < end]

    def read_back(self, download_to: Path) -> list[str]:
        """Every acknowledged metric point, param and artifact the store does not hold."""
        client = MlflowClient(self.url)
        lost = []
        for stats in self.stats:
            run = client.get_run(stats.run_id)
            history = {int(m.step) for m in client.get_metric_history(stats.run_id, "soak")}
            lost += [f"{stats.run_id} metric step {s}" for s in stats.acked_steps
                     if s not in history]  # fmt: skip
            lost += [f"{stats.run_id} param p{s}" for s in stats.acked_steps
                     if run.data.params.get(f"p{s}") != str(s)]  # fmt: skip
            if stats.acked_artifacts:
                target = download_to / stats.run_id
                target.mkdir(parents=True)
                folder = Path(mlflow.artifacts.download_artifacts(
                    run_id=stats.run_id, artifact_path="soak", dst_path=str(target),
                    tracking_uri=self.url,
                ))  # fmt: skip
                for name, content in stats.acked_artifacts.items():
                    stored = folder / name
                    if not stored.is_file() or stored.read_text() != content:
                        lost.append(f"{stats.run_id} artifact soak/{name}")
        return lost
