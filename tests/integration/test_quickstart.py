"""The README's quick start, literally: its shell blocks run one after the other on this
host (the default scenario's), in a clone of the checkout, as a new user would run them.
`make deploy` installs no test tool, serves on 127.0.0.1:5005 only, a second run changes
nothing, the summary it prints says what the README says, the MLflow client logs to it,
and `make uninstall` leaves no container and no data behind."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import docker
import pytest
from conftest import ROOT, recap_count

pytestmark = pytest.mark.default_scenario

PORT = 5005
DATA_DIR = Path("/var/lib/mlflow-server")
CONTAINER = "mlflow-server"


def quick_start() -> tuple[list[str], str]:
    """The README's quick-start shell blocks (those a user runs as they stand) and the
    summary excerpt it shows."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```bash\n(.*?)^```", section, flags=re.S | re.M)
    (summary,) = re.findall(r"^```text\n(.*?)^```", section, flags=re.S | re.M)
    return [b for b in blocks if "<env>" not in b], summary


def test_the_readme_quick_start_runs_as_written(tmp_path: Path) -> None:
    blocks, summary = quick_start()
    assert len(blocks) >= 3 and blocks[0].startswith("git clone <this repository>")
    # A user's shell: none of the scenario's Ansible or Molecule settings, no outer make,
    # and `python` the one that has the MLflow client (the README says to install it).
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ANSIBLE_", "MOLECULE_", "MAKE")) and k != "MFLAGS"
    }
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    # Between two blocks (not inside one), the test notes what the clone's venv holds and
    # whether anything but loopback answers on the port.
    probe = (
        'ls .venv/bin > "{out}/venv-{n}.txt" 2>/dev/null || true\n'
        "(exec 3<>/dev/tcp/127.0.0.2/{port}) 2>/dev/null"
        ' && echo open > "{out}/other-{n}.txt" || true\n'
    )
    script = "\n".join(
        block + probe.format(out=tmp_path, n=n, port=PORT) for n, block in enumerate(blocks)
    )
    (tmp_path / "quickstart.sh").write_text(script.replace("<this repository>", str(ROOT)))
    try:
        run = subprocess.run(
            ["bash", "-euxo", "pipefail", str(tmp_path / "quickstart.sh")],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1500, input="",
        )  # fmt: skip
        output = run.stdout + run.stderr
        assert run.returncode == 0, output[-5000:]
        assert re.search(r"^OK", run.stdout, flags=re.M)  # curl's /health
        recaps = [line for line in output.splitlines() if line.startswith("localhost ")]
        assert len(recaps) == 5, recaps  # deploy, deploy, status, teardown, uninstall
        assert recap_count(recaps[1], "localhost") == 0, recaps[1]
        # The summary the README shows is what the deploy printed, line for line.
        printed = {line.strip() for line in output.splitlines()}
        for line in summary.splitlines()[2:]:
            assert line.strip() in printed, line
        # make deploy's venv: Ansible, no test tool.
        venv = (tmp_path / "venv-0.txt").read_text().split()
        assert "ansible-playbook" in venv
        assert not {"molecule", "pytest", "ansible-lint", "ruff"} & set(venv)
        # Served on 127.0.0.1 only, while it ran (127.0.0.2 is this host too).
        assert list(tmp_path.glob("other-*.txt")) == []
        assert not (tmp_path / "mlflow-server-ansible/.venv").exists()
    finally:
        leftover = docker.from_env().containers.list(all=True, filters={"name": f"^{CONTAINER}$"})
        for container in leftover:
            container.remove(force=True)
    assert leftover == [], "make uninstall left the container"
    assert not DATA_DIR.exists(), "make uninstall left the data dir"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", PORT), timeout=10).close()
