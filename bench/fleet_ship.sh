#!/usr/bin/env bash
# Build once and ship, against building on every host: the `fleet` scenario's converge
# (MLflow 2.13.0 on two application hosts reached over SSH, each with its own engine)
# twice in one run, each time on freshly made hosts and with no image of the release
# anywhere: once with mlflow_server_image_ship=false (each host pulls or, with no
# registry, debootstraps its base and builds), once with the default (built once on
# this machine's engine, exported, copied and loaded on each host).
#
#     bench/fleet_ship.sh        (after `make venv` and `make prepare-host`)
#
# Prints the converge times and their ratio; the logs stay in $BENCH_LOG_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
. .venv/bin/activate
logs="${BENCH_LOG_DIR:-/tmp/bench-fleet}"
mkdir -p "$logs"

cold() {
    # The release's images and build cache on this machine's engine: none.
    docker image ls --format '{{.Repository}}:{{.Tag}}' --filter 'reference=molecule-fleet' \
        | xargs --no-run-if-empty docker image rm >/dev/null
    docker image prune --force --filter label=io.github.mlflow-server.stage=builder >/dev/null
    docker builder prune --force >/dev/null 2>&1
}

converge() {
    local name=$1 start end
    shift
    molecule cleanup -s fleet >"$logs/$name-cleanup.log" 2>&1
    cold
    molecule prepare -s fleet --force >"$logs/$name-prepare.log" 2>&1
    start=$(date +%s.%N)
    molecule converge -s fleet -- "$@" >"$logs/$name-converge.log" 2>&1
    end=$(date +%s.%N)
    python3 -c "print(round($end - $start, 1))"
}

molecule reset -s fleet >/dev/null 2>&1 || true
every=$(converge build-on-every-host -e mlflow_server_image_ship=false)
once=$(converge build-once-and-ship)
# BENCH_FLEET_KEEP=true leaves the shipped fleet up (e.g. for `molecule verify -s fleet`).
if [ "${BENCH_FLEET_KEEP:-false}" != true ]; then
    molecule cleanup -s fleet >"$logs/final-cleanup.log" 2>&1
    cold
fi
printf 'fleet converge, 2 hosts, MLflow 2.13.0, cold\n'
printf '  build on every host : %6.1f s\n' "$every"
printf '  build once and ship : %6.1f s   ratio %s\n' "$once" "$(python3 -c "print(round($once / $every, 2))")"
for name in build-on-every-host build-once-and-ship; do
    echo "  $name: the image's tasks (profile_tasks), seconds"
    python3 - "$logs/$name-converge.log" <<'PY'
import re, sys
text = re.sub(r"\x1b\[[0-9;]*m", "", open(sys.argv[1], encoding="utf-8", errors="replace").read())
recap = text.rsplit("TASKS RECAP", 1)[-1]
lines = " ".join(line.strip(" │") for line in recap.splitlines())
for name, seconds in re.findall(r"((?:mlflow_server|local_base_image) : [^=]*?) -+ ?([0-9.]+)s", lines):
    if re.search(r"image_build \| Build|image_ship \| (Save|Copy|Load)|local_base_image", name):
        print(f"    {float(seconds):7.2f}  {name}")
PY
done
