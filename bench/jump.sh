#!/usr/bin/env bash
# Bastion benchmark: ad-hoc `cmd.run 'echo hi'` on N hosts (default 50)
# behind one jump host, halite (proxy_jump) against parallel OpenSSH
# (`xargs -P N ssh -J bastion`), in the same run. Prints wall time,
# controller CPU (user+sys, everything the command waited for) and how many
# connections the bastion accepted per run.
#
#   bash bench/jump.sh
#   N=50 ROUNDS=5 bash bench/jump.sh
#
# Why: halite opens ONE connection to the bastion and reaches every host
# through direct-tcpip channels on it; `ssh -J` (without ControlMaster)
# opens a bastion connection per target, i.e. N+N handshakes.
#
# Setup, like bench/scale.sh: a network namespace of its own whose loopback
# answers on all of 127.0.0.0/8. One sshd on port 22 stands in for the N
# hosts (host i is 127.0.1.i, with its own inventory entry and known_hosts
# line); a second sshd on 127.0.0.1:2222 is the bastion. Both clients run
# inside the namespace. All traffic stays in it; the namespace, the sshds
# and the temporary directory are removed on exit.
#
# Needs root (network namespace), iproute2, python3, openssh-server and
# openssh-client.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-50}
ROUNDS=${ROUNDS:-3}
NETNS=${NETNS:-halite-jump-$$}

