#!/usr/bin/env python3
"""The tracking database as the role's one-off containers see it (mlflow-db in the image).

    mlflow-db status  [--timeout S]  JSON: initialized, current and head schema revision,
                                     whether this MLflow release knows the current one;
                                     the same of the basic-auth database under "auth"
    mlflow-db upgrade [--timeout S]  what `mlflow db upgrade URI` does (to an initialized
                                     database), then the basic-auth database's migrations
    mlflow-db auth-upgrade [--timeout S]
                                     the basic-auth database's migrations only (the
                                     entrypoint's, before the workers of the image on
                                     its own start against a fresh auth database)
    mlflow-db backup --to PATH       a consistent copy of a sqlite database (online)
    mlflow-db gc [--older-than T]    `mlflow gc`: runs deleted in the UI or the API, and
                                     their artifacts, removed for good (in the running
                                     server's container: `docker exec`)

status, upgrade and auth-upgrade first wait up to S seconds (60) for the database to answer.
The URI comes from the file named by DATABASE_URI_FILE, else DATABASE_URI, else the
seed's default sqlite:///mlflow.db: never from the command line, which every user of
the host can read in the process list. Messages show it with the password hidden.
The basic-auth database is the one of the ini MLFLOW_AUTH_CONFIG_PATH names (when set):
migrated here, once, it is not migrated by every worker of the server at once, which
races on a fresh or older schema (two workers creating the same table: one dies, and
gunicorn stops the server).
Uses MLflow's own store helpers, the same across 2.5 - 3.x.
"""

from __future__ import annotations

import argparse
import configparser
import importlib.util
import json
import os
import sqlite3
import sys
import time
from pathlib import Path

import sqlalchemy


def database_uri() -> str:
    path = os.environ.get("DATABASE_URI_FILE")
    if path:
        return Path(path).read_text().strip()
    return os.environ.get("DATABASE_URI") or "sqlite:///mlflow.db"


def auth_config() -> configparser.SectionProxy | None:
    """The server's basic-auth ini (MLFLOW_AUTH_CONFIG_PATH), read as MLflow reads it ("%%")."""
    path = os.environ.get("MLFLOW_AUTH_CONFIG_PATH")
    if not path:
        return None
    config = configparser.ConfigParser()
    config.read(path)
    return config["mlflow"]


def auth_database_uri() -> str | None:
    """The basic-auth database of the server's ini."""
    config = auth_config()
    return config["database_uri"] if config else None


def shown(uri: str) -> str:
    return repr(sqlalchemy.engine.make_url(uri))


def fail(message: str, code: int = 1) -> None:
    print(f"mlflow-db: {message}", file=sys.stderr)
    raise SystemExit(code)


def connect(uri: str, timeout: float, what: str = "tracking database") -> sqlalchemy.engine.Engine:
    engine = sqlalchemy.create_engine(uri, poolclass=sqlalchemy.pool.NullPool)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with engine.connect():
                return engine
        except sqlalchemy.exc.SQLAlchemyError as error:
            if time.monotonic() >= deadline:
                reason = str(getattr(error, "orig", error)).strip().splitlines()[0]
                fail(
                    f"the {what} {shown(uri)} did not accept connections "
                    f"within {timeout:g} s: {reason}",
                    code=3,
                )
            time.sleep(1)


def status(engine: sqlalchemy.engine.Engine, uri: str) -> dict[str, object]:
    from alembic.script import ScriptDirectory
    from mlflow.store.db import utils

    head = utils._get_latest_schema_revision()
    if not sqlalchemy.inspect(engine).has_table("alembic_version"):
        return {"initialized": False, "current": None, "head": head, "known": True}
    current = utils._get_schema_version(engine)
    scripts = ScriptDirectory.from_config(utils._get_alembic_config(uri))
    try:
        known = scripts.get_revision(current) is not None
    except Exception:  # alembic raises its own errors for unknown revisions
        known = False
    return {"initialized": True, "current": current, "head": head, "known": known}


