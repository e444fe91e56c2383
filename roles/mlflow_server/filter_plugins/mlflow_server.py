"""Filters of the mlflow_server role: data shaping that Jinja reads badly."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_USERINFO = re.compile(r"://[^@/\s]*@")


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


def _module_utils() -> Any:
    """The role's plan modules (module_utils/), loaded by path as its action plugin
    loads them: the seed's rules, shared with the image's entrypoint, and the rest."""
    names = ("mlflow_server_backends", "mlflow_server_options", "mlflow_server_auth",
             "mlflow_server_database", "mlflow_server_image", "mlflow_server_plan")  # fmt: skip
    root = Path(__file__).resolve().parent.parent / "module_utils"
    for name in names:
        if getattr(sys.modules.get(name), "__file__", None) == str(root / f"{name}.py"):
            continue
        spec = importlib.util.spec_from_file_location(name, root / f"{name}.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return [sys.modules[name] for name in names]


BACKENDS, OPTIONS, AUTH, _DATABASE, IMAGE, PLAN = _module_utils()


def mlflow_server_host_path(path: str, container_dir: str, host_dir: str) -> str:
    """Where a file of the data volume is on the host, from its path in the container or
    a sqlite URI; '' for what is not on the volume (module_utils: auth)."""
    return AUTH.host_path(path, container_dir, host_dir)


def mlflow_server_ini_values(text: str, keys: list[str]) -> dict[str, str]:
    """`key = value` lines of basic_auth.ini as the role writes it, for the given keys,
    with configparser's `%%` read back as `%`."""
    values = {}
    for line in str(text).splitlines():
        key, sep, value = line.partition(" = ")
        if sep and key in keys:
            values[key] = value.replace("%%", "%")
    return values


def mlflow_server_log_tail(log: str, lines: int) -> list[str]:
    """The messages of the last `lines` entries of a Docker json-file log (a line that is
    not such an entry as it is)."""
    count = int(lines)
    tail = []
    for line in str(log).splitlines()[-count:] if count > 0 else []:
        try:
            tail.append(str(json.loads(line)["log"]).strip())
        except (ValueError, KeyError, TypeError):
            tail.append(line.strip())
    return tail


def mlflow_server_build_failure(message: str, lines: int) -> dict[str, Any]:
    """A failed docker_image build's message, split into the build's error and the last
    `lines` lines of its output as the build printed them (the module puts the output in
    the message as a Python list of chunks, with the terminal's color codes)."""
    error, _, logs = str(message).partition(", logs: ")
    try:
        chunks = ast.literal_eval(logs) if logs else []
    except (ValueError, SyntaxError):
        chunks = [logs]
    text = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(map(str, chunks)))
    output = [line.rstrip() for line in text.splitlines() if line.strip()]
    last = output[-int(lines) :] if int(lines) > 0 else []
    return {"error": error, "last_lines": last, "text": "\n".join(last)}


def mlflow_server_job_result(output: str) -> Any:
    """What a one-off `mlflow-db` job reported: the JSON of its output's last line."""
    return json.loads(str(output).strip().splitlines()[-1])


def mlflow_server_schema_status(output: str) -> dict[str, Any]:
    """`mlflow-db status`'s report, with the basic-auth database's (none: nothing to do)
    and whether either schema needs an upgrade (`upgrade_needed`)."""
    report = dict(mlflow_server_job_result(output))
    report.setdefault("auth", {"initialized": False, "known": True})
    report["upgrade_needed"] = any(
        db.get("initialized") and db.get("current") != db.get("head")
        for db in (report, report["auth"])
    )
    return report


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


def _image_ref_names(name: str) -> set[str]:
    """The names Docker lists in RepoTags for `name`: `debian` is `debian:latest`, and
    Docker Hub's own prefixes are dropped (`docker.io/library/python:3.11` is `python:3.11`)."""
    ref = str(name)
    if ":" not in ref.rsplit("/", 1)[-1] and "@" not in ref:
        ref += ":latest"
    for prefix in (
        "docker.io/library/",
        "index.docker.io/library/",
        "docker.io/",
        "index.docker.io/",
    ):
        if ref.startswith(prefix):
            ref = ref[len(prefix) :]
            break
    return {ref, str(name)}


