"""The deploy plan's modules (roles/mlflow_server/module_utils/) as plain Python: each
concern's table of rules, and the plan's own promise that every file the container
mounts is one the plan declares (state.yml compares the host with that one list)."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from inputs import ADMIN, FAKE_SECRETS, REPLICAS, certificate

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles/mlflow_server"
sys.path.insert(0, str(ROLE / "module_utils"))

import mlflow_server_auth as auth  # noqa: E402
import mlflow_server_database as database  # noqa: E402
import mlflow_server_options as options  # noqa: E402
import mlflow_server_plan as plan  # noqa: E402

# The defaults that are Jinja in defaults/main.yml, as one host of its own sees them.
HOST_DEFAULTS = {
    "mlflow_server_replicated": False,
    "mlflow_server_image_ship": False,
    "mlflow_server_build_host": "localhost",
    "mlflow_server_build_dir": "/srv/mlflow/build",
    "mlflow_server_lb_hosts": [],
    "mlflow_server_lb_address": "127.0.0.1",
}
HOST = {"inventory_hostname": "vm1", "ncpu": 2, "base_image_id": "sha256:base", "base_image": "b"}


def inputs(**given: Any) -> dict[str, Any]:
    values = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
    values |= HOST_DEFAULTS | {"mlflow_server_data_dir": "/srv/mlflow", "role_path": str(ROLE)}
    return values | given


def render(template: str, parts: Any, variables: Any) -> str:
    """A stand-in for Ansible's templating: what the plan hashes, named and keyed."""
    return f"{template} {sorted(variables.items())} {parts.get('auth', {}).get('admin_username')}"


def full_plan(**given: Any) -> dict[str, Any]:
    return plan.plan(inputs(**given), HOST, lambda p: Path(p).read_bytes(), render)


@pytest.mark.parametrize(
    ("version", "password"),
    [("2.13.0", "password"), ("2.21.3", "password"), ("2.22.0", "password1234"),
     ("3.16.0", "password1234"), ("3.16.1", ""), ("3.17.2", "")],
)  # fmt: skip
def test_mlflows_builtin_admin_password_per_release(version: str, password: str) -> None:
    assert auth.release_password(version) == password


@pytest.mark.parametrize(
    ("uri", "argv", "password_file"),
    [
        ("postgresql://u:a%3Ab%5Cc@db/mlflow",  # pragma: allowlist secret
         ["pg_dump", "--format=custom", "--host=db", "--port=5432", "--username=u",
          "--dbname=mlflow"],
         "*:*:*:*:a\\:b\\\\c\n"),
        ("mysql+pymysql://u:q%22r%5Cs@db:3307/mlflow",  # pragma: allowlist secret
         ["mysqldump", "--single-transaction", "--no-tablespaces", "--host=db", "--port=3307",
          "--user=u", "mlflow"],
         '[client]\npassword="q\\"r\\\\s"\n'),  # pragma: allowlist secret
    ],
)  # fmt: skip
def test_the_dump_command_carries_no_password_and_its_file_escapes_it(
    uri: str, argv: list[str], password_file: str
) -> None:
    dump = database.dump(uri)
    assert [dump["tool"], *dump["options"], *dump["positional"]] == argv
    assert dump["password_file"] == password_file


@pytest.mark.parametrize(
    ("requested", "server", "ncpu", "workers"),
    [(0, "uvicorn", 2, 2), (0, "uvicorn", 16, 4), (0, "uvicorn", None, 4), (0, "gunicorn", 2, 0),
     (3, "gunicorn", 2, 3), (1, "uvicorn", 8, 1)],
)  # fmt: skip
def test_workers_follow_the_docker_hosts_cpus_under_uvicorn(
    requested: int, server: str, ncpu: int | None, workers: int
) -> None:
    assert options.workers(requested, server, ncpu) == workers


