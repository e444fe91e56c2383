#!/usr/bin/env python3
"""The tracking database as the role's one-off containers see it (mlflow-db in the image).

    mlflow-db status  [--timeout S]  JSON: initialized, current and head schema revision,
                                     whether this MLflow release knows the current one
    mlflow-db upgrade [--timeout S]  what `mlflow db upgrade URI` does
    mlflow-db backup --to PATH       a consistent copy of a sqlite database (online)

status and upgrade first wait up to S seconds (60) for the database to answer.
The URI comes from the file named by DATABASE_URI_FILE, else DATABASE_URI, else the
seed's default sqlite:///mlflow.db: never from the command line, which every user of
the host can read in the process list. Messages show it with the password hidden.
Uses MLflow's own store helpers, the same across 2.5 - 3.x.
"""

from __future__ import annotations

import argparse
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


def shown(uri: str) -> str:
    return repr(sqlalchemy.engine.make_url(uri))


def fail(message: str, code: int = 1) -> None:
    print(f"mlflow-db: {message}", file=sys.stderr)
    raise SystemExit(code)


def connect(uri: str, timeout: float) -> sqlalchemy.engine.Engine:
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
                    f"the tracking database {shown(uri)} did not accept connections "
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


def main() -> None:
    parser = argparse.ArgumentParser(prog="mlflow-db", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("status").add_argument("--timeout", type=float, default=60)
    commands.add_parser("upgrade").add_argument("--timeout", type=float, default=60)
    commands.add_parser("backup").add_argument("--to", type=Path, required=True)
    args = parser.parse_args()

    uri = database_uri()
    if args.command == "backup":
        backup(uri, args.to)
        return
    engine = connect(uri, args.timeout)
    if args.command == "status":
        print(json.dumps(status(engine, uri)))
    elif args.command == "upgrade":
        from mlflow.store.db import utils

        utils._upgrade_db(engine)
        print(json.dumps(status(engine, uri)))


if __name__ == "__main__":
    main()
