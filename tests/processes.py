"""Processes the tests and the benches start on this machine."""

from __future__ import annotations

import os
import signal
import subprocess
import time


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop a `mlflow server` started in a session of its own, with every process it
    started: the CLI runs uvicorn or gunicorn (and from 3.x a job runner) as children,
    which a signal to the CLI alone leaves running, and serving its port."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            process.poll()  # reap the session's leader once it exits
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)
