#!/usr/bin/env python3
"""Resolve the locked dependency set of the MLflow server image for MLflow releases.

MLflow never pinned its dependencies, so `pip install mlflow==2.13.0` today pulls
releases that did not exist when 2.13.0 shipped (SQLAlchemy 2.1, setuptools 82,
numpy 2, ...) and the server crashes at import. This script resolves the image's
requirements as the package index stood when the release was published
(`uv pip compile --exclude-newer`), for Python 3.11 on Linux, and writes one lock file
per release into roles/mlflow_server/files/locks/. The role refuses a version that has
no lock, so every image it builds is fully pinned.

Usage:
    scripts/lock_mlflow.py 2.13.0 3.17.2      # these releases
    scripts/lock_mlflow.py --all              # every final release from 2.5.0 on
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from packaging.version import Version

INDEX_JSON = os.environ.get("MLFLOW_LOCK_INDEX_JSON", "https://pypi.org/pypi/{project}/json")
LOCK_DIR = Path(__file__).resolve().parent.parent / "roles/mlflow_server/files/locks"
OLDEST = Version("2.5.0")
PYTHON_VERSION = "3.11"
# Packages released with MLflow in one go: the resolution date must admit them all.
SIBLINGS = ("mlflow", "mlflow-skinny", "mlflow-tracing")
# Leeway after the last sibling upload, for the release job's own late uploads.
LEEWAY = dt.timedelta(hours=1)


def requirements(version: Version) -> list[str]:
    """The image's top-level requirements for one MLflow release."""
    mlflow = f"mlflow=={version}"
    if version >= Version("2.20.2"):
        # basic-auth needs Flask-WTF from this release on (mlflow[auth]).
        mlflow = f"mlflow[auth]=={version}"
    return [
        mlflow,
        "boto3",  # ECS / S3-compatible artifact storage
        "google-cloud-storage",  # GCS artifact storage
        # Azure Blob artifact storage: MLflow's client takes a connection string (the role's
        # way) or an account key; azure-identity (DefaultAzureCredential) is left out.
        "azure-storage-blob",
        "psycopg2-binary",  # PostgreSQL tracking store
        *(
            # SQLAlchemy 2.1 (allowed from MLflow 3.9.0) reads postgresql:// as psycopg 3
            ["psycopg[binary]"] if version >= Version("3.9.0") else []
        ),
        "pymysql",  # MySQL tracking store
        "setuptools",  # MLflow < 2.16 imports pkg_resources; a bare venv lacks it
    ]


def constraints(version: Version) -> list[str]:
    """Upper bounds MLflow never declared, for releases that ship after the breaking
    dependency release did (late patch releases such as 2.11.5 and 2.13.3 in 2026):
    the resolution date alone does not keep those out. See shared/spec/mlflow-versions.md."""
    bounds = []
    if version <= Version("3.8.1"):
        bounds.append("sqlalchemy<2.1")  # FallbackAsyncAdaptedQueuePool ImportError
    if version < Version("2.16.0"):
        bounds += ["setuptools<82", "numpy<2"]  # pkg_resources removed; numpy 2 ABI
    if version < Version("3.16.0"):
        bounds.append("pandas<3")
    if version < Version("2.8.0"):
        bounds.append("flask<3")
    return bounds


def releases(project: str) -> dict[str, list[dict[str, object]]]:
    with urllib.request.urlopen(INDEX_JSON.format(project=project), timeout=60) as reply:
        data: dict[str, dict[str, list[dict[str, object]]]] = json.load(reply)
    return data["releases"]


def upload_cutoff(version: str, index: dict[str, dict[str, list[dict[str, object]]]]) -> str:
    """The latest upload time among the release's sibling packages, plus leeway."""
    times = [
        dt.datetime.fromisoformat(str(f["upload_time_iso_8601"]).replace("Z", "+00:00"))
        for project in SIBLINGS
        for f in index[project].get(version, [])
    ]
    if not times:
        raise SystemExit(f"mlflow {version} is not on the index")
    return (max(times) + LEEWAY).strftime("%Y-%m-%dT%H:%M:%SZ")


def lock(version: str, index: dict[str, dict[str, list[dict[str, object]]]]) -> Path:
    cutoff = upload_cutoff(version, index)
    out = LOCK_DIR / f"mlflow-{version}.txt"
    with (
        tempfile.NamedTemporaryFile("w", suffix=".in") as spec,
        tempfile.NamedTemporaryFile("w", suffix=".txt") as bounds,
    ):
        spec.write("\n".join(requirements(Version(version))) + "\n")
        spec.flush()
        bounds.write("\n".join(constraints(Version(version))) + "\n")
        bounds.flush()
        subprocess.run(
            [
                "uv", "pip", "compile", spec.name,
                "--constraint", bounds.name,
                "--quiet",
                "--exclude-newer", cutoff,
                "--python-version", PYTHON_VERSION,
                "--python-platform", "linux",
                "--no-header",
                "--no-annotate",
                "--output-file", str(out),
            ],
            check=True,
        )  # fmt: skip
    body = out.read_text()
    out.write_text(
        f"# mlflow {version} image lock: resolved as of {cutoff} for Python {PYTHON_VERSION}\n"
        "# by scripts/lock_mlflow.py; do not edit by hand.\n" + body
    )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("versions", nargs="*", help="MLflow releases to lock")
    parser.add_argument("--all", action="store_true", help="every final release from 2.5.0")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    index = {project: releases(project) for project in SIBLINGS}
    versions: list[str] = list(args.versions)
    if args.all:
        versions = sorted(
            (
                v
                for v, files in index["mlflow"].items()
                if files
                and not Version(v).is_prerelease
                and Version(v) >= OLDEST
                and not all(f["yanked"] for f in files)
                # mlflow depends on the same mlflow-skinny release: it must be served
                and index["mlflow-skinny"].get(v)
            ),
            key=Version,
        )
    if not versions:
        parser.error("name at least one version, or --all")
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    failed = False
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for version, result in zip(
            versions, pool.map(lambda v: _try_lock(v, index), versions), strict=True
        ):
            print(f"{version}: {result}")
            failed |= result.startswith("FAILED")
    return 1 if failed else 0


def _try_lock(version: str, index: dict[str, dict[str, list[dict[str, object]]]]) -> str:
    try:
        return str(lock(version, index).relative_to(LOCK_DIR.parent.parent.parent.parent))
    except (subprocess.CalledProcessError, SystemExit) as error:
        return f"FAILED ({error})"


if __name__ == "__main__":
    sys.exit(main())
