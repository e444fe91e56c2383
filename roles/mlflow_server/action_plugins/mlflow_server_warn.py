"""Print an Ansible warning (the seed's fallbacks are silent; the role's are not), and
keep it in the host's `mlflow_server_warnings` fact for the deploy summary.

- name: resolve | Warn about the fallback
  mlflow_server_warn:
    msg: ARTIFACT_BACKEND=ECS lacks ...

- name: Several at once (one task, one forked worker)
  mlflow_server_warn:
    msg: ["first warning", "second warning"]

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
        msgs = [msg] if isinstance(msg, str) else msg
        if not (isinstance(msgs, list) and msgs and all(isinstance(m, str) and m for m in msgs)):
            raise AnsibleActionFail("mlflow_server_warn needs a non-empty 'msg' or list of them")
        earlier = list((task_vars or {}).get("mlflow_server_warnings") or [])
        said = [" ".join(m.split()) for m in msgs]
        result.update(
            changed=False,
            msg=msg,
            warnings=list(msgs),
            ansible_facts={"mlflow_server_warnings": [*earlier, *said]},
        )
        return result
