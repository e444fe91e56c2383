"""The mlflow_server role's filter plugins as a plain Python module, for the tests that
check them or apply them the way the role does; `run_role_play` runs a play that
works out the role's own deploy plan (its action plugin) or renders its templates."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
_PATH = ROOT / "roles/mlflow_server/filter_plugins/mlflow_server.py"
_SPEC = importlib.util.spec_from_file_location("mlflow_server_filters", _PATH)
assert _SPEC and _SPEC.loader
filters = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(filters)


def run_role_play(playbook: Path, out: Path, **extra: Any) -> Any:
    """Run `playbook` on localhost with the role's filters (as a play of the role has
    them) and `extra` as extra vars; it writes JSON to `out`, which is returned."""
    subprocess.run(
        [
            Path(sys.executable).with_name("ansible-playbook"), str(playbook),
            "-i", "localhost,",
            "-e", json.dumps({**extra, "out": str(out),
                              "ansible_python_interpreter": sys.executable}),
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if k != "ANSIBLE_CALLBACKS_ENABLED"},
             "ANSIBLE_FILTER_PLUGINS": str(_PATH.parent),
             "ANSIBLE_ACTION_PLUGINS": str(_PATH.parent.parent / "action_plugins")},
    )  # fmt: skip
    return json.loads(out.read_text())


def run_role_cases(
    playbook: Path, cases: dict[str, tuple[Any, Any]], out_dir: Path
) -> dict[str, Any]:
    """Run `playbook` with the inputs of `cases` (name -> (inputs, expected)) as its
    `cases`, and return each case's result by name."""
    inputs = [case for case, _ in cases.values()]
    results = run_role_play(playbook, out_dir / "results.json", cases=inputs)
    return dict(zip(cases, results, strict=True))
