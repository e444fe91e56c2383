#!/usr/bin/env bash
# Create the project's venv with pinned tools: scripts/bootstrap-venv.sh VENV [REQUIREMENTS]
# (requirements-deploy.txt for `make deploy`: Ansible and the Docker SDK; requirements.txt
# adds the test tools for `make test`).
# On a fresh Debian/Ubuntu host, python3's venv module may be missing: install it.
set -euo pipefail
venv="${1:-.venv}"
requirements="${2:-requirements-deploy.txt}"
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    if command -v apt-get >/dev/null; then
        as_root=""
        [ "$(id -u)" -eq 0 ] || as_root="sudo"
        $as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq python3-venv
    else
        echo "python3 has no venv module; install it (python3-venv) and run again" >&2
        exit 1
    fi
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
# --no-compile: byte-compiling every file of ansible's collections takes most of the
# install; Python compiles what is imported on first use and
# keeps it, so the Makefile unexports PYTHONDONTWRITEBYTECODE.
"$venv/bin/pip" install --quiet --no-compile -r "$requirements"