def test_allowed_hosts_are_the_names_with_any_port_and_the_private_networks() -> None:
    args = options.host_check_args("3.17.2", [], {}, [], [], ["vm1", "[::1]"])
    assert args[0] == "--allowed-hosts"
    allowed = args[1].split(",")
    assert allowed[:4] == ["vm1", "[::1]", "vm1:*", "[[]::1]:*"]
    assert "10.*" in allowed and "172.31.*" in allowed and "172.32.*" not in allowed
    assert options.host_check_args("3.17.2", [], {}, ["mlflow.example"], [], ["vm1"]) == [
        "--allowed-hosts", "mlflow.example"]  # fmt: skip
    assert (
        options.host_check_args("3.17.2", [], {"MLFLOW_SERVER_ALLOWED_HOSTS": "*"}, [], [], [])
        == []
    )
    assert options.host_check_args("3.4.0", [], {}, [], [], ["vm1"]) == []


@pytest.mark.parametrize(
    ("version", "enabled"), [("3.7.0", False), ("3.8.0", True), ("3.17.2", True)]
)
def test_the_key_store_passphrase_is_planned_from_3_8(version: str, enabled: bool) -> None:
    store = plan.key_store(inputs(mlflow_server_version=version), "/srv/mlflow/config", 10001)
    assert store["enabled"] is enabled
    if enabled:
        assert store["env"] == {"MLFLOW_CRYPTO_KEK_PASSPHRASE_FILE": plan.KEK_FILE}
        assert store["expected"][0]["checksum"] is None  # generated on the host, kept
    given = plan.key_store(
        inputs(mlflow_server_version="3.17.2", mlflow_server_crypto_kek_passphrase="k" * 40),
        "/srv/mlflow/config", 10001,
    )  # fmt: skip
    assert given["expected"][0]["checksum"] == hashlib.sha1(b"k" * 40).hexdigest()


def test_every_file_the_container_mounts_is_one_the_plan_declares() -> None:
    # One host with the replicas' shared stores (tests/inputs.py's plainly fake values).
    planned = full_plan(**(ADMIN | REPLICAS | {"mlflow_server_replicated": False}))
    declared = {f["path"]: f for f in planned["files"]}
    bound = [
        m["source"]
        for m in planned["mounts"]
        if m["source"] not in ("/srv/mlflow/data", "/srv/mlflow/tmp")
    ]
    assert bound and all(declared[source]["state"] == "file" for source in bound), bound
    assert all(declared[source]["mode"] == "0600" for source in bound)
    config = "/srv/mlflow/config"
    assert {
        f"{config}/{n}"
        for n in (
            "database-uri",
            "aws-credentials",
            "basic_auth.ini",
            "flask-secret-key",
            "crypto-kek-passphrase",
        )
    } <= set(bound)
    assert declared[f"{config}/azure-connection-string"]["state"] == "absent"
    assert declared["/srv/mlflow/build/prometheus.lock"]["state"] == "absent"
    assert not any(s in str(v) for s in FAKE_SECRETS for v in planned["env"].values())


def test_the_image_tag_names_the_base_image_and_nothing_else_moves_it() -> None:
    first, again = full_plan(), full_plan()
    other_base = plan.plan(inputs(), HOST | {"base_image_id": "sha256:other"},
                           lambda p: Path(p).read_bytes(), render)  # fmt: skip
    assert first["image"]["tag"] == again["image"]["tag"]
    assert first["deploy_digest"] == again["deploy_digest"]
    assert other_base["image"]["tag"] != first["image"]["tag"]
    assert first["image"]["tag"].startswith(f"{first['version']}-")


def test_a_certificate_and_key_that_cannot_serve_are_named(tmp_path: Path) -> None:
    """The pair validation checks before anything changes: each problem names the
    variable; a good pair, and missing files (another check's), pass."""
    good = certificate(tmp_path, "good")
    expired = certificate(tmp_path, "expired", days=(-10, -1))
    early = certificate(tmp_path, "early", days=(1, 10))
    mismatched = certificate(tmp_path, "mismatched", key_of="good")
    assert options.tls_problem(*map(str, good)) == ""
    assert options.tls_problem("/nonexistent.pem", "/nonexistent.key") == ""
    assert "expired on" in options.tls_problem(*map(str, expired))
    assert "is valid only from" in options.tls_problem(*map(str, early))
    problem = options.tls_problem(*map(str, mismatched))
    assert problem.startswith("mlflow_server_tls_key is not the key of"), problem
    not_pem = options.tls_problem(__file__, str(good[1]))
    assert not_pem == f"mlflow_server_tls_certificate={__file__} is not a PEM certificate"
    assert "not a PEM private key" in options.tls_problem(str(good[0]), __file__)
