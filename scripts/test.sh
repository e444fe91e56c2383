#!/usr/bin/env bash
# make test: the checks (lint, unit tests) start first and run beside the host's
# preparation and the scenarios, which need only the prepared host, so the scenarios
# do not wait for the checks. The checks' output is printed whole when they end, between two
# scenarios' outputs; `make test` fails when either the checks or a scenario failed.
set -uo pipefail
logs="${MOLECULE_LOG_DIR:-.molecule-logs}"
mkdir -p "$logs"
# Not under $logs/*.log: molecule-lanes.sh empties those when it starts.
out="$logs/checks.out"

# The checks run niced: the host's preparation is the one step everything else waits
# for, and full-priority checks beside it slow its base image down several times over.
(
    nice -n 10 make --no-print-directory --jobs=2 --output-sync=target checks >"$out" 2>&1
    status=$?
    {
        flock 9
        echo "=== make checks"
        cat "$out"
        echo "=== checks $([ "$status" -eq 0 ] && echo passed || echo FAILED)"
    } 9>>"$logs/.print-lock"
    exit "$status"
) &
checks=$!

make --no-print-directory prepare-host && scripts/molecule-lanes.sh "$@"
scenarios=$?
wait "$checks"
checks_status=$?
echo "checks: $([ "$checks_status" -eq 0 ] && echo passed || echo FAILED)"
[ "$scenarios" -eq 0 ] && [ "$checks_status" -eq 0 ]
