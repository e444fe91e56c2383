"""One table, two implementations: the role's resolution and the image's entrypoint
give the documented artifact backend for every case of backend_cases.yml."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from role_filters import run_role_play

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ENTRYPOINT = ROOT / "roles/mlflow_server/files/entrypoint.sh"
CASES = yaml.safe_load((HERE / "backend_cases.yml").read_text())["cases"]
CREDENTIALS = {
    "K": ("AWS_ACCESS_KEY_ID", "fake-key-id"),
    "S": ("AWS_SECRET_ACCESS_KEY", "fake-secret"),
    "E": ("MLFLOW_S3_ENDPOINT_URL", "http://127.0.0.1:8333"),
    "G": ("GOOGLE_APPLICATION_CREDENTIALS", "/etc/fake-gcs.json"),
    "A": ("AZURE_STORAGE_CONNECTION_STRING", "AccountName=account;AccountKey=fake-secret"),
}


def case_id(case: dict) -> str:
    return f"{case['backend'] or 'empty'}-{case['creds'] or 'none'}-{case['url'] or 'default'}"


def test_the_table_has_the_combinations_the_seed_defines() -> None:
    assert len(CASES) >= 16
    assert len({case_id(c) for c in CASES}) == len(CASES)
    backends = {c["backend"] for c in CASES}
    assert {"", "ECS", "GCS", "AZURE", "ecs", "gcs", "azure"} <= backends
    for letter in "KSE":  # each ECS credential is missing alone at least once
        missing_one = set("KSE") - {letter}
        assert any(c["backend"] == "ECS" and set(c["creds"]) == missing_one for c in CASES)


@pytest.fixture(scope="session")
def role_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list]:
    out = tmp_path_factory.mktemp("table") / "results.json"
    results = run_role_play(HERE / "resolve_table.yml", out)
    rows = [[r["backend"] or "local", r["url"], len(r["reasons"]) > 0] for r in results]
    return {case_id(c): r for c, r in zip(CASES, rows, strict=True)}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_role_resolution_gives_the_documented_result(case: dict, role_results: dict) -> None:
    assert role_results[case_id(case)] == case["expect"]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_entrypoint_gives_the_documented_result(case: dict, tmp_path: Path) -> None:
    fake = tmp_path / "mlflow"
    fake.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
    fake.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "ARTIFACT_BACKEND": case["backend"]}
    env.update(CREDENTIALS[c] for c in case["creds"])
    if case["url"]:
        env["ARTIFACT_URL"] = case["url"]
    result = subprocess.run(
        ["sh", str(ENTRYPOINT)], env=env, capture_output=True, text=True, check=True
    )
    argv = result.stdout.splitlines()
    destination = argv[argv.index("--artifacts-destination") + 1]
    chosen = result.stderr.strip().splitlines()[-1]
    backend = chosen.split("artifact storage: ", 1)[1].split(" at ", 1)[0]
    warned = "local artifact storage" in result.stderr or "using ./mlruns" in result.stderr
    assert [backend, destination, warned] == case["expect"]
    assert "fake-secret" not in result.stderr
