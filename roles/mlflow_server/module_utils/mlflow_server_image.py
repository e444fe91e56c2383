"""The server's image: the locked packages a profile leaves out, the build context, and
the tag, named by the digest of everything the image is made of."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mlflow_server_options import flag
from packaging.version import Version

# The server-only image (mlflow_server_image_profile: server) leaves out what MLflow
# declares for training, evaluation and plotting in clients, which the tracking server
# never imports: package -> (first release that needs it in the server or None, why).
# Proven per minor line by tests/releases (a real client round trip against each).
SERVER_LEFT_OUT: dict[str, tuple[str | None, str]] = {
    "pyarrow": (None, "dataset and table logging in clients"),
    "scipy": (None, "model flavors and evaluation in clients"),
    "scikit-learn": (None, "the sklearn flavor and mlflow.evaluate in clients"),
    "joblib": (None, "only scikit-learn needs it"),
    "threadpoolctl": (None, "only scikit-learn needs it"),
    "skops": (None, "the sklearn flavor's safe serialization in clients (3.x)"),
    "matplotlib": (None, "plots mlflow.evaluate and autologging draw in clients"),
    "contourpy": (None, "only matplotlib needs it"),
    "cycler": (None, "only matplotlib needs it"),
    "fonttools": (None, "only matplotlib needs it"),
    "kiwisolver": (None, "only matplotlib needs it"),
    "pillow": (None, "only matplotlib needs it; mlflow.log_image runs in clients"),
    "pyparsing": (None, "only matplotlib needs it"),
    "pandas": ("3.0.0", "3.x servers load GenAI job functions that import it"),
    "numpy": ("3.0.0", "3.x workers import it; pandas needs it"),
}


def left_out(version: str, profile: str = "server") -> list[str]:
    """The locked packages the image of this MLflow release and profile leaves out."""
    if profile != "server":
        return []
    release = Version(str(version))
    return sorted(
        name
        for name, (needed_from, _why) in SERVER_LEFT_OUT.items()
        if needed_from is None or release < Version(needed_from)
    )


def lock_file(role_path: str, version: str) -> str:
    return f"{role_path}/files/locks/mlflow-{version}.txt"


def context(inputs: Mapping[str, Any], role_path: str) -> list[dict[str, Any]]:
    """The build context besides the Dockerfile: name in the context, source on the
    controller (None: the file must be absent) and mode."""
    version = str(inputs["mlflow_server_version"])
    metrics = flag(inputs.get("mlflow_server_metrics_enabled"))
    ca_bundle = str(inputs.get("mlflow_server_pip_ca_bundle") or "")
    return [
        {"dest": "entrypoint.sh", "src": f"{role_path}/files/entrypoint.sh", "mode": "0755"},
        {"dest": "requirements.lock", "src": lock_file(role_path, version), "mode": "0644"},
        {"dest": "mlflow-db", "src": f"{role_path}/files/mlflow_db.py", "mode": "0755"},
        {"dest": "mlflow_server_backends.py",
         "src": f"{role_path}/module_utils/mlflow_server_backends.py", "mode": "0644"},
        {"dest": "prometheus.lock", "mode": "0644",
         "src": f"{role_path}/files/prometheus.lock" if metrics else None},
        {"dest": "pip-ca-bundle.pem", "src": ca_bundle or None, "mode": "0644"},
    ]  # fmt: skip


def part(
    inputs: Mapping[str, Any],
    role_path: str,
    base_image_id: str,
    base_image: str,
    read: Callable[[str], bytes],
    render: Callable[[str, Mapping[str, Any], Mapping[str, Any]], str],
) -> dict[str, Any]:
    """The image's tag and reference, its build context with each file's sha1, and the
    rendered Dockerfile's. `read` gives a controller file's bytes, `render` a template of
    the role rendered with the plan so far."""
    version = str(inputs["mlflow_server_version"])
    lock = read(lock_file(role_path, version))
    image: dict[str, Any] = {
        "left_out": left_out(version, str(inputs.get("mlflow_server_image_profile") or "server")),
        "lock_sha256": hashlib.sha256(lock).hexdigest(),
        "base_image": base_image,
        "base_image_id": base_image_id,
    }
    dockerfile = render("Dockerfile.j2", {"image": image}, {}).encode()
    files = context(inputs, role_path)
    for entry in files:
        entry["checksum"] = hashlib.sha1(read(entry["src"])).hexdigest() if entry["src"] else None
    digest = hashlib.sha256()
    for piece in (
        [dockerfile]
        + [read(e["src"]) if e["src"] else b"" for e in files]
        + [base_image_id.encode()]
    ):
        digest.update(hashlib.sha256(piece).digest())
    tag = f"{version}-{digest.hexdigest()[:12]}"
    name = str(inputs["mlflow_server_image_name"])
    return {
        **image,
        "dockerfile_checksum": hashlib.sha1(dockerfile).hexdigest(),
        "context": files,
        "name": name,
        "tag": tag,
        "ref": f"{name}:{tag}",
    }


def ship_ssh_args(given: Sequence[str], compression: bool) -> list[str]:
    """The image archive's transfers: the given ssh_args with SSH compression taken off
    unless asked for. Ansible's default ssh_args have -C, and on a LAN zlib, not the
    network, bounds the copy of an image archive of several hundred MB."""
    if compression:
        return list(given)
    return [
        f"-o Compression=no {re.sub(r'(^| )-C( |$)', ' ', str(args)).strip()}".strip()
        for args in given
    ]
