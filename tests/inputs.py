"""Role inputs the validation tests combine (tests/unit/test_validation.py for good input,
tests/integration/test_bad_inputs.py for bad). Every credential here is plainly fake."""

from __future__ import annotations

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
TLS: dict[str, Any] = {
    "mlflow_server_tls_certificate": STAND_IN_FILE,
    "mlflow_server_tls_key": STAND_IN_FILE,
}
