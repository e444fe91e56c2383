"""The repository is an Ansible collection: it builds with `ansible-galaxy collection
build`, installs from the tarball with no network, and its site playbook, run by its
collection name from outside the checkout, deploys this scenario's server (a re-run of
what is deployed: nothing to change)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, Deployment, json_of

pytestmark = pytest.mark.default_scenario

GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())
COLLECTION = f"{GALAXY['namespace']}.{GALAXY['name']}"


def _tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def test_the_collection_installs_offline_and_its_site_playbook_deploys(
    deployment: Deployment, tmp_path: Path
) -> None:
    dist, collections = tmp_path / "dist", tmp_path / "collections"
    # Nothing of the checkout or the scenario: no Ansible settings (Molecule installs the
    # project as a collection of its own), run from elsewhere.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    subprocess.run(
        [_tool("ansible-galaxy"), "collection", "build", "--output-path", str(dist), str(ROOT)],
        check=True, capture_output=True, text=True, cwd=tmp_path, env=env,
    )  # fmt: skip
    (tarball,) = dist.glob("*.tar.gz")
    assert tarball.name == f"{COLLECTION.replace('.', '-')}-{GALAXY['version']}.tar.gz"
    install = subprocess.run(
        [_tool("ansible-galaxy"), "collection", "install", "--offline", "-p", str(collections),
         str(tarball)],
        capture_output=True, text=True, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    assert f"{COLLECTION}:{GALAXY['version']} was installed successfully" in install.stdout
    installed = collections / "ansible_collections" / GALAXY["namespace"] / GALAXY["name"]
    assert (installed / "roles/mlflow_server/tasks/main.yml").is_file()

    env |= {
        "ANSIBLE_COLLECTIONS_PATH": str(collections),
        "ANSIBLE_STDOUT_CALLBACK": "json",
        "ANSIBLE_NOCOLOR": "1",
    }
    if "ANSIBLE_LOG_PATH" in os.environ:  # the leak test reads every play's log
        env["ANSIBLE_LOG_PATH"] = os.environ["ANSIBLE_LOG_PATH"]
    host = deployment.host or "instance"
    run = subprocess.run(
        [_tool("ansible-playbook"), "-i", deployment.inventory, f"{COLLECTION}.site",
         "--limit", host],
        capture_output=True, text=True, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    report = json_of(run.stdout)
    task_paths = {
        task["task"].get("path", "") for play in report["plays"] for task in play["tasks"]
    }
    assert any(str(installed) in path for path in task_paths), sorted(task_paths)[:5]
    assert not any(str(ROOT / "roles") in path for path in task_paths)
    summary = report["plays"][-1]["tasks"][-1]["hosts"][host]["mlflow_server_deployed"]
    assert summary["drift"] == []
    assert report["stats"][host]["changed"] == 0 and report["stats"][host]["failures"] == 0
