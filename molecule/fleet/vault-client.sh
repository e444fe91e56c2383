#!/bin/sh
# The fleet scenario's vault password client (ANSIBLE_VAULT_PASSWORD_FILE runs it): made on
# first use in the scenario's ephemeral directory, 0600, gone with it; never in git.
set -eu
password_file="${MOLECULE_EPHEMERAL_DIRECTORY:?run through molecule}/vault-password"
if [ ! -s "$password_file" ]; then
    mkdir -p "$(dirname "$password_file")"
    (umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(32))' > "$password_file")
fi
cat "$password_file"
