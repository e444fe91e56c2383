"""The role's filter plugins, as plain Python."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "roles/mlflow_server/filter_plugins/mlflow_server.py"
_SPEC = importlib.util.spec_from_file_location("mlflow_server_filters", _PATH)
assert _SPEC and _SPEC.loader
filters = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(filters)

FAKE_URI = "postgresql://u:fake-pass@db:5432/m"  # pragma: allowlist secret
TLS = "--ssl-certfile=/run/secrets/c --ssl-keyfile=/run/secrets/k"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], ["--uvicorn-opts", TLS]),
        (["--workers", "1"], ["--workers", "1", "--uvicorn-opts", TLS]),
        (["--uvicorn-opts", "--timeout-keep-alive 30"],
         ["--uvicorn-opts", f"--timeout-keep-alive 30 {TLS}"]),
        (["--uvicorn-opts=--timeout-keep-alive 30", "--workers", "2"],
         [f"--uvicorn-opts=--timeout-keep-alive 30 {TLS}", "--workers", "2"]),
    ],
)  # fmt: skip
def test_with_opts_adds_to_the_servers_own_option(args: list[str], expected: list[str]) -> None:
    given = list(args)
    assert filters.mlflow_server_with_opts(args, "--uvicorn-opts", TLS) == expected
    assert args == given  # the inventory's list is not changed


@pytest.mark.parametrize(
    ("uri", "masked"),
    [
        (FAKE_URI, "postgresql://***@db:5432/m"),
        ("mysql+pymysql://u@db/m", "mysql+pymysql://***@db/m"),
        ("sqlite:////mlflow/mlflow.db", "sqlite:////mlflow/mlflow.db"),
        ("https://pypi.invalid/simple", "https://pypi.invalid/simple"),
    ],
)
def test_mask_hides_the_user_info_only(uri: str, masked: str) -> None:
    assert filters.mlflow_server_mask(uri) == masked
