#!/usr/bin/env bash
# Scale benchmark: ad-hoc `cmd.run 'echo hi'` on N = 100 and 1000 hosts,
# halite against parallel OpenSSH (`xargs -P` of `ssh`, curve25519 kex), in
# the same run. Prints wall time, controller CPU (user+sys) per host, the
# controller's peak RSS and how many hosts answered.
#
# Why: bench/adhoc.sh needs one container per host, which stops at a few
# dozen hosts on a small machine. Here a single OpenSSH sshd, in a network
# namespace of its own, stands in for all N hosts: the namespace's loopback
# answers on the whole of 127.0.0.0/8, so host i is 127.0.X.Y:22 and each
# host has its own address, inventory entry and known_hosts line, exactly as
# a real fleet would. Wall time is then bound by that one sshd (every
# handshake, fork and shell of every "host" shares the same 2 cores), so it
# says little; the controller's CPU and memory per host are what we compare.
#
#   bash bench/scale.sh                          # N = 100 and 1000, 3 rounds
#   SIZES="100 1000" ROUNDS=3 bash bench/scale.sh
#   SIZES=1000 HALITE_FORKS="100 200 500 1000" bash bench/scale.sh   # where does --forks break?
#
# Environment:
#   SIZES         host counts (default "100 1000"; at most 64516)
#   ROUNDS        measured rounds per row; the table shows medians (default 3)
#   HALITE_FORKS  --forks values for halite; N means the host count (default "N 100")
#   SSH_PARALLEL  cap on parallel ssh processes, P = min(N, SSH_PARALLEL) (default 200):
#                 each ssh is a whole process doing its own handshake, so more
#                 than a few hundred of them only thrash the cores and fight
#                 sshd for them; 200 is already far past the 2 cores here.
#   SSH_BASELINE  "no" skips OpenSSH (default yes)
#   HALITE_BIN    a halite binary to measure instead of building target/release/halite
#   NETNS         name of the network namespace (default halite-scale-PID)
#   CLEAN_HOME    "no" lets the sessions use root's real home and dotfiles (default:
#                 an empty tmpfs home, see below)
#
# Needs root (network namespace), iproute2, python3, openssh-server and
# openssh-client. All traffic stays inside the namespace's loopback; the
# namespace, sshd and the temporary directory are removed on exit.
#
# Measurement: each command is run by a python3 helper inside the namespace,
# which reaps it with wait4(): CPU is user+sys of the command and everything it
# waited for (for OpenSSH: xargs and every ssh), peak RSS is the largest
# single process among them (for halite: halite; for OpenSSH: one ssh, so P in
# flight hold about P times that).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"100 1000"}
ROUNDS=${ROUNDS:-3}
HALITE_FORKS=${HALITE_FORKS:-"N 100"}
SSH_PARALLEL=${SSH_PARALLEL:-200}
SSH_BASELINE=${SSH_BASELINE:-yes}
NETNS=${NETNS:-halite-scale-$$}

