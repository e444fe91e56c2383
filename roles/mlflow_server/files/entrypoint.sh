#!/bin/sh
# Entrypoint of the MLflow server image: the seed's container contract.
#   ARTIFACT_URL  -> --artifacts-destination (default ./mlruns)
#   DATABASE_URI  -> --backend-store-uri     (default sqlite:///mlflow.db)
#   ARTIFACT_BACKEND=ECS needs AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
#   MLFLOW_S3_ENDPOINT_URL; GCS needs GOOGLE_APPLICATION_CREDENTIALS; a missing value,
#   an empty or an unrecognised backend -> local artifact storage (said on stderr).
# Every argument is passed on to `mlflow server`; --host 0.0.0.0 is added when none is
# given, so the seed's `docker run ... mlflow-server --port 5005 --app-name basic-auth`
# is reachable through the published port.
set -eu

say() { echo "mlflow-entrypoint: $*" >&2; }

ARTIFACT_URL="${ARTIFACT_URL:-./mlruns}"
DATABASE_URI="${DATABASE_URI:-sqlite:///mlflow.db}"
requested="${ARTIFACT_BACKEND:-}"
backend=$(printf '%s' "$requested" | tr '[:lower:]' '[:upper:]' | tr -d '[:space:]')

missing=""
need() {
    for name in "$@"; do
        eval "value=\${$name:-}"
        [ -n "$value" ] || missing="$missing $name"
    done
}
case "$backend" in
    ECS) need AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY MLFLOW_S3_ENDPOINT_URL ;;
    GCS) need GOOGLE_APPLICATION_CREDENTIALS ;;
    "") ;;
    *)
        say "ARTIFACT_BACKEND=$requested is not ECS or GCS: local artifact storage"
        backend=""
        ;;
esac
if [ -n "$missing" ]; then
    say "ARTIFACT_BACKEND=$requested needs$missing: local artifact storage"
    backend=""
fi
if [ -z "$backend" ]; then
    case "$ARTIFACT_URL" in
        s3://* | gs://*)
            say "ARTIFACT_URL=$ARTIFACT_URL is remote but the backend is local: using ./mlruns"
            ARTIFACT_URL=./mlruns
            ;;
    esac
fi
say "artifact storage: ${backend:-local} at $ARTIFACT_URL"

host_given=false
for arg in "$@"; do
    case "$arg" in
        --host | --host=* | -h) host_given=true ;;
    esac
done
if [ "$host_given" = false ]; then
    set -- --host 0.0.0.0 "$@"
fi

exec mlflow server \
    --backend-store-uri "$DATABASE_URI" \
    --artifacts-destination "$ARTIFACT_URL" \
    "$@"
