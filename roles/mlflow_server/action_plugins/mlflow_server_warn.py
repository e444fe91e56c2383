"""Print an Ansible warning (the seed's fallbacks are silent; the role's are not).

- name: resolve | Warn about the fallback
  mlflow_server_warn:
    msg: ARTIFACT_BACKEND=ECS lacks ...
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("msg",))
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        msg = self._task.args.get("msg")
        if not isinstance(msg, str) or not msg:
            raise AnsibleActionFail("mlflow_server_warn needs a non-empty 'msg'")
        result.update(changed=False, msg=msg, warnings=[msg])
        return result
