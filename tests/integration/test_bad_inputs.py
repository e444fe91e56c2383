"""Bad input, given to the role's real entry point (a playbook that applies the role: its
argument spec, then its rules) against the running default deployment: each
case fails with a message that names the variable and the fix, and a fingerprint of the
host taken before and after the run of the cases proves nothing changed: the server's
container and its config, the images of its name, every file, mode and owner under its
data dir, the host's users. The server keeps answering throughout."""

from __future__ import annotations

import atexit
import hashlib
import json
import re
import shutil
import socket
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import docker
import pytest
from conftest import Deployment, assert_no_secret, recap_count, run_playbook, wait_healthy
from inputs import ADMIN, FAKE_SECRETS, REPLICAS, STAND_IN_FILE, TLS, certificate

pytestmark = pytest.mark.default_scenario

ROLE_ONLY = Path(__file__).with_name("role_only.yml")

# Hostile text: spaces, both quotes, a command substitution and a percent sign.
HOSTILE = "x y'\"$(touch /tmp/pwned)%s"

# The scenario's server listens on loopback; these cases open it to every address.
EXPOSED = {"mlflow_server_bind_address": "0.0.0.0"}
SHORT_FLASK_KEY = "fake-short-flask-key"  # pragma: allowlist secret

# Certificates that cannot serve, generated for this run outside the checkout: expired,
# and one whose key is another certificate's.
CERTIFICATES = Path(tempfile.mkdtemp(prefix="bad-inputs-tls-"))
atexit.register(shutil.rmtree, CERTIFICATES, ignore_errors=True)
GOOD_PAIR = certificate(CERTIFICATES, "good")
EXPIRED = certificate(CERTIFICATES, "expired", days=(-30, -2))
MISMATCHED = certificate(CERTIFICATES, "mismatched", key_of="good")

# A port another process listens on for the whole run (this test's own socket).
TAKEN = socket.create_server(("127.0.0.1", 0))
atexit.register(TAKEN.close)
TAKEN_PORT = TAKEN.getsockname()[1]

