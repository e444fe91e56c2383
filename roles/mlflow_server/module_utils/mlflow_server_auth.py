"""Authentication modes of the server. Each mode says what the server is started with
(arguments, environment, read-only mounts), which files the role writes for it and what
the deploy summary calls it. `none` and `basic-auth` (MLflow's own) are here; a new mode
(OIDC) is one more class in MODES."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mlflow_server_options import flag
from packaging.version import Version

# A template of the role rendered with parts of the plan and template variables.
Render = Callable[[str, Mapping[str, Any], Mapping[str, Any]], str]

SECRETS_DIR = "/run/secrets"
INI = f"{SECRETS_DIR}/basic_auth.ini"
FLASK_KEY = f"{SECRETS_DIR}/flask-secret-key"
# basic-auth's three inputs of the seed: all given -> that admin and NO_PERMISSIONS for
# the rest; otherwise MLflow's default admin of the release and READ.
CUSTOM_ADMIN = (
    "mlflow_server_auth_username",
    "mlflow_server_auth_password",
    "mlflow_server_auth_database_url",
)


def release_password(version: str) -> str:
    """MLflow's built-in admin password of a release ('' from 3.16.1: none)."""
    release = Version(str(version))
    if release < Version("2.22.0"):
        return "password"
    return "password1234" if release < Version("3.16.1") else ""


def sqlite_in_container(uri: str, container_dir: str) -> str:
    """A sqlite URI with its path as the container sees it: a relative path is relative to
    the server's working dir, the data volume. Other URIs unchanged.

    >>> sqlite_in_container("sqlite:///mlflow.db", "/mlflow")
    'sqlite:////mlflow/mlflow.db'
    """
    uri = str(uri)
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return f"sqlite:///{container_dir.rstrip('/')}/{uri[len('sqlite:///') :]}"
    return uri


def host_path(path: str, container_dir: str, host_dir: str) -> str:
    """Where a file of the data volume is on the host, from its path in the container or
    a sqlite URI; '' for what is not on the volume.

    >>> host_path("sqlite:///db/mlflow.db", "/mlflow", "/srv/m/data")
    '/srv/m/data/db/mlflow.db'
    """
    path = str(path)
    if path.startswith("sqlite:"):
        path = sqlite_in_container(path, container_dir).removeprefix("sqlite:///")
    root = container_dir.rstrip("/") + "/"
    return f"{host_dir.rstrip('/')}/{path[len(root) :]}" if path.startswith(root) else ""


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


@dataclass
class NoAuth:
    """No authentication (the seed's default): the server serves anyone who reaches it."""

    name = "none"

    def describe(self) -> str:
        return "none"

    def part(self, render: Render | None) -> dict[str, Any]:
        return {
            "mode": self.name, "enabled": False, "summary": self.describe(),
            "command": [], "env": {}, "mounts": [], "expected": [], "config_sha256": "",
            "custom": False, "missing": [], "database_is_sqlite": False, "admin_username": "",
            "database_uri": "", "db_path": "", "sqlite_host_path": "",
        }  # fmt: skip


@dataclass
class BasicAuth:
    """MLflow's basic-auth app (`--app-name basic-auth`): its ini and the Flask session
    key as 0600 files under config/, mounted read-only."""

    inputs: Mapping[str, Any]
    config_dir: str
    data_dir: str
    container_data_dir: str
    uid: int
    name = "basic-auth"

    def describe(self, admin: str) -> str:
        return f"basic-auth, admin {admin}"

    def part(self, render: Render | None) -> dict[str, Any]:
        given = {name: str(self.inputs.get(name) or "") for name in CUSTOM_ADMIN}
        missing = [name for name, value in given.items() if not value]
        custom = not missing
        version = str(self.inputs["mlflow_server_version"])
        builtin = release_password(version)
        admin = given["mlflow_server_auth_username"] if custom else "admin"
        password = given["mlflow_server_auth_password"] if custom else builtin
        # An absolute path on the data volume, never the working dir of a future image.
        database_uri = (
            given["mlflow_server_auth_database_url"]
            if custom
            else f"sqlite:///{self.container_data_dir}/basic_auth.db"
        )
        db_path = sqlite_in_container(database_uri, self.container_data_dir)
        ini_host = f"{self.config_dir}/basic_auth.ini"
        key_host = f"{self.config_dir}/flask-secret-key"
        flask_key = str(self.inputs.get("mlflow_server_flask_secret_key") or "")
        part: dict[str, Any] = {
            "mode": self.name,
            "enabled": True,
            "summary": self.describe(admin),
            "command": ["--app-name", "basic-auth"],
            "env": {
                "MLFLOW_AUTH_CONFIG_PATH": INI,
                "MLFLOW_FLASK_SERVER_SECRET_KEY_FILE": FLASK_KEY,
            },
            "mounts": [
                {"type": "bind", "source": ini_host, "target": INI, "read_only": True},
                {"type": "bind", "source": key_host, "target": FLASK_KEY, "read_only": True},
            ],
            "custom": custom,
            "missing": missing,
            "release_password": builtin,
            "admin_username": admin,
            "admin_password": password,
            "database_uri": database_uri,
            "db_path": db_path,
            "sqlite_host_path": host_path(database_uri, self.container_data_dir, self.data_dir),
            "database_is_sqlite": db_path.startswith("sqlite:"),
            "default_permission": "NO_PERMISSIONS" if custom else "READ",
            "ini_host_path": ini_host,
            "ini_container_path": INI,
            "flask_key_host_path": key_host,
            "config_sha256": "",
            "expected": [],
        }
        if render is not None:
            # What a change of recreates the container: the ini without its password (a
            # new password is rotated through the API, with no restart).
            part["config_sha256"] = hashlib.sha256(
                render(
                    "basic_auth.ini.j2", {"auth": part}, {"__mlflow_server_auth_ini_password": ""}
                ).encode()
            ).hexdigest()
            ini = render(
                "basic_auth.ini.j2", {"auth": part}, {"__mlflow_server_auth_ini_password": password}
            )
            part["expected"] = [
                {"path": ini_host, "state": "file", "mode": "0600", "uid": self.uid,
                 "checksum": _sha1(ini)},
                {"path": key_host, "state": "file", "mode": "0600", "uid": self.uid,
                 "checksum": _sha1(flask_key) if flask_key else None},
            ]  # fmt: skip
        return part


def mode(inputs: Mapping[str, Any], config_dir: str, data_dir: str, container_data_dir: str,
         uid: int) -> NoAuth | BasicAuth:  # fmt: skip
    """The auth mode the inputs ask for."""
    if not flag(inputs.get("mlflow_server_auth_enabled")):
        return NoAuth()
    return BasicAuth(inputs, config_dir, data_dir, container_data_dir, uid)
