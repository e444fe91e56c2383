#!/bin/sh
# Entrypoint of the MLflow server image: the seed's container contract.
#   ARTIFACT_URL  -> --artifacts-destination (default ./mlruns)
#   DATABASE_URI  -> --backend-store-uri     (default sqlite:///mlflow.db), passed as
#                    MLFLOW_BACKEND_STORE_URI; DATABASE_URI_FILE names a file holding it
#   ARTIFACT_BACKEND=ECS needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or
#   AWS_SHARED_CREDENTIALS_FILE, a readable boto3 credentials file) and
#   MLFLOW_S3_ENDPOINT_URL; GCS needs GOOGLE_APPLICATION_CREDENTIALS; AZURE needs
#   AZURE_STORAGE_CONNECTION_STRING (or AZURE_STORAGE_CONNECTION_STRING_FILE); a missing
#   value, an empty or an unrecognised backend -> local artifact storage (said on
#   stderr). The rules are mlflow_server_backends.py's, the role's own.
# Every argument is passed on to `mlflow server`; --host 0.0.0.0 is added when none is
# given, so the seed's `docker run ... mlflow-server --port 5005 --app-name basic-auth`
# is reachable through the published port.
# With --app-name basic-auth and no MLFLOW_AUTH_CONFIG_PATH (the image on its own):
#   AUTH_USERNAME, AUTH_PASSWORD and AUTH_DATABASE_URL all set -> that admin, non-admin
#   users get NO_PERMISSIONS (an ini rendered into a private temp dir); otherwise
#   MLflow's own defaults for the release (said on stderr).
#   MLFLOW_FLASK_SERVER_SECRET_KEY (2.20.2+) comes from MLFLOW_FLASK_SERVER_SECRET_KEY_FILE,
#   else from ./.flask-secret-key in the data volume, generated once (mode 0600).
set -eu

say() { echo "mlflow-entrypoint: $*" >&2; }

# need NAME...: add each unset or empty variable's name to $missing.
need() {
    for name in "$@"; do
        eval "value=\${$name:-}"
        [ -n "$value" ] || missing="$missing $name"
    done
}

ARTIFACT_URL="${ARTIFACT_URL:-./mlruns}"
if [ -n "${DATABASE_URI_FILE:-}" ]; then
    DATABASE_URI=$(cat "$DATABASE_URI_FILE")
fi
DATABASE_URI="${DATABASE_URI:-sqlite:///mlflow.db}"
# The AI Gateway's key store passphrase (3.8.0 on) from a mounted file (the role's way)
# reaches the server process's environment only, never the container's configuration.
if [ -n "${MLFLOW_CRYPTO_KEK_PASSPHRASE_FILE:-}" ] && [ -z "${MLFLOW_CRYPTO_KEK_PASSPHRASE:-}" ]; then
    MLFLOW_CRYPTO_KEK_PASSPHRASE=$(cat "$MLFLOW_CRYPTO_KEK_PASSPHRASE_FILE")
    export MLFLOW_CRYPTO_KEK_PASSPHRASE
fi
# The artifact backend and URL by the seed's rules, from the one table the role resolves
# with too (mlflow_server_backends.py); it says on stderr what it chose and why.
for backends in /usr/local/lib/mlflow-server/mlflow_server_backends.py \
    "$(dirname "$0")/../module_utils/mlflow_server_backends.py"; do
    [ -r "$backends" ] && break
done
resolved=$(ARTIFACT_URL="$ARTIFACT_URL" python3 "$backends" entrypoint)
eval "$resolved"
# A connection string from a mounted file (the role's way) reaches MLflow's Azure client
# through the server process's environment only, never the container's configuration.
if [ "$ARTIFACT_BACKEND" = AZURE ] && [ -z "${AZURE_STORAGE_CONNECTION_STRING:-}" ]; then
    AZURE_STORAGE_CONNECTION_STRING=$(cat "$AZURE_STORAGE_CONNECTION_STRING_FILE")
    export AZURE_STORAGE_CONNECTION_STRING
fi

