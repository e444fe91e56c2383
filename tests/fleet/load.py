"""Clients that log to MLflow through the load balancer while the fleet changes.

Each client thread owns one run and loops: log a batch of metrics (acknowledged writes
are recorded), and every third round search runs. No client retries: every request
that does not answer 200 counts as failed. `read_back` then checks that every
acknowledged metric point is stored.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests

API = "/api/2.0/mlflow"


@dataclass
class ClientStats:
    run_id: str = ""
    requests: int = 0
    failures: list[str] = field(default_factory=list)
    acked_steps: list[int] = field(default_factory=list)


class LoadClients:
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
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

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
            time.sleep(0.05)

    def start(self) -> None:
        for number, stats in enumerate(self.stats):
            thread = threading.Thread(target=self._client, args=(stats, number), daemon=True)
            thread.start()
            self._threads.append(thread)
        deadline = time.monotonic() + 60
        while any(not s.run_id for s in self.stats) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert all(s.run_id for s in self.stats), "the clients could not create their runs"

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

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
