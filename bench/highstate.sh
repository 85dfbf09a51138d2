#!/usr/bin/env bash
# Benchmark: a no-op highstate (tests/trees/noop20: 20 states over pkg,
# service, file, user, group and cmd, already converged) on 10 and 50 fleet
# hosts. Prints wall time, controller CPU (user+sys) and remote executions
# per host, for a no-op `state.apply`, its `test=True`, and a no-op apply
# with the grains read again (--refresh-grains). A measurement script, not a
# test: the README quotes its output; tests/states.rs asserts the execution
# count on the same tree.
#
#   bash bench/highstate.sh             # sizes 10 and 50, 5 rounds each
#   SIZES="10" ROUNDS=3 bash bench/highstate.sh
#   HALITE_BIN=/path/to/halite bash bench/highstate.sh   # another build (before/after)
#
# host_ms/run is the hosts' CPU per host and run (user+sys of everything in
# the host's container: sshd, sh, the probes, systemd answering systemctl),
# read from the containers' cpuacct cgroups; "-" where they are not readable.
#
# It uses the benchmark fleet of bench/adhoc.sh (container prefix
# halite-bench-, ports 23000+), so the test fleet is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"10 50"}
ROUNDS=${ROUNDS:-5}
# shellcheck source=bench/lib.sh
. bench/lib.sh
if [ -n "${HALITE_BIN:-}" ]; then
    halite=$HALITE_BIN
else
    cargo build --release --quiet
    halite=$PWD/target/release/halite
fi
tree=$PWD/tests/trees/noop20/states
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# executions CMD...: run it once with --out json; print "min-max" executions
# per host and the number of changed states (must be 0).
executions() {
    "$1" --out json "${@:2}" 2>/dev/null | python3 -c '
import json, sys
doc = json.load(sys.stdin)
ex = [r["executions"] for r in doc["results"].values()]
changed = sum(1 for r in doc["results"].values() for s in r["ret"].values()
              if s.get("changes") or s.get("result") is not True)
print(f"{min(ex)}-{max(ex)}" if min(ex) != max(ex) else min(ex), changed)'
}

# host_cpu_ns N: the total CPU (ns) the first N hosts' containers have used,
# or nothing when their cgroups cannot be read.
host_cpu_ns() {
    python3 - "$HALITE_FLEET_DIR/fleet.json" "$1" <<'PY'
import glob, json, subprocess, sys
fleet, n = json.load(open(sys.argv[1])), int(sys.argv[2])
hosts = [h for h in fleet["hosts"] if h["state"] == "running"][:n]
total = 0
for h in hosts:
    cid = subprocess.run(["podman", "inspect", "-f", "{{.Id}}", h["container"]],
                         capture_output=True, text=True).stdout.strip()
    found = glob.glob(f"/sys/fs/cgroup/cpuacct/**/*{cid}*/cpuacct.usage", recursive=True) \
        or glob.glob(f"/sys/fs/cgroup/**/*{cid}*/cpu.stat", recursive=True)
    if not cid or not found:
        sys.exit(0)
    text = open(found[0]).read()
    if found[0].endswith("cpu.stat"):
        total += 1000 * int(text.split("usage_usec")[1].split()[0])
    else:
        total += int(text)
print(total)
PY
}

max=0
for n in $SIZES; do [ "$n" -gt "$max" ] && max=$n; done
bash tests/fleet/fleet.sh up "$max" >&2

printf '\n%-6s %-34s %8s %8s %12s %12s %10s\n' hosts run wall_s cpu_s cpu_ms/host host_ms/run execs/host
for n in $SIZES; do
    dir=$work/$n
    mkdir -p "$dir"
    python3 - "$HALITE_FLEET_DIR/fleet.json" "$dir" "$n" "$tree" <<'PY'
import json, sys
fleet, d, n, tree = json.load(open(sys.argv[1])), sys.argv[2], int(sys.argv[3]), sys.argv[4]
hosts = [h for h in fleet["hosts"] if h["state"] == "running"][:n]
with open(f"{d}/inventory.yaml", "w") as f:
    f.write(f"defaults:\n  host: 127.0.0.1\n  user: root\n  identity: {fleet['private_key']}\nhosts:\n")
    for h in hosts:
        f.write(f"  {h['id']}: {{port: {h['port']}}}\n")
with open(f"{d}/known_hosts", "w") as f:
    for h in hosts:
        f.write(f"[127.0.0.1]:{h['port']} {' '.join(h['host_key'].split()[:2])}\n")
with open(f"{d}/halite.yaml", "w") as f:
    f.write(f"inventory: inventory.yaml\nknown_hosts: known_hosts\nstates: {tree}\npillar: pillar\ncache_dir: cache\n")
PY
    mkdir -p "$dir/pillar"
    h=("$halite" -c "$dir/halite.yaml" --no-progress --forks "$n")
    # Converge once (unmeasured); it must succeed everywhere.
    "${h[@]}" '*' state.apply >/dev/null 2>"$dir/converge.err" || {
        echo "converging the tree failed:" >&2
        tail -20 "$dir/converge.err" >&2
        exit 1
    }
    for run in "state.apply" "state.apply test=True" "--refresh-grains state.apply"; do
        # shellcheck disable=SC2086 # words of the run on purpose
        set -- $run
        if [ "$1" = --refresh-grains ]; then pre=(--refresh-grains); shift; else pre=(); fi
        h0=$(host_cpu_ns "$n")
        read -r w c < <(measure "${h[@]}" "${pre[@]}" '*' "$@")
        h1=$(host_cpu_ns "$n")
        read -r ex changed < <(executions "${h[@]}" "${pre[@]}" '*' "$@")
        [ "$changed" = 0 ] || { echo "the no-op run changed or failed $changed states" >&2; exit 1; }
        per=$(python3 -c "print(f'{$c*1000/$n:.1f}')")
        hper=-
        [ -n "$h0" ] && [ -n "$h1" ] && hper=$(python3 -c "print(f'{($h1-$h0)/1e6/$n/$ROUNDS:.1f}')")
        printf '%-6s %-34s %8s %8s %12s %12s %10s\n' "$n" "no-op $run" "$w" "$c" "$per" "$hper" "$ex"
    done
done
