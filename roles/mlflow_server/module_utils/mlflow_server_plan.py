"""The deploy plan: one dict the role's tasks act on, computed from the validated inputs
and what the host reported.

`plan(inputs, host=None)` gives the decisions the inputs alone fix (backend, auth mode,
server options, paths, health URL): the validation reads them. `plan(inputs, host, read,
render)` completes them with the host's report (its names, CPUs and base image) and the
controller's files: the image's tag, the container's command, environment, mounts and
ports, every path a deploy makes (with mode, owner and content's sha1) and the digest of
the deploy's record. Each concern is a module of its own (backends, auth, options,
database, image); this one puts them together.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import mlflow_server_auth as auth
import mlflow_server_backends as backends
import mlflow_server_database as database
import mlflow_server_image as image
import mlflow_server_options as options

CONTAINER_DATA_DIR = "/mlflow"
CONTAINER_PORT = 5005
# The exporter's per-worker files, in the container's scratch /tmp (the entrypoint
# empties the directory at each start).
METRICS_DIR = "/tmp/mlflow-metrics"
SECRETS_DIR = "/run/secrets"
DEFAULT_ARTIFACT_URL = "./mlruns"
# The role's results, set by its runs: not inputs of the next one.
RESULTS = ("mlflow_server_deployed", "mlflow_server_warnings", "mlflow_server_backup_files")
# What the role is made of: a change of any recreates the deploy.
ROLE_FILES = ("tasks", "templates", "files", "vars", "defaults", "filter_plugins",
              "action_plugins", "module_utils")  # fmt: skip

Render = Callable[[str, Mapping[str, Any], Mapping[str, Any]], str]
flag = options.flag


def _health_url(bind: str, port: int, tls: bool) -> str:
    host = "127.0.0.1" if bind in ("0.0.0.0", "::") else bind
    host = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{host}:{port}/health"


def bind_mounts(files: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": "bind", "source": f["source"], "target": f["target"], "read_only": True}
            for f in files]  # fmt: skip


def _runtime_files(
    inputs: Mapping[str, Any], backend: str, tls: bool, config: str
) -> list[dict[str, str]]:
    """Files the container reads at start, copied from the controller (`src`) to the host
    (`source`) and mounted read-only (`target`)."""
    files = []
    if backend == "GCS":
        files.append({"src": str(inputs.get("mlflow_server_google_application_credentials") or ""),
                      "source": f"{config}/gcs-credentials.json",
                      "target": f"{SECRETS_DIR}/gcs-credentials.json"})  # fmt: skip
    ca_bundle = str(inputs.get("mlflow_server_s3_ca_bundle") or "")
    if backend == "ECS" and ca_bundle:
        files.append({"src": ca_bundle, "source": f"{config}/s3-ca-bundle.pem",
                      "target": f"{SECRETS_DIR}/s3-ca-bundle.pem"})  # fmt: skip
    if tls:
        files += [
            {"src": str(inputs.get("mlflow_server_tls_certificate") or ""),
             "source": f"{config}/tls-certificate.pem", "target": options.TLS_CERTIFICATE},
            {"src": str(inputs.get("mlflow_server_tls_key") or ""),
             "source": f"{config}/tls-key.pem", "target": options.TLS_KEY},
        ]  # fmt: skip
    return files


KEK_FILE = f"{SECRETS_DIR}/crypto-kek-passphrase"


def key_store(inputs: Mapping[str, Any], config: str, uid: int) -> dict[str, Any]:
    """The AI Gateway's key store (3.8.0 on) encrypts provider API keys in the tracking
    database with MLFLOW_CRYPTO_KEK_PASSPHRASE (MLflow's built-in default is for
    development only): a passphrase of the deploy's own, given or generated once, as a
    0600 file the entrypoint hands to the server process. Never removed: without it the
    stored keys cannot be read."""
    if not options.at_least(str(inputs["mlflow_server_version"]), "3.8.0"):
        return {"enabled": False, "env": {}, "mounts": [], "expected": []}
    given = str(inputs.get("mlflow_server_crypto_kek_passphrase") or "")
    host_path = f"{config}/crypto-kek-passphrase"
    return {
        "enabled": True,
        "given": bool(given),
        "host_path": host_path,
        "env": {"MLFLOW_CRYPTO_KEK_PASSPHRASE_FILE": KEK_FILE},
        "mounts": [{"type": "bind", "source": host_path, "target": KEK_FILE, "read_only": True}],
        "expected": [
            {"path": host_path, "state": "file", "mode": "0600", "uid": uid,
             "checksum": hashlib.sha1(given.encode()).hexdigest() if given else None}
        ],
    }  # fmt: skip


def decide(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """What the inputs alone decide."""
    version = str(inputs["mlflow_server_version"])
    data_dir = str(inputs["mlflow_server_data_dir"])
    uid = int(inputs["mlflow_server_container_uid"])
    dirs = {"build": str(inputs["mlflow_server_build_dir"]), "config": f"{data_dir}/config",
            "data": f"{data_dir}/data", "tmp": f"{data_dir}/tmp"}  # fmt: skip
    extra_args = list(inputs.get("mlflow_server_extra_args") or [])
    env = dict(inputs.get("mlflow_server_env") or {})
    bind = str(inputs["mlflow_server_bind_address"])
    port = int(inputs["mlflow_server_port"])
    tls = len(str(inputs.get("mlflow_server_tls_certificate") or "")) > 0
    health_url = _health_url(bind, port, tls)

    settings = {name: inputs.get(name, "") for name in backends.VARIABLES}
    resolution = backends.resolve(
        str(inputs.get("mlflow_server_artifact_backend") or ""),
        str(inputs.get("mlflow_server_artifact_url") or DEFAULT_ARTIFACT_URL),
        {k: "" if v is None else str(v) for k, v in settings.items()},
        "variable",
        DEFAULT_ARTIFACT_URL,
    ).as_dict()
    runtime = backends.runtime_plan(str(resolution["backend"]), settings, dirs["config"], uid)

    auth_mode = auth.mode(inputs, dirs["config"], dirs["data"], CONTAINER_DATA_DIR, uid)
    db = database.part(inputs, dirs["config"], dirs["data"], CONTAINER_DATA_DIR, uid)
    auth_part = auth_mode.part(None)
    server = options.app_server(version, extra_args)
    sqlite_databases = (
        [{"name": "mlflow", "uri": db["tracking_db_path"], "host_path": db["sqlite_host_path"]}]
        if db["is_sqlite"] else []
    ) + (
        [{"name": "basic_auth", "uri": auth_part["db_path"],
          "host_path": auth_part["sqlite_host_path"]}]
        if auth_part["database_is_sqlite"] else []
    )  # fmt: skip
    data_mount = {"type": "bind", "source": dirs["data"], "target": CONTAINER_DATA_DIR}
    # What the strict switch's refusal names: every backend's needed variables.
    needs = "; ".join(
        f"{name} - {', '.join(s.variable for s in backend.needs)}"
        for name, backend in backends.BACKENDS.items()
    )
    # The secrets written into one-line files (validation refuses line breaks and the
    # example vault's placeholders in them).
    secret_names = [
        "mlflow_server_database_uri", *auth.CUSTOM_ADMIN, "mlflow_server_flask_secret_key",
        "mlflow_server_crypto_kek_passphrase",
        *(name for backend in backends.BACKENDS.values() for name in backend.secret_variables),
    ]  # fmt: skip
    return {
        "version": version,
        "secret_inputs": {name: str(inputs.get(name) or "") for name in secret_names},
        "container": {
            "data_dir": CONTAINER_DATA_DIR,
            "port": CONTAINER_PORT,
            "metrics_dir": METRICS_DIR,
        },
        "dirs": dirs,
        "state_file": f"{dirs['config']}/deployed",
        "backup_dir": f"{dirs['data']}/backups",
        "backup_container_dir": f"{CONTAINER_DATA_DIR}/backups",
        "lock_file": image.lock_file(str(inputs["role_path"]), version),
        "backend": {**resolution, "runtime": runtime, "needs": needs},
        "tls_enabled": tls,
        "tls_problem": options.tls_problem(
            str(inputs.get("mlflow_server_tls_certificate") or ""),
            str(inputs.get("mlflow_server_tls_key") or ""),
        )
        if tls
        else "",
        "health_url": health_url,
        "api_url": re.sub(r"/health$", "", health_url),
        "app_server": server,
        "server_args": options.server_args(
            version, extra_args, tls, inputs.get("mlflow_server_gunicorn_threads", 0)
        ),
        "workers_given": options.workers_given(extra_args, env),
        "has_host_check": options.has_host_check(version, extra_args),
        # Reachable beyond this host: published (or listening) on an address other than loopback.
        "beyond_loopback": not re.match(r"^(127[.]|::1$|localhost$)", bind),
        "host_network": str(inputs.get("mlflow_server_network_mode")) == "host",
        "runtime_files": _runtime_files(inputs, str(resolution["backend"]), tls, dirs["config"]),
        "database": db,
        "auth": auth_part,
        "key_store": key_store(inputs, dirs["config"], uid),
        "sqlite_databases": sqlite_databases,
        # The schema jobs (migrate.yml) run with the server's database settings and also
        # migrate the basic-auth database of the ini.
        "db_job": {
            "mounts": [data_mount] + db["mounts"] + auth_part["mounts"][:1],
            "env": {
                **db["env"],
                **{k: v for k, v in auth_part["env"].items() if k == "MLFLOW_AUTH_CONFIG_PATH"},
            },
        },
        "data_mount": data_mount,
        # base.yml and state.yml, with the reason a pull failed in place of {reason}.
        "base_fallback_warning": (
            f"mlflow_server_base_image={inputs['mlflow_server_base_image']} is not on the"
            f" Docker host{{reason}}: building on {inputs['mlflow_server_fallback_base_image']}"
            f" (Debian {inputs['mlflow_server_debian_mirror']}) instead."
        ),
        # Hide the container task's output only when its environment can hold a secret,
        # so that Docker's own error stays readable on a plain deploy.
        "env_has_secrets": len(env) > 0,
    }


def _role_sha256(role_path: str) -> str:
    root = Path(role_path)
    files = sorted(
        p for d in ROLE_FILES for p in (root / d).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )  # fmt: skip
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def complete(
    inputs: Mapping[str, Any],
    decided: dict[str, Any],
    host: Mapping[str, Any],
    read: Callable[[str], bytes],
    render: Render,
) -> dict[str, Any]:
    """The decisions completed with the host's report and the controller's files."""
    plan = dict(decided)
    version = plan["version"]
    uid = int(inputs["mlflow_server_container_uid"])
    dirs = plan["dirs"]
    env_given = dict(inputs.get("mlflow_server_env") or {})
    extra_args = list(inputs.get("mlflow_server_extra_args") or [])

    def render_with(template: str, parts: Mapping[str, Any], variables: Mapping[str, Any]) -> str:
        return render(template, {**plan, **parts}, variables)

    role_path = str(inputs["role_path"])
    plan["image"] = image.part(inputs, role_path, str(host.get("base_image_id") or ""),
                               str(host.get("base_image") or inputs["mlflow_server_base_image"]),
                               read, render_with)  # fmt: skip
    auth_mode = auth.mode(inputs, dirs["config"], dirs["data"], CONTAINER_DATA_DIR, uid)
    plan["auth"] = auth_mode.part(render_with)

    workers = options.workers(
        inputs.get("mlflow_server_workers", 0), plan["app_server"], host.get("ncpu")
    )
    names = options.host_names(
        str(host.get("inventory_hostname") or ""), str(host.get("ansible_host") or ""),
        host.get("machine_names") or [], inputs.get("mlflow_server_lb_hosts") or [],
        host.get("lb_addresses") or [], inputs.get("mlflow_server_lb_names") or [],
    )  # fmt: skip
    host_network = plan["host_network"]
    bind = str(inputs["mlflow_server_bind_address"])
    port = int(inputs["mlflow_server_port"])
    listen_port = port if host_network else CONTAINER_PORT
    metrics = flag(inputs.get("mlflow_server_metrics_enabled"))
    command = (
        ["--host", bind if host_network else "0.0.0.0", "--port", str(listen_port)]
        + plan["auth"]["command"]
        + (["--expose-prometheus", METRICS_DIR] if metrics else [])
        + options.host_check_args(version, extra_args, env_given,
                                  inputs.get("mlflow_server_allowed_hosts") or [],
                                  inputs.get("mlflow_server_cors_allowed_origins") or [], names)
        + (["--workers", str(workers)] if workers > 0 and not plan["workers_given"] else [])
        + plan["server_args"]
    )  # fmt: skip
    # Environment of the container: the seed's variables, resolved, plus the user's own.
    env: dict[str, Any] = {
        "ARTIFACT_BACKEND": plan["backend"]["backend"],
        "ARTIFACT_URL": plan["backend"]["url"],
    }
    env.update(plan["database"]["env"])
    env.update(plan["backend"]["runtime"]["env"])
    if host_network or plan["tls_enabled"]:
        env["MLFLOW_HEALTHCHECK_URL"] = (
            plan["health_url"] if host_network else f"https://127.0.0.1:{CONTAINER_PORT}/health"
        )
    env.update(plan["auth"]["env"])
    env.update(plan["key_store"]["env"])
    if not flag(inputs.get("mlflow_server_telemetry_enabled")):
        env.update({"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"})
    if options.at_least(version, "3.5.0"):
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = str(
            flag(inputs.get("mlflow_server_job_execution"))
        ).lower()
    env.update(env_given)

    runtime_files = plan["runtime_files"]
    runtime_contents = [read(f["src"]) for f in runtime_files]
    mounts = (
        [plan["data_mount"]] + bind_mounts(runtime_files) + plan["auth"]["mounts"]
        + plan["database"]["mounts"] + bind_mounts(plan["backend"]["runtime"]["files"])
        + plan["key_store"]["mounts"]
        + [{"type": "bind", "source": dirs["tmp"], "target": "/tmp"}]
    )  # fmt: skip
    ports = [] if host_network else [f"{bind}:{port}:{CONTAINER_PORT}"]

    # Every path a deploy makes, as it makes it: state, mode, owner and, where the content
    # is known on the controller, its sha1 (find's checksum). state.yml compares the host
    # with this list; the tasks that write these files read the same parts of the plan.
    files: list[dict[str, Any]] = [
        {"path": str(inputs["mlflow_server_data_dir"]), "state": "directory", "mode": "0755",
         "uid": 0},
        {"path": dirs["config"], "state": "directory", "mode": "0700", "uid": 0},
        {"path": dirs["data"], "state": "directory", "mode": "0750", "uid": uid,
         "owner": str(inputs["mlflow_server_container_user"])},
        {"path": dirs["tmp"], "state": "directory", "mode": "0700", "uid": uid},
    ]  # fmt: skip
    if not flag(inputs.get("mlflow_server_image_ship")):
        build = dirs["build"]
        files.append({"path": build, "state": "directory", "mode": "0700", "uid": 0})
        files.append({"path": f"{build}/Dockerfile", "state": "file", "mode": "0644", "uid": 0,
                      "checksum": plan["image"]["dockerfile_checksum"]})  # fmt: skip
        for entry in plan["image"]["context"]:
            path = f"{build}/{entry['dest']}"
            files.append({"path": path, "state": "file", "mode": entry["mode"], "uid": 0,
                          "checksum": entry["checksum"]} if entry["src"]
                         else {"path": path, "state": "absent"})  # fmt: skip
    files += [
        {"path": f["source"], "state": "file", "mode": "0600", "uid": uid,
         "checksum": hashlib.sha1(content).hexdigest()}
        for f, content in zip(runtime_files, runtime_contents, strict=True)
    ]  # fmt: skip
    files += (
        plan["database"]["expected"]
        + plan["backend"]["runtime"]["expected"]
        + plan["auth"]["expected"]
        + plan["key_store"]["expected"]
    )

    runtime_sha256 = hashlib.sha256(b"\0".join(runtime_contents)).hexdigest()
    plan.update(
        workers=workers,
        command=command,
        env=env,
        mounts=mounts,
        published_ports=ports,
        runtime_files_sha256=runtime_sha256,
        files=files,
    )
    # The deploy's record (state.yml, the fast path of a run with nothing to do): a digest
    # of every input, of the role itself and of what the deploy makes.
    record = {
        "inputs": {k: v for k, v in inputs.items() if k != "role_path"},
        "role": _role_sha256(role_path),
        "image": plan["image"]["ref"],
        "command": command,
        "env": env,
        "ports": ports,
        "mounts": mounts,
        "runtime_files": runtime_sha256,
        "paths": files,
    }
    plan["deploy_digest"] = hashlib.sha256(
        json.dumps(record, sort_keys=True, default=str).encode()
    ).hexdigest()
    return plan


def plan(
    inputs: Mapping[str, Any],
    host: Mapping[str, Any] | None = None,
    read: Callable[[str], bytes] | None = None,
    render: Render | None = None,
) -> dict[str, Any]:
    decided = decide(inputs)
    if host is None or read is None or render is None:
        return decided
    return complete(inputs, decided, host, read, render)
