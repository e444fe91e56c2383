"""The server's options per MLflow release: which HTTP server runs it (gunicorn, uvicorn,
waitress), the TLS and worker options that server takes, the Host-header check of
MLflow >= 3.5 and the workers. Each rule is a plain function of the role's inputs."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from packaging.version import Version


def tls_problem(certificate_path: str, key_path: str, now: Any = None) -> str:
    """What is wrong with the server's certificate and key (PEM files on the controller),
    or "": not a PEM certificate or key, a key that is not the certificate's, a certificate
    not valid yet or expired. A server with such a pair starts and then fails every TLS
    handshake (or clients refuse it); validation refuses it first. Missing files and a
    controller without `cryptography` are left to the other checks ("")."""
    try:
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
    except ImportError:
        return ""
    try:
        with open(certificate_path, "rb") as handle:
            certificate_pem = handle.read()
        with open(key_path, "rb") as handle:
            key_pem = handle.read()
    except OSError:
        return ""
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem)
    except ValueError:
        return f"mlflow_server_tls_certificate={certificate_path} is not a PEM certificate"
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        return (
            "mlflow_server_tls_key is not a PEM private key without a passphrase"
            " (the server cannot ask for one)"
        )
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    if key.public_key().public_bytes(encoding, public) != certificate.public_key().public_bytes(
        encoding, public
    ):
        return (
            "mlflow_server_tls_key is not the key of"
            f" mlflow_server_tls_certificate={certificate_path} (its public key is another)"
        )
    now = now or datetime.datetime.now(datetime.UTC)
    not_before = certificate.not_valid_before_utc
    not_after = certificate.not_valid_after_utc
    if now > not_after:
        return (
            f"mlflow_server_tls_certificate={certificate_path} expired on"
            f" {not_after:%Y-%m-%d %H:%M} UTC"
        )
    if now < not_before:
        return (
            f"mlflow_server_tls_certificate={certificate_path} is valid only from"
            f" {not_before:%Y-%m-%d %H:%M} UTC"
        )
    return ""


# Where the server's TLS files are mounted (read-only) in the container.
TLS_CERTIFICATE = "/run/secrets/tls-certificate.pem"
TLS_KEY = "/run/secrets/tls-key.pem"
TLS_OPTS = {
    "uvicorn": f"--ssl-certfile={TLS_CERTIFICATE} --ssl-keyfile={TLS_KEY}",
    "gunicorn": f"--certfile={TLS_CERTIFICATE} --keyfile={TLS_KEY}",
}
# The private networks a replica is reached on besides its names (MLflow's own default).
PRIVATE_HOST_PATTERNS = (
    ["192.168.*", "10.*"] + [f"172.{n}.*" for n in range(16, 32)] + ["fc00:*", "fd00:*"]
)


def at_least(version: str, release: str) -> bool:
    return Version(str(version)) >= Version(release)


def flag(value: object) -> bool:
    """Ansible's `bool` filter: true, yes, on, 1 (any case) are true."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "yes", "on", "1", "y", "t")


def _args(extra_args: Sequence[Any]) -> list[str]:
    return [str(a) for a in extra_args or []]


def _any_match(args: Sequence[str], pattern: str) -> bool:
    return any(re.match(pattern, a) for a in args)


def with_opts(args: Sequence[Any], option: str, extra: str) -> list[str]:
    """`args` with `extra` added to the value of `option` (`--x-opts VALUE` or
    `--x-opts=VALUE`); `option extra` appended when args do not carry it.

    >>> with_opts(["--workers", "1"], "--uvicorn-opts", "--ssl-keyfile=k")
    ['--workers', '1', '--uvicorn-opts', '--ssl-keyfile=k']
    >>> with_opts(["--gunicorn-opts", "-t 60"], "--gunicorn-opts", "--certfile=c")
    ['--gunicorn-opts', '-t 60 --certfile=c']
    """
    out = _args(args)
    for index, arg in enumerate(out):
        if arg == option and index + 1 < len(out):
            out[index + 1] = f"{out[index + 1]} {extra}".strip()
            return out
        if arg.startswith(option + "="):
            out[index] = f"{arg} {extra}"
            return out
    return [*out, option, extra]


