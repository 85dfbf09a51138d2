# Shared by bench/adhoc.sh and bench/highstate.sh (sourced, not run): the
# benchmark fleet's settings and the median-of-N-rounds timer.
# shellcheck shell=bash

export HALITE_FLEET_DIR=${HALITE_FLEET_DIR:-/var/tmp/halite-bench}
export HALITE_FLEET_PORT_BASE=${HALITE_FLEET_PORT_BASE:-23000}
export HALITE_FLEET_PREFIX=${HALITE_FLEET_PREFIX:-halite-bench-}

type -P python3 >/dev/null || { echo "bench needs python3" >&2; exit 1; }

# measure CMD...: run it $ROUNDS times; print "median_wall median_cpu"
# (seconds; CPU is the children's user+sys). A failing round aborts.
measure() {
    python3 - "$ROUNDS" "$@" <<'PY'
import resource, statistics, subprocess, sys, time
rounds, cmd = int(sys.argv[1]), sys.argv[2:]
walls, cpus = [], []
for _ in range(rounds):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    walls.append(time.monotonic() - t)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpus.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    if p.returncode != 0:
        sys.exit(f"benchmark command failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr.decode()[-2000:]}")
print(f"{statistics.median(walls):.3f} {statistics.median(cpus):.3f}")
PY
}
