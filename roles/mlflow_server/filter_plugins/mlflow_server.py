"""Filters of the mlflow_server role: data shaping that Jinja reads badly."""

from __future__ import annotations

import re
from datetime import UTC, datetime
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


def mlflow_server_published_ports(port_bindings: dict[str, Any] | None) -> list[str]:
    """docker_container's published_ports from `docker inspect`'s HostConfig.PortBindings:
    a container put back is published where it was, not where the failed deploy wanted.

    >>> mlflow_server_published_ports({"5005/tcp": [{"HostIp": "127.0.0.1", "HostPort": "5005"}]})
    ['127.0.0.1:5005:5005/tcp']
    """
    ports = []
    for container_port, bindings in sorted((port_bindings or {}).items()):
        for binding in bindings or []:
            host_ip = binding.get("HostIp") or ""
            if ":" in host_ip:
                host_ip = f"[{host_ip}]"
            host = (
                f"{host_ip}:{binding.get('HostPort', '')}"
                if host_ip
                else binding.get("HostPort", "")
            )
            ports.append(f"{host}:{container_port}")
    return ports


def mlflow_server_mounts(host_config_mounts: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """docker_container's mounts from `docker inspect`'s HostConfig.Mounts."""
    return [
        {
            "type": m.get("Type", "bind"),
            "source": m["Source"],
            "target": m["Target"],
            "read_only": bool(m.get("ReadOnly", False)),
        }
        for m in host_config_mounts or []
    ]


def mlflow_server_health_url_of(container: dict[str, Any], container_port: int | str) -> str:
    """The /health URL of a container as it was created (`docker inspect`): its published
    port, or with host networking its own --host/--port; HTTPS when it was given a
    certificate. Loopback stands in for an all-addresses bind."""
    command = [str(a) for a in (container.get("Config") or {}).get("Cmd") or []]
    host_config = container.get("HostConfig") or {}

    def after(flag: str, default: str) -> str:
        return command[command.index(flag) + 1] if flag in command[:-1] else default

    if host_config.get("NetworkMode") == "host":
        host, port = after("--host", "127.0.0.1"), after("--port", str(container_port))
    else:
        bindings = (host_config.get("PortBindings") or {}).get(f"{container_port}/tcp") or [{}]
        host, port = bindings[0].get("HostIp") or "", bindings[0].get("HostPort") or ""
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    scheme = "https" if any("certfile" in arg for arg in command) else "http"
    return f"{scheme}://{host}:{port}/health"


def _uptime(started: str, now: datetime) -> str:
    """`2d 3h 4m` from docker's StartedAt (RFC 3339 with nanoseconds)."""
    stamp = datetime.fromisoformat(re.sub(r"(\.\d{6})\d*", r"\1", started).replace("Z", "+00:00"))
    minutes = max(int((now - stamp).total_seconds()) // 60, 0)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    return " ".join(f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h")) if n) + f" {minutes}m"


def mlflow_server_status(
    info: dict[str, Any],
    health: dict[str, Any] | None,
    backups: list[dict[str, Any]],
    database_kind: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """One server's report from docker_container_info, the uri module's answer of its
    /health and ansible.builtin.find's backup files. No credential: the environment is
    read for the artifact backend and URL only.

    >>> mlflow_server_status({"exists": False}, None, [], "sqlite")["state"]
    'absent'
    """
    container = info.get("container") or {}
    if not info.get("exists") or not container:
        return {"state": "absent", "health": "no container", "last_backup": _last(backups)}
    config, state = container.get("Config") or {}, container.get("State") or {}
    env = dict(item.split("=", 1) for item in config.get("Env") or [] if "=" in item)
    command = [str(a) for a in config.get("Cmd") or []]
    url = mlflow_server_health_url_of(container, 5005).removesuffix("/health")
    health = health or {}
    if not state.get("Running"):
        answer = "not running"
    elif health.get("status") == 200:
        answer = "OK"
    else:
        answer = f"failing: {health.get('status', -1)} {health.get('msg', '')}".strip()
    return {
        "state": state.get("Status", "unknown"),
        "health": answer,
        "url": url,
        "mlflow_version": (config.get("Labels") or {}).get("io.github.mlflow-server.version", ""),
        "image": config.get("Image", ""),
        "image_id": str(container.get("Image", ""))[:19],
        "up": _uptime(state["StartedAt"], now or datetime.now(UTC)) if state.get("Running") else "",
        "restarts": container.get("RestartCount", 0),
        "artifact_backend": env.get("ARTIFACT_BACKEND") or "local",
        "artifact_url": env.get("ARTIFACT_URL", "./mlruns"),
        "database": database_kind,
        "auth": "basic-auth" if "basic-auth" in command else "none",
        "tls": url.startswith("https://"),
        "last_backup": _last(backups),
    }


def _last(backups: list[dict[str, Any]]) -> str:
    if not backups:
        return "none"
    newest = max(backups, key=lambda f: f.get("mtime", 0))
    when = datetime.fromtimestamp(newest.get("mtime", 0), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{newest['path']} ({when})"


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "mlflow_server_with_opts": mlflow_server_with_opts,
            "mlflow_server_mask": mlflow_server_mask,
            "mlflow_server_published_ports": mlflow_server_published_ports,
            "mlflow_server_mounts": mlflow_server_mounts,
            "mlflow_server_health_url_of": mlflow_server_health_url_of,
            "mlflow_server_status": mlflow_server_status,
        }