# id -> (inputs, words the message must hold)
CASES: dict[str, tuple[dict[str, Any], list[str]]] = {
    # The argument spec: types and choices.
    "port-not-a-number": ({"mlflow_server_port": "5005/tcp"},
                          ["mlflow_server_port", "unable to convert to int"]),
    "auth-enabled-not-a-bool": ({"mlflow_server_auth_enabled": "maybe"},
                                ["mlflow_server_auth_enabled", "unable to convert to bool"]),
    "restart-policy-choice": ({"mlflow_server_restart_policy": "sometimes"},
                              ["mlflow_server_restart_policy must be one of",
                               "unless-stopped", "got: sometimes"]),
    "network-mode-choice": ({"mlflow_server_network_mode": "overlay"},
                            ["mlflow_server_network_mode must be one of", "got: overlay"]),
    "keep-images-not-a-number": ({"mlflow_server_keep_images": "all"},
                                 ["mlflow_server_keep_images", "unable to convert to int"]),
    "extra-args-not-a-list": ({"mlflow_server_extra_args": {"--workers": 2}},
                              ["mlflow_server_extra_args", "list"]),
    # The role's rules.
    "port-out-of-range": ({"mlflow_server_port": 70000}, ["mlflow_server_port must be 1-65535"]),
    "no-lock": ({"mlflow_server_version": "9.9.9"},
                ["mlflow_server_version=9.9.9 has no lock file", "scripts/lock_mlflow.py"]),
    "3.17-default-admin": ({"mlflow_server_auth_enabled": True},
                           ["ships no default admin password", "mlflow_server_auth_username",
                            "mlflow_server_auth_password", "mlflow_server_auth_database_url"]),
    # MLflow's published default admin passwords are never deployed.
    "2.13-default-admin": ({"mlflow_server_version": "2.13.0", "mlflow_server_auth_enabled": True},
                           ["ships a published default admin password ('password')",
                            "mlflow_server_auth_username", "mlflow_server_auth_password"]),
    "placeholder-admin-password": ({**ADMIN, "mlflow_server_auth_password":
                                    "CHANGE-ME-to-a-long-password"},
                                   ["mlflow_server_auth_password: the placeholder of the example"]),
    "flask-key-short": ({**ADMIN, "mlflow_server_flask_secret_key": SHORT_FLASK_KEY},
                        ["mlflow_server_flask_secret_key has 20 characters", "32 or more"]),
    "2.22-short-password": ({**ADMIN, "mlflow_server_version": "2.22.0",
                             "mlflow_server_auth_password": "fake-short"},
                            ["12 characters or more", "mlflow_server_auth_password"]),
    "3.17-old-default": ({**ADMIN, "mlflow_server_auth_password": "password1234"},
                         ["refuses MLflow's old default 'password1234'"]),
    "3.3-uvicorn": ({**ADMIN, "mlflow_server_version": "3.3.1"},
                    ["HTTP 500", "3.4.0", "--gunicorn-opts"]),
    "3.6-remote-auth-db": ({**ADMIN, "mlflow_server_version": "3.6.0",
                            "mlflow_server_auth_database_url": "postgresql://u:fake-db-pass@db/auth"},
                           ["3.6.0 cannot open auth", "postgresql://***@db/auth", "3.7.0"]),
    "auth-db-is-tracking-db": ({**ADMIN, "mlflow_server_auth_database_url":
                                "sqlite:////mlflow/mlflow.db"},
                               ["name the same database", "mlflow_server_auth_database_url"]),
    "auth-db-off-the-volume": ({**ADMIN, "mlflow_server_auth_database_url": "sqlite:////tmp/a.db"},
                               ["outside", "sqlite:////mlflow/basic_auth.db"]),
    "app-name-in-extra-args": ({"mlflow_server_extra_args": ["--app-name", "basic-auth"]},
                               ["must not carry --app-name", "mlflow_server_auth_enabled"]),
    "port-in-extra-args": ({"mlflow_server_extra_args": ["--port", "6000"]},
                           ["set mlflow_server_port and mlflow_server_bind_address instead"]),
    "metrics-in-extra-args": ({"mlflow_server_extra_args": ["--expose-prometheus", "/tmp/m"]},
                              ["--expose-prometheus", "set mlflow_server_metrics_enabled=true"]),
    "workers-negative": ({"mlflow_server_workers": -2}, ["mlflow_server_workers=-2 must be 0"]),
    "auth-cache-negative": ({"mlflow_server_auth_cache_ttl": -1},
                            ["mlflow_server_auth_cache_ttl=-1 must be 0"]),
    "workers-chosen-twice": ({"mlflow_server_workers": 2,
                              "mlflow_server_env": {"MLFLOW_WORKERS": "3"}},
                             ["mlflow_server_workers=2", "MLFLOW_WORKERS in mlflow_server_env",
                              "keep one of the three"]),
    "mysql-without-driver": ({"mlflow_server_database_uri": "mysql://u:fake-db-pass@db/mlflow"},
                             ["mlflow_server_database_uri must be", "mysql+pymysql://"]),
    "sqlite-off-the-volume": ({"mlflow_server_database_uri": "sqlite:////var/lib/x.db"},
                              ["survives the container"]),
    "one-image-kept": ({"mlflow_server_keep_images": 1}, ["mlflow_server_keep_images=1"]),
    "replicas-on-sqlite": ({**REPLICAS, "mlflow_server_database_uri": "sqlite:///mlflow.db"},
                           ["mlflow_server_database_uri=sqlite", "mlflow_server_replicated",
                            "PostgreSQL/MySQL"]),
    "replicas-local-artifacts": ({**REPLICAS, "mlflow_server_artifact_backend": ""},
                                 ["the artifacts (local storage", "S3 or GCS"]),
    "replicas-without-key-store-passphrase": (
        {**REPLICAS, "mlflow_server_crypto_kek_passphrase": ""},
        ["the AI Gateway key store passphrase", "one mlflow_server_crypto_kek_passphrase"]),
    "azure-strict-without-connection-string": ({
        "mlflow_server_artifact_backend": "AZURE", "mlflow_server_artifact_backend_strict": True,
        "mlflow_server_artifact_url": "wasbs://mlflow@account.blob.core.windows.net/a"},
        ["needs mlflow_server_azure_storage_connection_string", "does not fall back"]),
    "azure-url-without-account": ({
        "mlflow_server_artifact_backend": "AZURE", "mlflow_server_artifact_url": "wasbs://mlflow/a",
        "mlflow_server_azure_storage_connection_string": "AccountName=a;AccountKey=fake-db-pass"},
        ["mlflow_server_artifact_url=wasbs://mlflow/a is not an AZURE URL",
         "wasbs://CONTAINER@ACCOUNT.blob.core.windows.net/PATH"]),
    "replicas-s3-without-key": ({**REPLICAS, "mlflow_server_aws_secret_access_key": ""},
                                ["needs mlflow_server_aws_secret_access_key"]),
    "replicas-sqlite-auth-db": ({**REPLICAS, **ADMIN}, ["the auth database"]),
    "replicas-unknown-build-host": ({**REPLICAS, "mlflow_server_build_host": "nowhere"},
                                    ["mlflow_server_build_host=nowhere"]),
    "auth-db-is-tracking-postgres": ({**ADMIN, **REPLICAS, "mlflow_server_auth_database_url":
                                      REPLICAS["mlflow_server_database_uri"]},
                                     ["name the same database", "postgresql://***@db:5432/mlflow"]),
    "pip-index-with-token": ({"mlflow_server_pip_index_url":
                              "https://ci:fake-db-pass@pypi.invalid/simple"},
                             ["mlflow_server_pip_index_url carries credentials"]),
    "tls-without-key": ({"mlflow_server_tls_certificate": STAND_IN_FILE},
                        ["needs both mlflow_server_tls_certificate and mlflow_server_tls_key"]),
    "tls-missing-file": ({"mlflow_server_tls_certificate": "/nonexistent/cert.pem",
                          "mlflow_server_tls_key": STAND_IN_FILE},
                         ["/nonexistent/cert.pem", "PEM files on the controller"]),
    "tls-under-waitress": ({**TLS, "mlflow_server_extra_args": ["--waitress-opts", "--threads 4"]},
                           ["(--waitress-opts in mlflow_server_extra_args) serves no TLS"]),
    "tls-key-of-another-certificate": ({"mlflow_server_tls_certificate": str(MISMATCHED[0]),
                                        "mlflow_server_tls_key": str(MISMATCHED[1])},
                                       ["mlflow_server_tls_key is not the key of",
                                        "mlflow_server_tls_certificate=", "Nothing was changed"]),
    "tls-expired-certificate": ({"mlflow_server_tls_certificate": str(EXPIRED[0]),
                                 "mlflow_server_tls_key": str(EXPIRED[1])},
                                [f"mlflow_server_tls_certificate={EXPIRED[0]} expired on",
                                 "a current PEM certificate"]),
    # Runtime faults found before anything changes.
    "port-taken-by-another-process": ({"mlflow_server_port": TAKEN_PORT},
                                      [f"Another process listens on 127.0.0.1:{TAKEN_PORT}",
                                       "mlflow_server_port", "the running server keeps serving"]),
    # Closed by default: another address without auth and TLS needs the explicit switch.
    "open-by-default": (EXPOSED, ["mlflow_server_bind_address=0.0.0.0", "with no authentication",
                                  "mlflow_server_auth_enabled", "127.0.0.1",
                                  "mlflow_server_exposure_strict=false"]),
    "strict-open-server": ({**EXPOSED, "mlflow_server_exposure_strict": True},
                           ["with no authentication", "mlflow_server_auth_enabled"]),
    "strict-auth-in-clear": ({**ADMIN, **EXPOSED, "mlflow_server_exposure_strict": True},
                             ["with basic-auth over plain HTTP", "mlflow_server_tls_certificate"]),
    # Hostile text in every value that reaches a file, the environment, the entrypoint
    # or a file name. (Hostile admin passwords are served: the auth scenario's.)
    "line-break-in-database-uri": ({"mlflow_server_database_uri":
                                    "postgresql://u:fake-db-pass@db/mlflow\nx=1"},
                                   ["mlflow_server_database_uri must be one line"]),
    "line-break-in-auth-db-url": ({**ADMIN, "mlflow_server_auth_database_url":
                                   "postgresql://u:fake-db-pass@db/auth\n[x]"},
                                  ["mlflow_server_auth_database_url must be one line"]),
    "line-break-in-admin-name": ({**ADMIN, "mlflow_server_auth_username": "admin\n[x]"},
                                 ["mlflow_server_auth_username must be one line"]),
    "line-break-in-s3-secret": ({**REPLICAS, "mlflow_server_aws_secret_access_key":
                                 "fake-password-long-enough\n[evil]"},
                                ["mlflow_server_aws_secret_access_key must be one line"]),
    "hostile-container-name": ({"mlflow_server_container_name": HOSTILE},
                               ["mlflow_server_container_name=", "is not a Docker container name"]),
    "hostile-image-name": ({"mlflow_server_image_name": HOSTILE},
                           ["mlflow_server_image_name=", "is not a Docker image name"]),
    "hostile-data-dir": ({"mlflow_server_data_dir": f"/var/lib/{HOSTILE}"},
                         ["mlflow_server_data_dir=", "is not an absolute path"]),
    "relative-data-dir": ({"mlflow_server_data_dir": "var/lib/mlflow"},
                          ["mlflow_server_data_dir=\"var/lib/mlflow\" is not an absolute path"]),
    "hostile-bind-address": ({"mlflow_server_bind_address": "0.0.0.0;id"},
                             ["mlflow_server_bind_address=", "is not an IP address"]),
    "hostile-container-user": ({"mlflow_server_container_user": HOSTILE},
                               ["mlflow_server_container_user=", "is not a system user name"]),
    "hostile-artifact-url": ({"mlflow_server_artifact_url": f"s3://bucket/{HOSTILE}"},
                             ["mlflow_server_artifact_url=", "is not one word"]),
    "hostile-s3-endpoint": ({"mlflow_server_s3_endpoint_url": f"http://s3 {HOSTILE}"},
                            ["mlflow_server_s3_endpoint_url=", "is not empty or an http(s) URL"]),
    "hostile-memory-limit": ({"mlflow_server_memory_limit": "4 GB"},
                             ["mlflow_server_memory_limit=\"4 GB\"", "e.g. 4g"]),
    "hostile-log-size": ({"mlflow_server_log_max_size": "10%"},
                         ["mlflow_server_log_max_size=\"10%\"", "e.g. 10m"]),
    "hostile-allowed-host": ({"mlflow_server_allowed_hosts": ["mlflow.example.com", HOSTILE]},
                             ["mlflow_server_allowed_hosts=", "one name or origin per list item"]),
    "hostile-env-name": ({"mlflow_server_env": {"GOOD": "1", "BAD NAME$(id)": "1"}},
                         ["mlflow_server_env=", "is not a dict whose keys are environment"]),
}  # fmt: skip


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fingerprint(deployment: Deployment) -> dict[str, Any]:
    """What a deploy could change on the host: the server's containers (its own and the
    one-off jobs named after it) with their config, the images of its name, every file
    (content, mode, owner) under its data dir but the server's scratch /tmp, and the
    host's users and groups."""
    client = docker.from_env()
    containers = {}
    for container in client.containers.list(all=True, ignore_removed=True):
        attrs = container.attrs
        if not attrs["Name"].lstrip("/").startswith(deployment.container):
            continue
        containers[attrs["Name"]] = {
            "id": attrs["Id"],
            "image": attrs["Image"],
            "started": attrs["State"]["StartedAt"],
            "running": attrs["State"]["Running"],
            "restarts": attrs["RestartCount"],
            "config": {k: attrs["Config"].get(k) for k in ("Env", "Cmd", "Labels", "User")},
            "host_config": attrs["HostConfig"],
        }
    name = deployment.image.split(":", 1)[0]
    # Only this name's tags: an image of identical layers built by another scenario at the
    # same time gets the same ID and that scenario's tags.
    images = sorted(
        (image.id, sorted(t for t in image.tags if t.rsplit(":", 1)[0] == name))
        for image in client.images.list(name=name)
    )
    root = deployment.data_dir.parent
    files = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if relative.parts[0] == "tmp":
            continue
        stat = path.lstat()
        files[str(relative)] = (
            oct(stat.st_mode), stat.st_uid, stat.st_gid,
            _sha256(path) if path.is_file() and not path.is_symlink() else "",
        )  # fmt: skip
    users = {p: _sha256(Path(p)) for p in ("/etc/passwd", "/etc/group")}
    return {"containers": containers, "images": images, "files": files, "users": users}