host_given=false
basic_auth=false
metrics_dir=""
previous=""
for arg in "$@"; do
    case "$arg" in
        --host | --host=* | -h) host_given=true ;;
        --app-name=basic-auth) basic_auth=true ;;
    esac
    if [ "$previous" = "--app-name" ] && [ "$arg" = "basic-auth" ]; then
        basic_auth=true
    fi
    if [ "$previous" = "--expose-prometheus" ]; then
        metrics_dir="$arg"
    fi
    previous="$arg"
done

# A URI as it may be logged: the user info (user:password@) masked.
masked() { printf '%s' "$1" | sed 's#://[^@/]*@#://***@#'; }

# configparser reads "%" as interpolation: write it as "%%".
ini_value() { printf '%s' "$1" | sed 's/%/%%/g'; }

if [ "$basic_auth" = true ]; then
    if [ -z "${MLFLOW_FLASK_SERVER_SECRET_KEY:-}" ]; then
        if [ -n "${MLFLOW_FLASK_SERVER_SECRET_KEY_FILE:-}" ]; then
            MLFLOW_FLASK_SERVER_SECRET_KEY=$(cat "$MLFLOW_FLASK_SERVER_SECRET_KEY_FILE")
        else
            key_file=./.flask-secret-key
            if [ ! -s "$key_file" ]; then
                (umask 077 && python3 -c 'import secrets; print(secrets.token_hex(32))' >"$key_file")
                say "generated the Flask secret key of basic-auth into $key_file"
            fi
            MLFLOW_FLASK_SERVER_SECRET_KEY=$(cat "$key_file")
        fi
        export MLFLOW_FLASK_SERVER_SECRET_KEY
    fi
    if [ -n "${MLFLOW_AUTH_CONFIG_PATH:-}" ]; then
        say "basic-auth: config $MLFLOW_AUTH_CONFIG_PATH"
    else
        missing=""
        need AUTH_USERNAME AUTH_PASSWORD AUTH_DATABASE_URL
        if [ -z "$missing" ]; then
            auth_dir=$(umask 077 && mktemp -d "${TMPDIR:-/tmp}/mlflow-auth.XXXXXX")
            (
                umask 077
                {
                    printf '[mlflow]\n'
                    printf 'default_permission = NO_PERMISSIONS\n'
                    printf 'database_uri = %s\n' "$(ini_value "$AUTH_DATABASE_URL")"
                    printf 'admin_username = %s\n' "$(ini_value "$AUTH_USERNAME")"
                    printf 'admin_password = %s\n' "$(ini_value "$AUTH_PASSWORD")"
                } >"$auth_dir/basic_auth.ini"
            )
            export MLFLOW_AUTH_CONFIG_PATH="$auth_dir/basic_auth.ini"
            say "basic-auth: admin $AUTH_USERNAME, auth database $(masked "$AUTH_DATABASE_URL"), default permission NO_PERMISSIONS"
            # Migrated once, here: every worker migrating a fresh auth database at once
            # races (one dies, and the server may never answer /health). A deploy's
            # one-off job does this for the role's servers.
            mlflow-db auth-upgrade
        else
            say "basic-auth: AUTH_USERNAME, AUTH_PASSWORD and AUTH_DATABASE_URL are not all set (missing:$missing): MLflow's default admin and permissions"
        fi
    fi
    unset AUTH_PASSWORD
fi
if [ "$host_given" = false ]; then
    set -- --host 0.0.0.0 "$@"
fi
# Prometheus' multiprocess files belong to the workers of one start: counters of
# processes that are gone would otherwise add up in /metrics forever.
if [ -n "$metrics_dir" ]; then
    rm -rf "$metrics_dir"
    mkdir -p "$metrics_dir"
    say "metrics: /metrics (Prometheus; files in $metrics_dir)"
fi

# The store URI goes by environment (the CLI's MLFLOW_BACKEND_STORE_URI, 2.5+), not
# argv: a database password in argv is in every host user's process list.
export MLFLOW_BACKEND_STORE_URI="$DATABASE_URI"
exec mlflow server \
    --artifacts-destination "$ARTIFACT_URL" \
    "$@"
