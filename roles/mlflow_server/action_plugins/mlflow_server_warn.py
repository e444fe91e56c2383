"""Print an Ansible warning (the seed's fallbacks are silent; the role's are not), and
keep it in the host's `mlflow_server_warnings` fact for the deploy summary.

- name: resolve | Warn about the fallback
  mlflow_server_warn:
    msg: ARTIFACT_BACKEND=ECS lacks ...

- name: Start this run's list of warnings
  mlflow_server_warn:
    forget: true
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("msg", "forget"))
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        if self._task.args.get("forget"):
            result.update(changed=False, ansible_facts={"mlflow_server_warnings": []})
            return result
        msg = self._task.args.get("msg")
        if not isinstance(msg, str) or not msg:
            raise AnsibleActionFail("mlflow_server_warn needs a non-empty 'msg'")
        earlier = list((task_vars or {}).get("mlflow_server_warnings") or [])
        result.update(
            changed=False,
            msg=msg,
            warnings=[msg],
            ansible_facts={"mlflow_server_warnings": [*earlier, " ".join(msg.split())]},
        )
        return result
