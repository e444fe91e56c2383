"""The flags the role gives the server's own HTTP server: TLS options where it serves
HTTPS, and gunicorn's threaded workers (a browser's idle connections hold every sync
worker), worked out by the role's own deploy plan (server_opts.yml)."""

from __future__ import annotations

from pathlib import Path

import pytest
from role_filters import run_role_cases

HERE = Path(__file__).resolve().parent
GTHREAD = "--worker-class=gthread --threads=8"
GUNICORN_TLS = "--certfile=/run/secrets/tls-certificate.pem --keyfile=/run/secrets/tls-key.pem"
UVICORN_TLS = (
    "--ssl-certfile=/run/secrets/tls-certificate.pem --ssl-keyfile=/run/secrets/tls-key.pem"
)
CASES = {
    "2.x plain: gthread": (
        {"version": "2.13.0", "tls": False, "args": []},
        ["--gunicorn-opts", GTHREAD]),
    "2.x HTTPS: TLS and gthread": (
        {"version": "2.5.0", "tls": True, "args": ["--workers", "2"]},
        ["--workers", "2", "--gunicorn-opts", f"{GUNICORN_TLS} {GTHREAD}"]),
    "3.2 still gunicorn": (
        {"version": "3.2.0", "tls": False, "args": []},
        ["--gunicorn-opts", GTHREAD]),
    "the user's -k is kept": (
        {"version": "2.13.0", "tls": True, "args": ["--gunicorn-opts", "-k sync -t 60"]},
        ["--gunicorn-opts", f"-k sync -t 60 {GUNICORN_TLS}"]),
    "the user's --worker-class= is kept": (
        {"version": "2.13.0", "tls": False, "args": ["--gunicorn-opts=--worker-class=gevent"]},
        ["--gunicorn-opts=--worker-class=gevent"]),
    "0 threads: sync workers": (
        {"version": "2.13.0", "tls": False, "args": [], "threads": 0},
        []),
    "the user's gunicorn on 3.3": (
        {"version": "3.3.1", "tls": False, "args": ["--gunicorn-opts", "--timeout 60"]},
        ["--gunicorn-opts", f"--timeout 60 {GTHREAD}"]),
    "3.x uvicorn HTTPS": (
        {"version": "3.17.2", "tls": True, "args": []},
        ["--uvicorn-opts", UVICORN_TLS]),
    "3.x uvicorn plain: nothing": (
        {"version": "3.17.2", "tls": False, "args": []},
        []),
}  # fmt: skip


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    return run_role_cases(HERE / "server_opts.yml", CASES, tmp_path_factory.mktemp("opts"))


@pytest.mark.parametrize("name", CASES)
def test_the_server_gets_its_tls_and_worker_options(name: str, resolved: dict) -> None:
    assert resolved[name] == CASES[name][1]