def mlflow_server_image_id(images: list[dict[str, Any]] | None, name: str) -> str:
    """The ID of the image `name` among docker_image_info's images ('' when absent).

    >>> mlflow_server_image_id([{"Id": "sha256:1", "RepoTags": ["debian:latest"]}], "debian")
    'sha256:1'
    >>> mlflow_server_image_id([{"Id": "sha256:1", "RepoTags": ["a:1"]}], "a:2")
    ''
    """
    names = _image_ref_names(name)
    for image in images or []:
        if names & set(image.get("RepoTags") or []) or names & set(image.get("RepoDigests") or []):
            return str(image.get("Id", ""))
    return ""


def mlflow_server_base_image_id(
    images: list[dict[str, Any]] | None, base: str, fallback: str, fallback_allowed: bool
) -> str:
    """The base image a build would use now (base.yml's order without pulling): the
    configured one when present, else the fallback built earlier when allowed; '' when a
    build would have to pull or build one."""
    found = mlflow_server_image_id(images, base)
    if not found and fallback_allowed:
        found = mlflow_server_image_id(images, fallback)
    return found


def mlflow_server_drift(
    expected: list[dict[str, Any]],
    files: list[dict[str, Any]] | None,
    container: dict[str, Any] | None,
    image_ref: str,
    images: list[dict[str, Any]] | None,
) -> list[str]:
    """What differs between the host and the deploy the inputs ask for: [] when a deploy
    has nothing to do. `expected` lists paths with `state` (directory, file, absent),
    `mode`, `uid` and the sha1 `checksum` of a file's content (None: any content);
    `files` is ansible.builtin.find's list for them; `container` the container as
    docker_host_info lists it (Image: the reference it was created from, ImageID: the
    image it runs); `images` docker_host_info's images (the server's among them).
    Reasons name paths and fields, never contents."""
    drift: list[str] = []
    container = container or {}
    if not container:
        return ["no container"]
    if container.get("State") != "running":
        drift.append(f"the container is {container.get('State')}, not running")
    if container.get("Image") != image_ref:
        drift.append(f"the container runs {container.get('Image')}, not {image_ref}")
    elif mlflow_server_image_id(images, image_ref) != container.get("ImageID"):
        drift.append(f"{image_ref} is not the image the container runs")
    found = {str(f.get("path")): f for f in files or []}
    for want in expected:
        path = str(want["path"])
        have = found.get(path)
        if want["state"] == "absent":
            if have is not None:
                drift.append(f"{path} is there")
            continue
        if have is None:
            drift.append(f"{path} is missing")
            continue
        kind = "directory" if have.get("isdir") else "file" if have.get("isreg") else "other"
        if kind != want["state"]:
            drift.append(f"{path} is a {kind}, not a {want['state']}")
            continue
        if str(have.get("mode")) != str(want["mode"]):
            drift.append(f"{path} has mode {have.get('mode')}, not {want['mode']}")
        if int(have.get("uid", -1)) != int(want["uid"]) or int(have.get("gid", -1)) != int(
            want["uid"]
        ):
            drift.append(
                f"{path} is owned by {have.get('uid')}:{have.get('gid')}, "
                f"not {want['uid']}:{want['uid']}"
            )
        if want.get("owner") and have.get("pw_name") != want["owner"]:
            drift.append(f"{path}'s owner {want['uid']} is not the host user {want['owner']}")
        if want.get("checksum") and have.get("checksum") != want["checksum"]:
            drift.append(f"{path} has other content")
    return drift


def mlflow_server_ship_ssh_args(given: list[str], compression: bool) -> list[str]:
    """The image archive's transfers' ssh_args (module_utils: image)."""
    return IMAGE.ship_ssh_args(given, compression)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "mlflow_server_mask": mlflow_server_mask,
            "mlflow_server_published_ports": mlflow_server_published_ports,
            "mlflow_server_mounts": mlflow_server_mounts,
            "mlflow_server_health_url_of": mlflow_server_health_url_of,
            "mlflow_server_status": mlflow_server_status,
            "mlflow_server_image_id": mlflow_server_image_id,
            "mlflow_server_base_image_id": mlflow_server_base_image_id,
            "mlflow_server_drift": mlflow_server_drift,
            "mlflow_server_ship_ssh_args": mlflow_server_ship_ssh_args,
            "mlflow_server_host_path": mlflow_server_host_path,
            "mlflow_server_ini_values": mlflow_server_ini_values,
            "mlflow_server_log_tail": mlflow_server_log_tail,
            "mlflow_server_build_failure": mlflow_server_build_failure,
            "mlflow_server_job_result": mlflow_server_job_result,
            "mlflow_server_schema_status": mlflow_server_schema_status,
        }
