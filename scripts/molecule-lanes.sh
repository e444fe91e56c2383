#!/usr/bin/env bash
# Run Molecule scenarios in lanes, side by side: each argument is one lane, a
# space-separated list of scenarios run one after the other. A 2-core host spends much
# of a scenario waiting (containers starting, health checks, object stores), so two
# lanes finish well before one. Every scenario runs even when another fails.
#
# Each scenario's output goes to $MOLECULE_LOG_DIR/NAME.log and is printed whole when
# the scenario ends, so lanes never interleave their lines.
#
# Run it after playbooks/prepare_host.yml (`make molecule` does): what every scenario
# shares on this host, and two lanes would race for, is then there already: the Docker
# engine, the base image (built once when no registry answers), the container's user.
set -uo pipefail
logs="${MOLECULE_LOG_DIR:-.molecule-logs}"
mkdir -p "$logs"
rm -f "$logs"/*.log "$logs/summary"

# Scenarios of one MLflow release share image layers: keep each scenario's images
# until every lane is done, so the next scenario's build finds them in the cache.
export MOLECULE_KEEP_IMAGES=true

run_lane() {
    local scenario start status took
    for scenario in $1; do
        start=$(date +%s)
        molecule reset -s "$scenario" >/dev/null 2>&1 || true
        if molecule test -s "$scenario" >"$logs/$scenario.log" 2>&1; then
            status=passed
        else
            status=FAILED
        fi
        took=$(($(date +%s) - start))
        {
            flock 9
            echo "=== molecule test -s $scenario"
            cat "$logs/$scenario.log"
            echo "=== $scenario $status in $took s"
            echo "$scenario $status $took" >>"$logs/summary"
        } 9>>"$logs/.print-lock"
    done
}

start=$(date +%s)
pids=()
for lane in "$@"; do
    echo "=== lane: $lane"
    run_lane "$lane" &
    pids+=($!)
done
wait "${pids[@]}"

# The images the scenarios kept, and the builder stages kept as build cache.
docker image ls --format '{{.Repository}}:{{.Tag}}' --filter 'reference=molecule-*' \
    | xargs --no-run-if-empty docker image rm >/dev/null || true
docker image prune --force --filter label=io.github.mlflow-server.stage=builder >/dev/null || true

echo "=== scenarios, $(($(date +%s) - start)) s in all:"
sort "$logs/summary"
passed=$(grep -c ' passed ' "$logs/summary")
failed=$(grep -c ' FAILED ' "$logs/summary")
echo "molecule: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -eq "$(echo "$@" | wc -w)" ]
