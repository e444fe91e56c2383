"""Every MLflow release from 2.5.0 on builds from a lock that avoids today's drift.

The drift rows come from shared/spec/mlflow-versions.md: each is a dependency release
that breaks an older MLflow when installed unpinned today.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.version import Version

LOCKS = Path(__file__).resolve().parents[2] / "roles/mlflow_server/files/locks"
LOCK_FILES = sorted(LOCKS.glob("mlflow-*.txt"), key=lambda p: Version(p.stem.split("-", 1)[1]))


def pins(path: Path) -> dict[str, Version]:
    out = {}
    for line in path.read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            out[name.split("[")[0].strip().lower()] = Version(version.split(";")[0].strip())
    return out


def test_every_final_release_from_2_5_to_3_17_2_is_locked() -> None:
    versions = [Version(p.stem.split("-", 1)[1]) for p in LOCK_FILES]
    assert versions[0] == Version("2.5.0")
    assert Version("2.13.0") in versions
    assert Version("3.17.2") in versions
    assert len(versions) >= 84


@pytest.mark.parametrize("lock", LOCK_FILES, ids=lambda p: p.stem)
def test_lock_pins_its_release_and_avoids_known_drift(lock: Path) -> None:
    mlflow = Version(lock.stem.split("-", 1)[1])
    pinned = pins(lock)
    assert pinned["mlflow"] == mlflow
    for needed in ("boto3", "google-cloud-storage", "psycopg2-binary", "pymysql", "setuptools"):
        assert needed in pinned, f"{lock.name} lacks {needed}"
    if mlflow <= Version("3.8.1"):
        assert pinned["sqlalchemy"] < Version("2.1")
    if mlflow < Version("2.16"):
        assert pinned["setuptools"] < Version("82")
        assert pinned["numpy"] < Version("2")
    if mlflow <= Version("3.15.99"):
        assert pinned["pandas"] < Version("3")
    if mlflow < Version("2.8"):
        assert pinned["flask"] < Version("3")
    if mlflow >= Version("2.20.2"):
        assert "flask-wtf" in pinned, "basic-auth needs the auth extra from 2.20.2"


@pytest.mark.parametrize("lock", LOCK_FILES, ids=lambda p: p.stem)
def test_postgresql_uris_find_their_driver(lock: Path) -> None:
    """SQLAlchemy 2.1 maps postgresql:// to psycopg 3, 2.0 to psycopg2: the image needs
    the one its SQLAlchemy picks (the postgres scenario caught 3.17.2 without it)."""
    pinned = pins(lock)
    driver = "psycopg" if pinned["sqlalchemy"] >= Version("2.1") else "psycopg2-binary"
    assert driver in pinned
