"""The mlflow_server role's filter plugins as a plain Python module, for the tests that
check them or apply them the way the role does."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_PATH = Path(__file__).resolve().parents[1] / "roles/mlflow_server/filter_plugins/mlflow_server.py"
_SPEC = importlib.util.spec_from_file_location("mlflow_server_filters", _PATH)
assert _SPEC and _SPEC.loader
filters = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(filters)
