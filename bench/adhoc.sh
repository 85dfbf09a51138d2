#!/usr/bin/env bash
# Benchmark: ad-hoc `cmd.run 'echo hi'` on 10 and 50 fleet hosts, halite
# against parallel OpenSSH (`xargs -P` of `ssh`), in the same run. Prints
# wall time, controller CPU time (user+sys) and the ratio. This is a
# measurement script, not a test: the README quotes its output.
#
#   bash bench/adhoc.sh            # sizes 10 and 50, 5 rounds each
#   SIZES="10" ROUNDS=3 bash bench/adhoc.sh
#
# It uses its own fleet (container prefix halite-bench-, ports 23000+) so the
# test fleet is left alone; `HALITE_FLEET_PREFIX=halite-bench- tests/fleet/fleet.sh down` removes it.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"10 50"}
ROUNDS=${ROUNDS:-5}
# shellcheck source=bench/lib.sh
. bench/lib.sh
cargo build --release --quiet
halite=$PWD/target/release/halite
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One fleet of the largest size; each size uses its first N hosts.
max=0
for n in $SIZES; do [ "$n" -gt "$max" ] && max=$n; done
bash tests/fleet/fleet.sh up "$max" >&2

printf '\n%-6s %-22s %10s %12s %14s\n' hosts tool wall_s cpu_s cpu_ms/host
for n in $SIZES; do
    fleet=$HALITE_FLEET_DIR/fleet.json
    dir=$work/$n
    mkdir -p "$dir"
    # Inventory and known_hosts for halite; a port list for OpenSSH.
    python3 - "$fleet" "$dir" "$n" <<'PY'
import json, sys
fleet, d, n = json.load(open(sys.argv[1])), sys.argv[2], int(sys.argv[3])
hosts = [h for h in fleet["hosts"] if h["state"] == "running"][:n]
with open(f"{d}/inventory.yaml", "w") as f:
    f.write(f"defaults:\n  host: 127.0.0.1\n  user: root\n  identity: {fleet['private_key']}\nhosts:\n")
    for h in hosts:
        f.write(f"  {h['id']}: {{port: {h['port']}}}\n")
with open(f"{d}/known_hosts", "w") as f:
    for h in hosts:
        f.write(f"[127.0.0.1]:{h['port']} {' '.join(h['host_key'].split()[:2])}\n")
with open(f"{d}/ports", "w") as f:
    f.write("".join(f"{h['port']}\n" for h in hosts))

PY
    key=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["private_key"])' "$fleet")
    # Warm up (page cache, sshd) once each, unmeasured.
    "$halite" --inventory "$dir/inventory.yaml" --known-hosts "$dir/known_hosts" --no-progress '*' cmd.run 'echo hi' >/dev/null 2>&1 || true
    read -r hw hc < <(measure "$halite" --inventory "$dir/inventory.yaml" --known-hosts "$dir/known_hosts" \
        --no-progress --forks "$n" '*' cmd.run 'echo hi')
    ssh_cmd=(xargs -P "$n" -I{} ssh -q -i "$key" -o BatchMode=yes -o StrictHostKeyChecking=yes
        -o UserKnownHostsFile="$dir/known_hosts" -o ControlMaster=no -p {} root@127.0.0.1 'echo hi')
    read -r ow oc < <(measure sh -c '"$@" < "'"$dir/ports"'"' sh "${ssh_cmd[@]}")
    ssh_kex=(xargs -P "$n" -I{} ssh -q -i "$key" -o BatchMode=yes -o StrictHostKeyChecking=yes
        -o KexAlgorithms=curve25519-sha256 -o UserKnownHostsFile="$dir/known_hosts" -o ControlMaster=no -p {} root@127.0.0.1 'echo hi')
    read -r kw kc < <(measure sh -c '"$@" < "'"$dir/ports"'"' sh "${ssh_kex[@]}")
    per() { python3 -c "print(f'{$1*1000/$n:.1f}')"; }
    printf '%-6s %-22s %10s %12s %14s\n' "$n" halite "$hw" "$hc" "$(per "$hc")"
    printf '%-6s %-22s %10s %12s %14s\n' "$n" "openssh (default kex)" "$ow" "$oc" "$(per "$oc")"
    printf '%-6s %-22s %10s %12s %14s\n' "$n" "openssh (curve25519)" "$kw" "$kc" "$(per "$kc")"
    python3 -c "print(f'{\"\":6} halite vs openssh: wall x{$ow/$hw:.2f} faster, cpu x{$oc/max($hc,1e-9):.2f} less')"
done
