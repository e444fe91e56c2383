#!/bin/sh
# Start PostgreSQL with the role `mlflow` (password from a mounted 0600 file) owning
# the databases `mlflow` and `mlflow_auth`, then SeaweedFS with S3 keys enforced.
set -eu
secrets=/run/fleet-secrets
pg_ctlcluster 15 main start
password=$(sed "s/'/''/g" "$secrets/pg-password")
runuser -u postgres -- psql -v ON_ERROR_STOP=1 -qtA <<SQL
SELECT 'CREATE ROLE mlflow LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mlflow')\gexec
ALTER ROLE mlflow PASSWORD '$password';
SELECT 'CREATE DATABASE mlflow OWNER mlflow' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'mlflow')\gexec
SELECT 'CREATE DATABASE mlflow_auth OWNER mlflow' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'mlflow_auth')\gexec
SQL
mkdir -p /var/lib/seaweedfs
exec weed server -dir=/var/lib/seaweedfs -ip=127.0.0.1 -ip.bind=0.0.0.0 \
    -s3 -s3.port=8333 -s3.config="$secrets/s3-identities.json"
