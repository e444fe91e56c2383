"""Work out the deploy plan (module_utils/mlflow_server_plan.py) on the controller and
return it as the task's result, which the role registers as `__mlflow_server_plan`.

- name: plan | From the inputs alone (validation reads it)
  mlflow_server_plan:
    inputs: "{{ dict(names | zip(query('ansible.builtin.vars', *names))) }}"
  register: __mlflow_server_plan

- name: plan | Completed with what the host reported
  mlflow_server_plan:
    inputs: ...
    host:
      inventory_hostname: ...
      ncpu: 2
      base_image_id: sha256:...
  register: __mlflow_server_plan

The plan holds the deploy's secrets (a task that registers it is no_log); it is not a
fact, so no fact cache keeps it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.template import trust_as_template

ROLE = Path(__file__).resolve().parent.parent


def _load() -> Any:
    """module_utils/mlflow_server_plan.py, as the role's filter plugin loads it (a role's
    action plugin has no import path of its own)."""
    spec = importlib.util.spec_from_file_location(
        "mlflow_server_filters", ROLE / "filter_plugins" / "mlflow_server.py"
    )
    assert spec and spec.loader
    filters = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(filters)
    return filters.PLAN


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("inputs", "host"))
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        planner = _load()
        inputs = dict(self._task.args.get("inputs") or {})
        for name in planner.RESULTS:
            inputs.pop(name, None)
        inputs["role_path"] = str(ROLE)
        host = self._task.args.get("host")

        def read(path: str) -> bytes:
            try:
                return Path(path).read_bytes()
            except OSError as err:
                raise AnsibleActionFail(
                    f"cannot read {path} on the controller: {err.strerror}"
                ) from err

        def render(template: str, plan: dict[str, Any], variables: dict[str, Any]) -> str:
            templar = self._templar.copy_with_new_env(
                available_variables={**task_vars, "__mlflow_server_plan": plan,
                                     "__mlflow_server_template_vars": dict(variables)})  # fmt: skip
            expression = (
                "{{ lookup('ansible.builtin.template', __mlflow_server_template_path,"
                " template_vars=__mlflow_server_template_vars) }}"
            )
            templar.available_variables = {
                **templar.available_variables,
                "__mlflow_server_template_path": str(ROLE / "templates" / template),
            }
            return str(templar.template(trust_as_template(expression)))

        try:
            plan = (
                planner.plan(inputs, host, read, render)
                if host is not None
                else planner.plan(inputs)
            )
        except (KeyError, ValueError, TypeError) as err:
            raise AnsibleActionFail(f"the deploy plan could not be worked out: {err!r}") from err
        result.update(plan)
        result["changed"] = False
        return result
