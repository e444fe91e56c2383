"""Artifact backends: the seed's fallback rules, written once.

The role resolves the backend at deploy time from its variables (the filter
`mlflow_server_resolve_backend`); the image's entrypoint resolves it at start from the
environment (`python3 mlflow_server_backends.py entrypoint`, which prints shell
assignments). Both read the table below, so they cannot disagree.

A backend serves artifacts when every setting it needs is given; otherwise, or when the
requested backend is empty or unknown, the server stores artifacts locally, and a remote
artifact URL falls back to the default local one. Each fallback says why.

Standard library only: it runs on the controller and in the image's Python.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_URL = "./mlruns"


@dataclass(frozen=True)
class Setting:
    """One setting a backend needs: its environment variable (the image) and the role
    variable that gives it (the role)."""

    env: str
    variable: str


SECRETS_DIR = "/run/secrets"


@dataclass(frozen=True)
class Runtime:
    """What the server's container needs for a backend: environment variables (never a
    secret) and secret files (name -> content), which the role writes 0600 under
    config/ and mounts read-only under /run/secrets/."""

    env: dict[str, str] = field(default_factory=dict)
    secret_files: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Backend:
    """An artifact backend: its name in ARTIFACT_BACKEND / mlflow_server_artifact_backend,
    the URL schemes it serves, the settings it needs, and the secret files it may write
    (named here so that a deploy that moves away from it removes them)."""

    name: str
    schemes: tuple[str, ...] = ()
    needs: tuple[Setting, ...] = field(default_factory=tuple)
    secret_file_names: tuple[str, ...] = ()
    # The role's variables that hold a secret written into those files (one line each).
    secret_variables: tuple[str, ...] = ()
    # The form of a remote URL this backend serves (empty: any), and how to write one.
    url_pattern: str = ""
    url_example: str = ""

    def missing(
        self, given: Mapping[str, str], naming: str, report: Mapping[str, str] | None = None
    ) -> list[str]:
        """The names (`env` or `variable`) of the needed settings not in `given`, which
        is keyed the same way; `report` names a missing one otherwise (once each)."""
        names = [getattr(setting, naming) for setting in self.needs]
        absent = [name for name in names if not str(given.get(name) or "").strip()]
        return list(dict.fromkeys((report or {}).get(name, name) for name in absent))

    def runtime(self, settings: Mapping[str, object]) -> Runtime:
        """The container's environment and secret files from the role's variables."""
        return Runtime()

    def url_problem(self, url: str) -> str:
        """Why `url` is not a URL this backend serves ('' when it is, or is local)."""
        if not url.startswith(REMOTE_SCHEMES) or not self.url_pattern:
            return ""
        if re.fullmatch(self.url_pattern, url):
            return ""
        return f"is not an {self.name} URL: write it as {self.url_example}"


def _flag(value: object) -> bool:
    return str(value).strip().lower() in ("true", "yes", "1", "on")


@dataclass(frozen=True)
class S3Backend(Backend):
    """S3-compatible object storage (Dell ECS, MinIO, Ceph, SeaweedFS, AWS S3). The keys
    go in a boto3 credentials file, so the environment holds none of them."""

    def runtime(self, settings: Mapping[str, object]) -> Runtime:
        env = {
            "AWS_SHARED_CREDENTIALS_FILE": f"{SECRETS_DIR}/aws-credentials",
            "MLFLOW_S3_ENDPOINT_URL": str(settings.get("mlflow_server_s3_endpoint_url") or ""),
            "MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE": str(
                settings.get("mlflow_server_s3_addressing_style") or "path"
            ),
        }
        if settings.get("mlflow_server_s3_region"):
            env["AWS_DEFAULT_REGION"] = str(settings["mlflow_server_s3_region"])
        if _flag(settings.get("mlflow_server_s3_ignore_tls")):
            env["MLFLOW_S3_IGNORE_TLS"] = "true"
        if settings.get("mlflow_server_s3_ca_bundle"):
            env["AWS_CA_BUNDLE"] = f"{SECRETS_DIR}/s3-ca-bundle.pem"
        key_id = settings.get("mlflow_server_aws_access_key_id") or ""
        secret = settings.get("mlflow_server_aws_secret_access_key") or ""
        credentials = f"[default]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"
        return Runtime(env, {"aws-credentials": credentials})


@dataclass(frozen=True)
class GCSBackend(Backend):
    """Google Cloud Storage: the service account's key file is copied from the controller
    (the role's runtime files) and named by GOOGLE_APPLICATION_CREDENTIALS."""

    def runtime(self, settings: Mapping[str, object]) -> Runtime:
        return Runtime({"GOOGLE_APPLICATION_CREDENTIALS": f"{SECRETS_DIR}/gcs-credentials.json"})


@dataclass(frozen=True)
class AzureBackend(Backend):
    """Azure Blob Storage (wasbs://CONTAINER@ACCOUNT.blob.core.windows.net/PATH). MLflow's
    Azure client reads AZURE_STORAGE_CONNECTION_STRING; the entrypoint hands it the
    mounted file's content, so the container's configuration never holds it."""

    def runtime(self, settings: Mapping[str, object]) -> Runtime:
        conn = str(settings.get("mlflow_server_azure_storage_connection_string") or "")
        env = {"AZURE_STORAGE_CONNECTION_STRING_FILE": f"{SECRETS_DIR}/azure-connection-string"}
        return Runtime(env, {"azure-connection-string": conn})


S3 = S3Backend(
    "ECS",
    schemes=("s3",),
    needs=(
        Setting("AWS_ACCESS_KEY_ID", "mlflow_server_aws_access_key_id"),
        Setting("AWS_SECRET_ACCESS_KEY", "mlflow_server_aws_secret_access_key"),
        Setting("MLFLOW_S3_ENDPOINT_URL", "mlflow_server_s3_endpoint_url"),
    ),
    secret_file_names=("aws-credentials",),
    secret_variables=("mlflow_server_aws_access_key_id", "mlflow_server_aws_secret_access_key"),
)
GCS = GCSBackend(
    "GCS",
    schemes=("gs",),
    needs=(
        Setting("GOOGLE_APPLICATION_CREDENTIALS", "mlflow_server_google_application_credentials"),
    ),
)
AZURE = AzureBackend(
    "AZURE",
    schemes=("wasbs",),
    needs=(
        Setting("AZURE_STORAGE_CONNECTION_STRING", "mlflow_server_azure_storage_connection_string"),
    ),
    secret_file_names=("azure-connection-string",),
    secret_variables=("mlflow_server_azure_storage_connection_string",),
    # MLflow's parse_wasbs_uri; a container name is 3-63 lower-case letters, digits and
    # hyphens.
    url_pattern=(
        r"wasbs://[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}@[a-z0-9]+"
        r"\.blob\.core\.(?:windows\.net|chinacloudapi\.cn|usgovcloudapi\.net)(/.*)?"
    ),
    url_example="wasbs://CONTAINER@ACCOUNT.blob.core.windows.net/PATH",
)
BACKENDS: dict[str, Backend] = {backend.name: backend for backend in (S3, GCS, AZURE)}
REMOTE_SCHEMES = tuple(f"{scheme}://" for b in BACKENDS.values() for scheme in b.schemes)
# The role's variables the backends read (the role passes them in; a unit test keeps the
# role's list equal to this one).
VARIABLES = (
    "mlflow_server_aws_access_key_id",
    "mlflow_server_aws_secret_access_key",
    "mlflow_server_s3_endpoint_url",
    "mlflow_server_s3_region",
    "mlflow_server_s3_ignore_tls",
    "mlflow_server_s3_ca_bundle",
    "mlflow_server_s3_addressing_style",
    "mlflow_server_google_application_credentials",
    "mlflow_server_azure_storage_connection_string",
)


@dataclass(frozen=True)
class Resolution:
    backend: str  # a name of BACKENDS, or "" for local storage
    url: str
    missing: list[str]
    reasons: list[str]  # why it fell back to local storage
    problems: list[str] = field(default_factory=list)  # what the role refuses

    def as_dict(self) -> dict[str, object]:
        return {"backend": self.backend, "url": self.url, "missing": self.missing,
                "reasons": self.reasons, "problems": self.problems}  # fmt: skip


def resolve(
    requested: str,
    url: str,
    given: Mapping[str, str],
    naming: str = "variable",
    default_url: str = DEFAULT_URL,
    report: Mapping[str, str] | None = None,
) -> Resolution:
    """The backend in use, the artifact URL it serves, the settings it lacks and why it
    fell back (empty: it did not). `given` holds the settings by their `naming` name:
    `variable` (the role's variables) or `env` (the image's environment); messages name
    them the same way.

    >>> resolve("ecs", "s3://b/a", {}).url
    './mlruns'
    >>> resolve("GCS", "gs://b/a", {"mlflow_server_google_application_credentials": "/k"})
    Resolution(backend='GCS', url='gs://b/a', missing=[], reasons=[], problems=[])
    """
    backend_name = "ARTIFACT_BACKEND" if naming == "env" else "mlflow_server_artifact_backend"
    url_name = "ARTIFACT_URL" if naming == "env" else "mlflow_server_artifact_url"
    key = str(requested or "").strip().upper()
    backend = BACKENDS.get(key)
    missing = backend.missing(given, naming, report) if backend else []
    resolved = key if backend and not missing else ""
    url = str(url)
    resolved_url = default_url if not resolved and url.startswith(REMOTE_SCHEMES) else url
    reasons = []
    if missing:
        reasons.append(f"{backend_name}={requested} needs {', '.join(missing)}")
    if key and not backend:
        known = ", ".join(list(BACKENDS)[:-1]) + " or " + list(BACKENDS)[-1]
        reasons.append(f"{backend_name}={requested} is not {known}")
    if resolved_url != url:
        reasons.append(f"{url_name}={url} is remote but the backend is local")
    problem = BACKENDS[resolved].url_problem(url) if resolved else ""
    problems = [f"{url_name}={url} {problem}"] if problem else []
    return Resolution(resolved, resolved_url, missing, reasons, problems)


def runtime_plan(
    backend: str, settings: Mapping[str, object], config_dir: str, uid: int | str
) -> dict[str, object]:
    """The resolved backend's part of a deploy: the container's environment, the secret
    files to write (`source` under `config_dir`, `target` under /run/secrets, content),
    the secret files of the other backends (to remove), and every one of those paths as
    the host must then show it (0600, the container's `uid`, the content's sha1)."""
    chosen = BACKENDS.get(backend)
    runtime = chosen.runtime(settings) if chosen else Runtime()
    files = [
        {"source": f"{config_dir}/{name}", "target": f"{SECRETS_DIR}/{name}", "content": content}
        for name, content in runtime.secret_files.items()
    ]
    absent = [
        f"{config_dir}/{name}"
        for b in BACKENDS.values()
        for name in b.secret_file_names
        if name not in runtime.secret_files
    ]
    expected = [
        {"path": f["source"], "state": "file", "mode": "0600", "uid": int(uid),
         "checksum": hashlib.sha1(f["content"].encode()).hexdigest()}  # find's checksum
        for f in files
    ] + [{"path": path, "state": "absent"} for path in absent]  # fmt: skip
    return {"env": dict(runtime.env), "files": files, "absent": absent, "expected": expected}


def given_by_environment(env: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The settings the image's environment gives, by environment variable, and the name
    to report for a setting whose stand-in is there but unreadable. S3 keys may come
    from AWS_SHARED_CREDENTIALS_FILE (a boto3 credentials file: the role's way), a
    connection string from AZURE_STORAGE_CONNECTION_STRING_FILE."""
    given, report = dict(env), {}
    stand_ins = {
        "AWS_SHARED_CREDENTIALS_FILE": ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
        "AZURE_STORAGE_CONNECTION_STRING_FILE": ("AZURE_STORAGE_CONNECTION_STRING",),
    }
    for file_name, names in stand_ins.items():
        path = env.get(file_name, "")
        if not path or any(env.get(name) for name in names):
            continue
        if os.access(path, os.R_OK):
            given.update(dict.fromkeys(names, path))
        else:
            report.update(dict.fromkeys(names, f"{file_name}(unreadable)"))
    return given, report


def entrypoint(env: Mapping[str, str], out: object = sys.stdout, err: object = sys.stderr) -> int:
    """The image's start: says on stderr which storage it chose and why, and prints the
    shell assignments the entrypoint evaluates (ARTIFACT_BACKEND, ARTIFACT_URL)."""
    requested = env.get("ARTIFACT_BACKEND", "")
    url = env.get("ARTIFACT_URL") or DEFAULT_URL
    given, report = given_by_environment(env)
    resolution = resolve(requested, url, given, naming="env", report=report)
    for reason in resolution.reasons:
        fix = "using ./mlruns" if reason.startswith("ARTIFACT_URL=") else "local artifact storage"
        print(f"mlflow-entrypoint: {reason}: {fix}", file=err)  # type: ignore[arg-type]
    print(
        f"mlflow-entrypoint: artifact storage: {resolution.backend or 'local'} at {resolution.url}",
        file=err,  # type: ignore[arg-type]
    )
    print(f"ARTIFACT_BACKEND={shlex.quote(resolution.backend)}", file=out)  # type: ignore[arg-type]
    print(f"ARTIFACT_URL={shlex.quote(resolution.url)}", file=out)  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    if sys.argv[1:] != ["entrypoint"]:
        sys.exit("usage: mlflow_server_backends.py entrypoint")
    sys.exit(entrypoint(os.environ))
