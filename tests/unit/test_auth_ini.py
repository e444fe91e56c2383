"""The login cache of basic-auth (mlflow_server_auth_cache_ttl) reaches basic_auth.ini
only where MLflow reads it (3.12.0 on) and only when asked for, so that existing
deploys keep the same file (and the same container), rendered with the role's own
template (auth_ini.yml)."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest
from role_filters import run_role_cases

HERE = Path(__file__).resolve().parent
CASES = {
    "3.12.0 with 60 s": ({"version": "3.12.0", "ttl": 60}, "60"),
    "3.17.2 with 300 s": ({"version": "3.17.2", "ttl": 300}, "300"),
    "3.17.2 off (MLflow's default)": ({"version": "3.17.2", "ttl": 0}, None),
    "3.11.1 has no cache": ({"version": "3.11.1", "ttl": 60}, None),
    "2.13.0 has no cache": ({"version": "2.13.0", "ttl": 60}, None),
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, configparser.ConfigParser]:
    results = run_role_cases(HERE / "auth_ini.yml", CASES, tmp_path_factory.mktemp("ini"))
    parsed = {}
    for name, text in results.items():
        # MLflow reads the file with configparser: so does the test.
        parser = configparser.ConfigParser()
        parser.read_string(text)
        parsed[name] = parser
    return parsed


@pytest.mark.parametrize("name", CASES)
def test_the_login_cache_is_written_where_mlflow_reads_it(name: str, rendered: dict) -> None:
    ini = rendered[name]
    assert ini.get("mlflow", "admin_username") == "ops-admin"
    assert ini.get("mlflow", "auth_cache_ttl_seconds", fallback=None) == CASES[name][1]