def auth_status(engine: sqlalchemy.engine.Engine, uri: str) -> dict[str, object]:
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from mlflow.server.auth.db import utils

    scripts = ScriptDirectory.from_config(utils._get_alembic_config(uri))
    head = scripts.get_current_head()
    # MLflow 3.6 moved the auth revision to a table of its own (its migrations say which).
    env = (Path(utils.__file__).parent / "migrations/env.py").read_text()
    table = "alembic_version_auth" if "alembic_version_auth" in env else "alembic_version"
    tables = set(sqlalchemy.inspect(engine).get_table_names())
    if table not in tables:
        if "users" not in tables:
            return {"initialized": False, "current": None, "head": head, "known": True}
        # Auth tables of a release before 3.6, which this one stamps, then upgrades.
        return {"initialized": True, "current": "unversioned", "head": head, "known": True}
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": table})
        current = context.get_current_revision()
    try:
        known = scripts.get_revision(current) is not None
    except Exception:  # alembic raises its own errors for unknown revisions
        known = False
    return {"initialized": True, "current": current, "head": head, "known": known}


def backup(uri: str, target: Path) -> None:
    url = sqlalchemy.engine.make_url(uri)
    if url.get_backend_name() != "sqlite" or not url.database:
        fail(f"backup copies sqlite databases only, not {shown(uri)}")
    if not Path(url.database).is_file():
        print(json.dumps({"backup": None, "missing": url.database}))
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"file:{url.database}?mode=ro", uri=True)
    copy = sqlite3.connect(target)
    with copy:
        source.backup(copy)
    copy.close()
    source.close()
    target.chmod(0o600)
    size = target.stat().st_size
    print(json.dumps({"backup": str(target), "source": url.database, "bytes": size}))


def collect_garbage(uri: str, older_than: str | None) -> None:
    """MLflow's own `mlflow gc`, in process (the URI never on a command line). Artifacts
    the server proxies (mlflow-artifacts:/) are deleted through the server itself, on
    loopback as its health check asks it, logged in as the ini's admin with basic-auth."""
    health = os.environ.get("MLFLOW_HEALTHCHECK_URL", "http://127.0.0.1:5005/health")
    os.environ["MLFLOW_TRACKING_URI"] = health.removesuffix("/health")
    os.environ["MLFLOW_TRACKING_INSECURE_TLS"] = "true"  # its own server, on loopback
    config = auth_config()
    if config:
        os.environ["MLFLOW_TRACKING_USERNAME"] = config["admin_username"]
        os.environ["MLFLOW_TRACKING_PASSWORD"] = config["admin_password"]
    from mlflow.cli import gc

    args = ["--backend-store-uri", uri, *(["--older-than", older_than] if older_than else [])]
    gc.main(args=args, prog_name="mlflow gc", standalone_mode=False)


def migrate_auth(engine: sqlalchemy.engine.Engine) -> None:
    """The basic-auth database to the release's head, with MLflow's own migrations."""
    from mlflow.server.auth.db import utils as auth_utils

    auth_utils.migrate_if_needed(engine, "head")


def main() -> None:
    parser = argparse.ArgumentParser(prog="mlflow-db", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("status").add_argument("--timeout", type=float, default=60)
    commands.add_parser("upgrade").add_argument("--timeout", type=float, default=60)
    commands.add_parser("auth-upgrade").add_argument("--timeout", type=float, default=60)
    commands.add_parser("backup").add_argument("--to", type=Path, required=True)
    commands.add_parser("gc").add_argument("--older-than", default=None)
    args = parser.parse_args()

    uri = database_uri()
    if args.command == "gc":
        collect_garbage(uri, args.older_than)
        return
    if args.command == "backup":
        backup(uri, args.to)
        return
    auth_uri = auth_database_uri() if importlib.util.find_spec("mlflow.server.auth.db") else None
    auth_engine = connect(auth_uri, args.timeout, "basic-auth database") if auth_uri else None
    if args.command == "auth-upgrade":
        if auth_engine is not None:
            migrate_auth(auth_engine)
        return
    engine = connect(uri, args.timeout)
    if args.command == "upgrade":
        from mlflow.store.db import utils

        # A fresh tracking database is the server's to create, as MLflow does it.
        if status(engine, uri)["initialized"]:
            utils._upgrade_db(engine)
        if auth_engine is not None:
            migrate_auth(auth_engine)
    report = status(engine, uri)
    if auth_engine is not None:
        report["auth"] = auth_status(auth_engine, auth_uri)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