die() { echo "bench/jump.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (it creates a network namespace)"
[[ $N =~ ^[1-9][0-9]*$ ]] && [ "$N" -le 254 ] || die "N must be 1..254"
for c in ip python3 ssh ssh-keygen /usr/sbin/sshd xargs; do
    type -P "$c" >/dev/null || die "needs $c"
done
if [ -n "${HALITE_BIN:-}" ]; then
    halite=$(realpath "$HALITE_BIN")
else
    cargo build --release --quiet
    halite=$PWD/target/release/halite
fi

work=$(mktemp -d /tmp/halite-jump.XXXXXX)
pids=()
cleanup() {
    set +e
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    if [ -e "/run/netns/$NETNS" ]; then
        for pid in $(ip netns pids "$NETNS"); do kill "$pid" 2>/dev/null; done
        ip netns del "$NETNS"
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$NETNS"
ip -n "$NETNS" link set lo up
inns() { ip netns exec "$NETNS" "$@"; }
ssh-keygen -q -t ed25519 -N '' -C halite-jump-client -f "$work/client"
key=$work/client
mkdir -p /run/sshd
for role in hosts bastion; do
    ssh-keygen -q -t ed25519 -N '' -C "halite-jump-$role" -f "$work/$role.host"
    if [ "$role" = hosts ]; then listen=0.0.0.0:22; else listen=127.0.0.1:2222; fi
    cat >"$work/$role.sshd_config" <<EOF
ListenAddress $listen
HostKey $work/$role.host
AuthorizedKeysFile $key.pub
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile none
MaxStartups 1000:30:2000
UseDNS no
PrintMotd no
PrintLastLog no
SetEnv SHLVL=1
LogLevel INFO
EOF
    inns /usr/sbin/sshd -D -e -f "$work/$role.sshd_config" 2>"$work/$role.log" &
    pids+=($!)
done
for _ in $(seq 100); do
    grep -q "Server listening" "$work/hosts.log" && grep -q "Server listening" "$work/bastion.log" && break
    sleep 0.05
done

hostkey=$(cut -d' ' -f1,2 "$work/hosts.host.pub")
bastionkey=$(cut -d' ' -f1,2 "$work/bastion.host.pub")
{
    echo "[127.0.0.1]:2222 $bastionkey"
    for i in $(seq "$N"); do echo "127.0.1.$i $hostkey"; done
} >"$work/known_hosts"
{
    echo "defaults: {user: root, identity: $key, connect_timeout: 30, proxy_jump: bastion}"
    echo "hosts:"
    echo "  bastion: {host: 127.0.0.1, port: 2222}"
    for i in $(seq "$N"); do echo "  h$i: {host: 127.0.1.$i}"; done
} >"$work/inventory.yaml"
for i in $(seq "$N"); do echo "root@127.0.1.$i"; done >"$work/addrs"
# ssh -J starts a second ssh for the jump, which reads the config file but
# not -i/-o: everything goes in the file, for both.
cat >"$work/ssh_config" <<EOF
Host *
  IdentityFile $key
  IdentitiesOnly yes
  BatchMode yes
  StrictHostKeyChecking yes
  UserKnownHostsFile $work/known_hosts
  KexAlgorithms curve25519-sha256
  ControlMaster no
  LogLevel ERROR
EOF

# measure.py OUT CMD...: ROUNDS runs; prints "wall cpu ok_min bastion_logins"
# (medians; ok = lines "hi", or hosts ok in halite's JSON).
cat >"$work/measure.py" <<'PY'
import json, os, statistics, subprocess, sys
rounds, out, log, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
walls, cpus, oks, logins = [], [], [], []
import time
for _ in range(rounds):
    before = open(log).read().count("Accepted publickey")
    stdin = open(f"{out}.stdin") if os.path.exists(f"{out}.stdin") else subprocess.DEVNULL
    with open(f"{out}.stdout", "w") as o, open(f"{out}.stderr", "w") as e:
        t = time.monotonic()
        p = subprocess.Popen(cmd, stdin=stdin, stdout=o, stderr=e)
        _, status, ru = os.wait4(p.pid, 0)
        walls.append(time.monotonic() - t)
    cpus.append(ru.ru_utime + ru.ru_stime)
    text = open(f"{out}.stdout").read()
    try:
        ok = sum(1 for h in json.loads(text)["results"].values() if h["ret"] == "hi")
    except ValueError:
        ok = sum(1 for l in text.splitlines() if l == "hi")
    oks.append(ok)
    time.sleep(0.3)  # sshd logs a login just after it happens
    logins.append(open(log).read().count("Accepted publickey") - before)
print(f"{statistics.median(walls):.3f} {statistics.median(cpus):.3f} {min(oks)} {statistics.median(logins):.0f}")
PY

export HALITE_CACHE_DIR=$work/cache
halite_args=(--inventory "$work/inventory.yaml" --known-hosts "$work/known_hosts" --ssh-config none
    --no-progress --forks "$N" --out json 'h*' cmd.run 'echo hi')
ssh_args=(xargs -P "$N" -I{} ssh -F "$work/ssh_config" -J root@127.0.0.1:2222 {} 'echo hi')
# Warm-up, unmeasured.
inns "$halite" "${halite_args[@]}" >/dev/null 2>&1 || true
head -n 5 "$work/addrs" | inns "${ssh_args[@]}" >/dev/null 2>&1 || true

echo "N=$N: halite, $ROUNDS rounds..." >&2
h=$(inns python3 "$work/measure.py" "$ROUNDS" "$work/halite" "$work/bastion.log" "$halite" "${halite_args[@]}")
cp "$work/addrs" "$work/ssh.stdin"
echo "N=$N: ssh -J, $ROUNDS rounds..." >&2
s=$(inns python3 "$work/measure.py" "$ROUNDS" "$work/ssh" "$work/bastion.log" "${ssh_args[@]}")

echo
echo "bastion benchmark: $N hosts behind one jump host, $(nproc) cores, $ROUNDS rounds (medians)"
printf '%-32s %8s %14s %8s %16s\n' tool wall_s cpu_s_total ok/N bastion_logins
for line in "halite (proxy_jump)|$h" "openssh ssh -J, xargs -P $N|$s"; do
    read -r wall cpu ok logins <<<"${line#*|}"
    printf '%-32s %8s %14s %8s %16s\n' "${line%%|*}" "$wall" "$cpu" "$ok/$N" "$logins"
done
echo
echo "cpu_s_total: user+sys of the client and everything it waited for (for OpenSSH: xargs and"
echo "every ssh, including the jump ssh each one starts). Both sshds share the same cores."
