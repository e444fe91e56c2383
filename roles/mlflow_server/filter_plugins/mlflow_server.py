"""Filters of the mlflow_server role: data shaping that Jinja reads badly."""

from __future__ import annotations

import re
from typing import Any

_USERINFO = re.compile(r"://[^@/\s]*@")


def mlflow_server_with_opts(args: list[str], option: str, extra: str) -> list[str]:
    """`args` with `extra` added to the value of `option` (`--x-opts VALUE` or
    `--x-opts=VALUE`); `option extra` appended when args do not carry it.

    >>> mlflow_server_with_opts(["--workers", "1"], "--uvicorn-opts", "--ssl-keyfile=k")
    ['--workers', '1', '--uvicorn-opts', '--ssl-keyfile=k']
    >>> mlflow_server_with_opts(["--gunicorn-opts", "-t 60"], "--gunicorn-opts", "--certfile=c")
    ['--gunicorn-opts', '-t 60 --certfile=c']
    """
    out = [str(a) for a in args]
    for index, arg in enumerate(out):
        if arg == option and index + 1 < len(out):
            out[index + 1] = f"{out[index + 1]} {extra}".strip()
            return out
        if arg.startswith(option + "="):
            out[index] = f"{arg} {extra}"
            return out
    return [*out, option, extra]


def mlflow_server_mask(value: Any) -> str:
    """A URI with the password of its user info (and the user) masked: `scheme://***@host`."""
    return _USERINFO.sub("://***@", str(value))


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "mlflow_server_with_opts": mlflow_server_with_opts,
            "mlflow_server_mask": mlflow_server_mask,
        }
