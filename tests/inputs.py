"""Role inputs the validation tests combine (tests/unit/test_validation.py for good input,
tests/integration/test_bad_inputs.py for bad). Every credential here is plainly fake."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

ADMIN: dict[str, Any] = {
    "mlflow_server_auth_enabled": True,
    "mlflow_server_auth_username": "fake-admin",
    "mlflow_server_auth_password": "fake-password-long-enough",
    "mlflow_server_auth_database_url": "sqlite:////mlflow/basic_auth.db",
}
# Replicas behind a load balancer on shared state (one PostgreSQL, one S3 bucket).
REPLICAS: dict[str, Any] = {
    "mlflow_server_replicated": True,
    "mlflow_server_database_uri": "postgresql://u:fake-db-pass@db:5432/mlflow",
    "mlflow_server_artifact_backend": "ECS",
    "mlflow_server_artifact_url": "s3://bucket/mlflow",
    "mlflow_server_aws_access_key_id": "fake-key-id",
    "mlflow_server_aws_secret_access_key": "fake-password-long-enough",
    "mlflow_server_s3_endpoint_url": "http://s3.invalid:8333",
    # One passphrase for the AI Gateway's key store on every replica (MLflow 3.8.0 on).
    "mlflow_server_crypto_kek_passphrase": "fake-passphrase-long-enough-for-a-key-store",
}
FAKE_SECRETS = ("fake-db-pass", "fake-password-long-enough")

# Any file on the controller stands in for a PEM where only its presence is checked.
STAND_IN_FILE = str(Path(__file__).resolve())


def certificate(
    directory: Path,
    name: str,
    *,
    days: tuple[int, int] = (-1, 1),
    key_of: str = "",
    ca: tuple[Any, Any] | None = None,
    dns: tuple[str, ...] = (),
) -> tuple[Path, Path]:
    """A certificate and its key, generated into `directory` (never into the checkout):
    NAME.pem valid from `days[0]` to `days[1]` days from now, NAME.key its key (or, with
    `key_of`, the key written for another name: a mismatched pair), signed by `ca`
    (certificate, key) or self-signed."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer, signer = (ca[0].subject, ca[1]) if ca else (subject, key)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now + datetime.timedelta(days=days[0]))
        .not_valid_after(now + datetime.timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=not dns and ca is None, path_length=None),
                       critical=True)
    )  # fmt: skip
    if dns:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in dns]), critical=False
        )
    signed = builder.sign(signer, hashes.SHA256())
    pem, key_file = directory / f"{name}.pem", directory / f"{name}.key"
    pem.write_bytes(signed.public_bytes(serialization.Encoding.PEM))
    if not key_of:
        key_file.write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))  # fmt: skip
        key_file.chmod(0o600)
    return pem, directory / f"{key_of or name}.key"


def certificate_authority(directory: Path) -> tuple[Any, Any]:
    """A throwaway CA (ca.pem in `directory`): (certificate, key) to sign others with."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    pem, key = certificate(directory, "ca", days=(-1, 1))
    return (x509.load_pem_x509_certificate(pem.read_bytes()),
            serialization.load_pem_private_key(key.read_bytes(), password=None))  # fmt: skip


# A certificate and its key for inputs with TLS (validation checks the pair), generated
# once per test run outside the checkout.
_TLS_DIR = Path(tempfile.mkdtemp(prefix="mlflow-test-tls-"))
atexit.register(shutil.rmtree, _TLS_DIR, ignore_errors=True)
_TLS_PAIR = certificate(_TLS_DIR, "server", dns=("localhost",))
TLS: dict[str, Any] = {
    "mlflow_server_tls_certificate": str(_TLS_PAIR[0]),
    "mlflow_server_tls_key": str(_TLS_PAIR[1]),
}
