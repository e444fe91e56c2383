"""The tracking database: how the server is given its URI (sqlite in the environment, any
other as a 0600 file the entrypoint reads, since it may hold a password), where sqlite
files are on the host, and the host's dump command of a server database."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from mlflow_server_auth import host_path, sqlite_in_container

URI_FILE = "/run/secrets/database-uri"


def kind(uri: str) -> str:
    """sqlite, postgresql, mysql (the URI's scheme without its driver)."""
    return re.sub(r"^([a-z]+).*$", r"\1", str(uri), flags=re.DOTALL)


def dump(uri: str) -> dict[str, Any]:
    """pg_dump/mysqldump on the host: the tool, its options (the file option is given
    with the backup's file name), the database positional arguments and the content of
    the 0600 file that hands the tool the password (never the command line or the
    environment)."""
    parts = urlsplit(str(uri))
    name = (parts.path or "").lstrip("/")
    user = unquote(parts.username or "")
    password = unquote(parts.password or "")
    if kind(uri) == "postgresql":
        # A password file line (PGPASSFILE): any host, port, database and user.
        escaped = password.replace("\\", "\\\\").replace(":", "\\:")
        return {
            "tool": "pg_dump",
            "options": ["--format=custom", f"--host={parts.hostname}",
                        f"--port={parts.port or 5432}", f"--username={user}", f"--dbname={name}"],
            "file_option": "--file",
            "positional": [],
            "password_file": f"*:*:*:*:{escaped}\n",
        }  # fmt: skip
    # An option file of mysqldump's (--defaults-extra-file); MYSQL_PWD is deprecated.
    quoted = password.replace("\\", "\\\\").replace('"', '\\"')
    return {
        "tool": "mysqldump",
        # Tablespaces need the PROCESS privilege, which an application's user has no need of.
        "options": ["--single-transaction", "--no-tablespaces", f"--host={parts.hostname}",
                    f"--port={parts.port or 3306}", f"--user={user}"],
        "file_option": "--result-file",
        "positional": [name],
        "password_file": f'[client]\npassword="{quoted}"\n',
    }  # fmt: skip


def part(
    inputs: Mapping[str, Any], config_dir: str, data_dir: str, container_data_dir: str, uid: int
) -> dict[str, Any]:
    uri = str(inputs.get("mlflow_server_database_uri") or "")
    is_sqlite = uri.startswith("sqlite:")
    uri_host_path = f"{config_dir}/database-uri"
    content = f"{uri}\n"
    return {
        "uri_kind": kind(uri),
        "is_sqlite": is_sqlite,
        "tracking_db_path": sqlite_in_container(uri, container_data_dir),
        "sqlite_host_path": host_path(uri, container_data_dir, data_dir),
        "uri_host_path": uri_host_path,
        "uri_content": content,
        "env": {"DATABASE_URI": uri} if is_sqlite else {"DATABASE_URI_FILE": URI_FILE},
        "mounts": [] if is_sqlite else [
            {"type": "bind", "source": uri_host_path, "target": URI_FILE, "read_only": True}],
        "expected": [] if is_sqlite else [
            {"path": uri_host_path, "state": "file", "mode": "0600", "uid": uid,
             "checksum": hashlib.sha1(content.encode()).hexdigest()}],
        "dump": {} if is_sqlite else dump(uri),
    }  # fmt: skip