die() { echo "bench/scale.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (it creates a network namespace)"
for c in ip python3 ssh ssh-keygen /usr/sbin/sshd xargs; do
    type -P "$c" >/dev/null || die "needs $c"
done
max=0
for n in $SIZES; do
    [[ $n =~ ^[1-9][0-9]*$ ]] && [ "$n" -le 64516 ] || die "bad size $n (1..64516)"
    [ "$n" -gt "$max" ] && max=$n
done

if [ -n "${HALITE_BIN:-}" ]; then
    halite=$(realpath "$HALITE_BIN")
else
    cargo build --release --quiet
    halite=$PWD/target/release/halite
fi

# One socket per host in flight for halite, and one startup pipe per
# unauthenticated connection for sshd: make sure the open-files limit is no
# limit. halite raises its own soft limit to the hard one (and warns when
# that is too low: the helper below checks it did not).
want=$((max + 1024))
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$want" ]; then
    ulimit -Hn "$want" || die "cannot raise the hard open-files limit to $want"
fi
ulimit -Sn "$(ulimit -Hn)"

work=$(mktemp -d /tmp/halite-scale.XXXXXX)
sshd_pid=
cleanup() {
    set +e
    if [ -n "$sshd_pid" ]; then
        kill "$sshd_pid" 2>/dev/null
        wait "$sshd_pid" 2>/dev/null
    fi
    if [ -e "/run/netns/$NETNS" ]; then
        # Sessions sshd forked and that have not ended yet: ours, by pid.
        for pid in $(ip netns pids "$NETNS"); do kill "$pid" 2>/dev/null; done
        ip netns del "$NETNS"
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the namespace and its sshd -------------------------------------------
ip netns add "$NETNS"
ip -n "$NETNS" link set lo up
ssh-keygen -q -t ed25519 -N '' -C halite-scale-host -f "$work/host_ed25519"
ssh-keygen -q -t ed25519 -N '' -C halite-scale-client -f "$work/client_ed25519"
key=$work/client_ed25519
cat >"$work/sshd_config" <<EOF
# Only inside the namespace $NETNS: 0.0.0.0 there is its loopback alone.
ListenAddress 0.0.0.0:22
HostKey $work/host_ed25519
AuthorizedKeysFile $key.pub
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile none
# Up to 1000 unauthenticated connections before any is dropped: the server
# should not be what limits correctness at N = 1000.
MaxStartups 1000:30:2000
MaxSessions 10
UseDNS no
PrintMotd no
PrintLastLog no
LogLevel ERROR
EOF
mkdir -p /run/sshd
/usr/sbin/sshd -t -f "$work/sshd_config" || die "sshd rejects its config"
# The hosts get an empty home directory (a tmpfs over root's home, in a mount
# namespace of sshd's own): the sessions would otherwise run this machine's
# ~/.bashrc (bash reads it for ssh commands), and a heavy one - `pyenv init`
# takes a global lock on every shell - serialises 1000 "hosts" behind it and
# measures the dotfiles instead. CLEAN_HOME=no keeps the real home.
root_home=$(getent passwd root | cut -d: -f6)
if [ "${CLEAN_HOME:-yes}" != no ]; then
    ip netns exec "$NETNS" unshare --mount --propagation private sh -c \
        'mount -t tmpfs -o mode=0700,size=16m halite-scale-home "$1" && exec /usr/sbin/sshd -D -e -f "$2"' \
        sh "$root_home" "$work/sshd_config" 2>"$work/sshd.log" &
else
    ip netns exec "$NETNS" /usr/sbin/sshd -D -e -f "$work/sshd_config" 2>"$work/sshd.log" &
fi
sshd_pid=$!

ssh_opts=(-F /dev/null -i "$key" -o BatchMode=yes -o StrictHostKeyChecking=yes
    -o KexAlgorithms=curve25519-sha256 -o ControlMaster=no -o LogLevel=ERROR)
# Any 127.x.y.z reaches sshd: `local 127.0.0.0/8 dev lo` is in the local table.
[[ $(ip -n "$NETNS" route show table local) == *"local 127.0.0.0/8 dev lo"* ]] ||
    die "no local 127.0.0.0/8 route in $NETNS"
hostkey=$(cut -d' ' -f1,2 "$work/host_ed25519.pub")
echo "127.0.3.7 $hostkey" >"$work/known_hosts.check"
for i in $(seq 50); do
    if ip netns exec "$NETNS" ssh "${ssh_opts[@]}" -o UserKnownHostsFile="$work/known_hosts.check" \
        -p 22 root@127.0.3.7 true 2>"$work/check.err"; then
        break
    fi
    kill -0 "$sshd_pid" 2>/dev/null || die "sshd exited: $(cat "$work/sshd.log")"
    [ "$i" = 50 ] && die "cannot reach sshd on 127.0.3.7 in $NETNS: $(cat "$work/check.err")"
    sleep 0.1
done

# --- inventories ------------------------------------------------------------
# Host i (1-based) is 127.0.X.Y with X = 1 + (i-1) / 254, Y = 1 + (i-1) % 254:
# distinct, never .0 or .255.
for n in $SIZES; do
    mkdir -p "$work/$n"
    python3 - "$work/$n" "$n" "$key" "$hostkey" <<'PY'
import sys
d, n, key, hostkey = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
addrs = [f"127.0.{1 + (i - 1) // 254}.{1 + (i - 1) % 254}" for i in range(1, n + 1)]
with open(f"{d}/inventory.yaml", "w") as f:
    f.write(f"defaults: {{user: root, identity: {key}, port: 22, connect_timeout: 30}}\nhosts:\n")
    f.writelines(f"  h{i}: {{host: {a}}}\n" for i, a in enumerate(addrs, 1))
with open(f"{d}/known_hosts", "w") as f:
    f.writelines(f"{a} {hostkey}\n" for a in addrs)
with open(f"{d}/addrs", "w") as f:
    f.writelines(f"root@{a}\n" for a in addrs)
PY
done

# --- the measuring helper ---------------------------------------------------
# measure.py KIND N ROUNDS OUTDIR CMD...: runs CMD ROUNDS times (stdin from
# OUTDIR/stdin if it exists), prints "wall_s cpu_s rss_kb ok_min ok_max drops"
# (medians of wall, cpu and SYN drops, the largest peak RSS) and writes
# OUTDIR/failures: why hosts were not ok, over all rounds, counted.
cat >"$work/measure.py" <<'PY'
import collections, json, os, re, statistics, subprocess, sys, time
kind, n, rounds, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
cmd = sys.argv[5:]

def norm(s):
    s = re.sub(r"127\.\d+\.\d+\.\d+", "127.0.X.Y", s.strip())
    s = re.sub(r"\bh\d+\b", "hN", s)
    return re.sub(r"\s+", " ", s)[:300]

def listen_drops():
    # TcpExt ListenDrops of this (the benchmark's) namespace: SYNs sshd's
    # full accept queue dropped; the client retransmits them 1 s, 3 s... later.
    lines = [l.split() for l in open("/proc/net/netstat") if l.startswith("TcpExt:")]
    return int(dict(zip(lines[0][1:], lines[1][1:]))["ListenDrops"])

walls, cpus, rsss, oks, drops = [], [], [], [], []
fails = collections.Counter()
for r in range(rounds):
    stdin = open(f"{out}/stdin") if os.path.exists(f"{out}/stdin") else subprocess.DEVNULL
    with open(f"{out}/stdout", "w") as o, open(f"{out}/stderr", "w") as e:
        d = listen_drops()
        t = time.monotonic()
        p = subprocess.Popen(cmd, stdin=stdin, stdout=o, stderr=e)
        _, status, ru = os.wait4(p.pid, 0)
        walls.append(time.monotonic() - t)
    drops.append(listen_drops() - d)
    cpus.append(ru.ru_utime + ru.ru_stime)
    rsss.append(ru.ru_maxrss)
    code = os.waitstatus_to_exitcode(status)
    stdout, stderr = open(f"{out}/stdout").read(), open(f"{out}/stderr").read()
    if kind == "halite":
        try:
            results = json.loads(stdout)["results"]
        except (ValueError, KeyError) as err:
            sys.exit(f"halite (exit {code}) printed no job record ({err}):\n{stderr[-3000:]}")
        # ok: status ok and the command's output came back.
        ok = sum(1 for h in results.values() if h["status"] == "ok" and h["ret"] == "hi")
        if len(results) != n:
            fails[f"{n - len(results)} hosts missing from the job record"] += 1
        for h in results.values():
            if h["status"] != "ok":
                fails[f"[{h['status']}] " + norm(h.get("error") or json.dumps(h.get("ret")))] += 1
            elif h["ret"] != "hi":
                fails["[ok] but returned " + norm(json.dumps(h.get("ret")))] += 1
        # Warnings (open files limit...) and errors on stderr.
        for line in stderr.splitlines():
            if line.strip():
                fails["stderr: " + norm(line)] += 1
    else:
        ok = sum(1 for line in stdout.splitlines() if line == "hi")
        for line in stderr.splitlines():
            if line.strip():
                fails[norm(line)] += 1
        if ok < n and not stderr.strip():
            fails[f"xargs exit {code}, {n - ok} hosts without output and no message"] += 1
    oks.append(ok)
with open(f"{out}/failures", "w") as f:
    for why, count in fails.most_common():
        f.write(f"{count:6d}  {why}\n")
print(f"{statistics.median(walls):.3f} {statistics.median(cpus):.3f} {max(rsss)} {min(oks)} {max(oks)} {statistics.median(drops):.0f}")
PY

inns() { ip netns exec "$NETNS" "$@"; }
export HALITE_CACHE_DIR=$work/cache

halite_cmd() { # N FORKS
    echo "$halite" --inventory "$work/$1/inventory.yaml" --known-hosts "$work/$1/known_hosts" \
        --no-progress --forks "$2" --out json "'*'" cmd.run "'echo hi'"
}
ssh_cmd() { # N P
    echo xargs -P "$2" -I{} ssh "${ssh_opts[@]}" -o UserKnownHostsFile="$work/$1/known_hosts" {} "'echo hi'" "< $work/$1/addrs"
}

# Warm up once (page cache, sshd binary), unmeasured.
first=${SIZES%% *}
inns "$halite" --inventory "$work/$first/inventory.yaml" --known-hosts "$work/$first/known_hosts" \
    --no-progress --forks 10 '*' cmd.run 'echo hi' >/dev/null 2>&1 || true
head -n 10 "$work/$first/addrs" | inns xargs -P 10 -I{} ssh "${ssh_opts[@]}" \
    -o UserKnownHostsFile="$work/$first/known_hosts" {} 'echo hi' >/dev/null 2>&1 || true

rows=()
notes=()
row() { # N TOOL RESULT-LINE
    local n=$1 tool=$2 wall cpu rss okmin okmax drops ok
    read -r wall cpu rss okmin okmax drops <<<"$3"
    ok="$okmin/$n"
    [ "$okmin" = "$okmax" ] || ok="$okmin-$okmax/$n"
    rows+=("$(python3 -c 'import sys
n, tool, wall, cpu, rss, ok, drops = sys.argv[1:]
print(f"{n:>6} {tool:<28} {float(wall):>8.2f} {float(cpu)*1000/int(n):>16.2f} {int(rss)/1024:>12.1f} {ok:>11} {drops:>9}")' \
        "$n" "$tool" "$wall" "$cpu" "$rss" "$ok" "$drops")")
}

for n in $SIZES; do
    # halite, at each --forks (values above N are the same as N).
    done_forks=" "
    for f in $HALITE_FORKS; do
        [ "$f" = N ] && f=$n
        [ "$f" -gt "$n" ] && f=$n
        case $done_forks in *" $f "*) continue ;; esac
        done_forks+="$f "
        out=$work/$n/halite-$f
        mkdir -p "$out"
        echo "N=$n: halite --forks $f, $ROUNDS rounds..." >&2
        res=$(inns python3 "$work/measure.py" halite "$n" "$ROUNDS" "$out" \
            "$halite" --inventory "$work/$n/inventory.yaml" --known-hosts "$work/$n/known_hosts" \
            --no-progress --forks "$f" --out json '*' cmd.run 'echo hi')
        row "$n" "halite --forks $f" "$res"
        [ -s "$out/failures" ] && notes+=("N=$n halite --forks $f (counts over $ROUNDS rounds):" "$(cat "$out/failures")")
    done
    # OpenSSH: one ssh process per host, P at a time.
    if [ "$SSH_BASELINE" != no ]; then
        p=$((n < SSH_PARALLEL ? n : SSH_PARALLEL))
        out=$work/$n/ssh-$p
        mkdir -p "$out"
        cp "$work/$n/addrs" "$out/stdin"
        echo "N=$n: openssh -P $p, $ROUNDS rounds..." >&2
        res=$(inns python3 "$work/measure.py" ssh "$n" "$ROUNDS" "$out" \
            xargs -P "$p" -I{} ssh "${ssh_opts[@]}" -o UserKnownHostsFile="$work/$n/known_hosts" {} 'echo hi')
        row "$n" "openssh curve25519 -P $p" "$res"
        [ -s "$out/failures" ] && notes+=("N=$n openssh -P $p (counts over $ROUNDS rounds):" "$(cat "$out/failures")")
    fi
done

echo
echo "halite scale benchmark: $(nproc) cores, $ROUNDS rounds (median wall and CPU, largest peak RSS; ok = worst-best round)"
echo "one sshd ($(/usr/sbin/sshd -V 2>&1 | cut -d, -f1)) in netns $NETNS stands in for every host; wall time is bound by it"
printf '%6s %-28s %8s %16s %12s %11s %9s\n' N tool wall_s cpu_ms_per_host peak_rss_MB ok/N syn_drops
printf '%s\n' "${rows[@]}"
echo
echo "peak_rss_MB for OpenSSH is one ssh process; P of them run at once, so about P times that in all."
echo "syn_drops: connection attempts sshd's full listen queue (backlog 128) dropped, per round; each"
echo "costs its client a SYN retransmit (1 s, then 3 s...), which shows in wall time, not in CPU."
echo
echo "commands (run inside the namespace: ip netns exec $NETNS ...; paths are temporary):"
echo "  HALITE_CACHE_DIR=$HALITE_CACHE_DIR $(halite_cmd N F)"
[ "$SSH_BASELINE" = no ] || echo "  $(ssh_cmd N P)"
echo "  (N = host count, F = --forks as in the table, P = min(N, $SSH_PARALLEL))"
if [ ${#notes[@]} -gt 0 ]; then
    echo
    echo "hosts not ok, and stderr:"
    printf '%s\n' "${notes[@]}"
fi
if [ -s "$work/sshd.log" ]; then
    echo
    echo "sshd log (LogLevel ERROR), most frequent lines:"
    sed -E 's/127\.[0-9]+\.[0-9]+\.[0-9]+/127.0.X.Y/g; s/port [0-9]+/port P/g; s/#[0-9]+/#K/g' "$work/sshd.log" |
        sort | uniq -c | sort -rn | head -20
fi