# A failure as Ansible's default callback prints it: the error line (its message, also
# for a no_log task, whose result is censored), then the host (and the loop item) and
# its result, indented.
FAILED = re.compile(r"(?:fatal|failed): \[(?P<host>[^\]]+)\](?: \(item=.*\))?(?:: FAILED!)? =>")


def failures(stdout: str) -> dict[str, str]:
    """Each host's failure messages in a playbook's output."""
    texts: dict[str, str] = {}
    error, host = "", ""
    for line in stdout.splitlines():
        if line.startswith("[ERROR]: "):
            error, host = line, ""
        elif match := FAILED.match(line):
            host = match["host"]
            texts[host] = texts.get(host, "") + f" {error} {line}"
            error = ""
        elif host and line.startswith(" "):
            texts[host] += f" {line}"
        else:
            host = ""
    return texts


@pytest.fixture(scope="module")
def outcomes(
    deployment: Deployment, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    """Every case in one `ansible-playbook` run of the role's entry point: each case is a
    host of its own in the scenario's group (its inputs as host variables, over the
    scenario's group variables, on this machine), so Ansible starts once instead of once
    per case (52 runs took 189 s of the default scenario, one takes about 40 s). The
    fingerprint is taken before and after that run: a case that changed anything fails
    every case."""
    wait_healthy(deployment.url)
    hosts = {
        f"case-{name}": {"mlflow_server_replicated": False, **inputs}
        for name, (inputs, _) in CASES.items()
    }
    cases = tmp_path_factory.mktemp("bad-inputs") / "cases.yml"
    cases.touch(mode=0o600)
    # JSON is YAML: the inputs keep their types (a dict where a list is due, etc.).
    cases.write_text(json.dumps({"mlflow_servers": {"hosts": hosts}}))
    before = fingerprint(deployment)
    result = run_playbook(
        replace(deployment, host="case-*"), str(ROLE_ONLY), None, "-i", str(cases), "--forks", "8",
        # Failures on stdout beside the rest, whatever the ansible.cfg (Molecule's prints
        # them on stderr).
        env={"ANSIBLE_DISPLAY_FAILED_STDERR": "False"},
    )  # fmt: skip
    after = fingerprint(deployment)
    texts = failures(result.stdout)
    return {
        name: {"result": result, "failed": recap_count(result.stdout, f"case-{name}", "failed"),
               "text": " ".join(texts.get(f"case-{name}", "").split()),
               "before": before, "after": after}
        for name in CASES
    }  # fmt: skip


def test_there_are_at_least_25_cases() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_refused_and_nothing_changes(
    name: str, deployment: Deployment, outcomes: dict[str, dict[str, Any]]
) -> None:
    outcome = outcomes[name]
    result, text = outcome["result"], outcome["text"]
    assert outcome["failed"] > 0, f"{name} was deployed: {result.stdout[-2000:]}"
    for words in CASES[name][1]:
        assert words in text, text[-2000:] or result.stdout[-2000:] + result.stderr[-2000:]
    assert_no_secret(result.stdout + result.stderr, *FAKE_SECRETS)
    before, after = outcome["before"], outcome["after"]
    for part in before:
        assert before[part] == after[part], f"{name} changed the host's {part}"
    assert not Path("/tmp/pwned").exists()
    wait_healthy(deployment.url, timeout=5)