def app_server(version: str, extra_args: Sequence[Any]) -> str:
    """The HTTP server: the one the user gives options to, else the release's default
    (uvicorn from 3.3.0, gunicorn before)."""
    args = _args(extra_args)
    if _any_match(args, r"^--gunicorn-opts"):
        return "gunicorn"
    if _any_match(args, r"^--waitress-opts"):
        return "waitress"
    return "uvicorn" if at_least(version, "3.3.0") else "gunicorn"


def server_args(
    version: str, extra_args: Sequence[Any], tls: bool, gunicorn_threads: int | str
) -> list[str]:
    """The user's extra arguments with the HTTP server's options added: TLS where the
    server serves HTTPS, and threaded gunicorn workers. gunicorn's sync workers each wait
    for the request of the connection they accepted (up to their 30 s timeout): a
    browser's connections opened ahead of their requests (Chromium preconnects) hold
    every worker and the UI stalls. Threaded workers (gthread) keep serving; a worker
    class the user gives in --gunicorn-opts is kept."""
    args = _args(extra_args)
    server = app_server(version, args)
    opts = [TLS_OPTS[server]] if tls and server in TLS_OPTS else []
    threads = int(gunicorn_threads or 0)
    user_class = re.search(r"(^|[ =])(-k|--worker-class)([ =]|$)", " ".join(args))
    if server == "gunicorn" and threads > 0 and not user_class:
        opts += ["--worker-class=gthread", f"--threads={threads}"]
    return with_opts(args, f"--{server}-opts", " ".join(opts)) if opts else args


def workers_given(extra_args: Sequence[Any], env: Mapping[str, Any]) -> bool:
    """Workers the user chose through MLflow's own flag or variable."""
    return _any_match(_args(extra_args), r"^(--workers|-w)(=|$)") or "MLFLOW_WORKERS" in (env or {})


def workers(requested: int | str, server: str, ncpu: int | None) -> int:
    """uvicorn (3.3.0 on) runs each request in a worker's thread pool: one worker per CPU
    the engine reports (those the container shares, at most 4) serves as much. Under
    gunicorn MLflow's default (4) stays (0: no --workers)."""
    if int(requested or 0) > 0:
        return int(requested)
    if server != "uvicorn":
        return 0
    return max(min(int(ncpu or 4), 4), 1)


def has_host_check(version: str, extra_args: Sequence[Any]) -> bool:
    """MLflow >= 3.5 (uvicorn) answers only to the Host names it is given; its own default
    is localhost and private addresses, so a server reached by name answers 403."""
    return at_least(version, "3.5.0") and not _any_match(
        _args(extra_args), r"^--(gunicorn|waitress)-opts"
    )


def host_names(
    inventory_hostname: str,
    ansible_host: str,
    machine_names: Sequence[str],
    lb_hosts: Sequence[str],
    lb_addresses: Sequence[str],
    lb_names: Sequence[str],
) -> list[str]:
    """The names users reach a server by: the inventory's, the machine's own (with and
    without domain), the load balancers' and the names they are reached by."""
    machine = [str(n) for n in machine_names or []]
    names = [inventory_hostname, ansible_host, "localhost", "127.0.0.1", "[::1]", "0.0.0.0"]
    names += machine + [n.split(".")[0] for n in machine]
    names += [str(n) for n in [*(lb_hosts or []), *(lb_addresses or []), *(lb_names or [])]]
    return list(dict.fromkeys(str(n) for n in names if n))


def host_check_args(
    version: str,
    extra_args: Sequence[Any],
    env: Mapping[str, Any],
    allowed_hosts: Sequence[str],
    cors_allowed_origins: Sequence[str],
    names: Sequence[str],
) -> list[str]:
    """--allowed-hosts (the user's list, or each name with any port and the private
    networks) and --cors-allowed-origins, where the release checks them and the user did
    not set them another way. fnmatch reads "[" as a set: "[::1]" is written "[[]::1]"."""
    if not has_host_check(version, extra_args):
        return []
    out: list[str] = []
    args = _args(extra_args)
    if "MLFLOW_SERVER_ALLOWED_HOSTS" not in (env or {}) and not _any_match(
        args, r"^--allowed-hosts"
    ):
        allowed = [str(h) for h in allowed_hosts or []] or (
            list(names) + [n.replace("[", "[[]") + ":*" for n in names] + PRIVATE_HOST_PATTERNS
        )
        out += ["--allowed-hosts", ",".join(allowed)]
    if cors_allowed_origins:
        out += ["--cors-allowed-origins", ",".join(str(o) for o in cors_allowed_origins)]
    return out
