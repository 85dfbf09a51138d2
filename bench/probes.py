#!/usr/bin/env python3
# Host CPU of each part of a state run's gather script, for the per-probe
# table in README's "A no-op highstate":
#
#   python3 bench/probes.py CONTAINER GATHER_SCRIPT [N]
#
# Runs the script's parts (the drift ledger's read, the shared probes, each
# state's probe) N times each (default 10) in one `podman exec` per part,
# and prints the CPU each costs the host: the container's
# cpuacct cgroup (everything in it: sh, the probes, systemd answering
# systemctl), less an empty script's. The shared probes run before each
# probe that may read them and are counted once. Noisy on a busy machine:
# compare the "whole script" lines first.
#
# GATHER_SCRIPT is the text the engine sends as a run's first execution;
# it was captured with a temporary two-line patch writing `script` to a
# file in src/engine/gather.rs's exec().
import re, subprocess, sys
c, path = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 10
cid = subprocess.run(["podman", "inspect", "-f", "{{.Id}}", c], capture_output=True, text=True).stdout.strip()
acct = f"/sys/fs/cgroup/cpuacct/libpod_parent/libpod-{cid}/cpuacct.usage"
text = open(path).read()
lines = text.split("\n")
head = "\n".join(lines[:5]) + "\n"
marker = re.search(r"'(@@halite-[0-9a-f]+)'", text).group(1)
parts, cur, name = [], [], "ledger"
for l in lines[5:]:
    m = re.match(r"_ht; printf '\\n%s probe (\d+) %s\\n'", l)
    if m:
        parts.append((name, "\n".join(cur)))
        cur, name = [], f"probe {m.group(1)}"
    cur.append(l)
parts.append((name, "\n".join(cur)))
# The shared probes (after the ledger read, before probe 0) run once: each
# is measured alone, and each probe after the one it reads, less its cost.
led = parts[0][1]
shared = {}
starts = {"svc": "if [ -d /run/systemd/system ] && command -v systemctl",
          "pkg": "if command -v dpkg >/dev/null 2>&1; then\nh_pkg_list=",
          "user": "h_ud=$(",
          "file": "h_k=\nset --\n"}
found = sorted((led.find(v), k) for k, v in starts.items() if led.find(v) >= 0)
for n_, (i, k) in enumerate(found):
    j = found[n_ + 1][0] if n_ + 1 < len(found) else led.find("\n_ht; printf", i)
    j = len(led) if j < 0 else j
    shared[k] = led[i:j].rstrip("\n") + "\n"
for v in shared.values():
    led = led.replace(v.rstrip("\n"), "")
parts[0] = ("ledger", led)
def cost(script, body=""):
    """CPU (ms) per run of `body` after `script`'s head: ONE podman exec
    running it n times (each in a subshell), so podman's own cost is spread."""
    loop = f"{script}\nh_n=0\nwhile [ $h_n -lt {n} ]; do\n(\n{body}\n:\n) >/dev/null 2>&1 </dev/null\nh_n=$((h_n + 1))\ndone\n"
    a = int(open(acct).read())
    subprocess.run(["podman", "exec", "-i", c, "sh", "-s"], input=loop.encode(), stdout=subprocess.DEVNULL)
    return (int(open(acct).read()) - a) / n / 1e6
base = cost(head)
total = 0
sh_cost = {}
for k, v in shared.items():
    sh_cost[k] = cost(head, v) - base
    total += sh_cost[k]
    print(f"{sh_cost[k]:7.1f} ms  shared {k}")
for name, body in parts:
    k = ("svc" if "h_svc_find" in body else "pkg" if "h_pkg_arch" in body
         else "file" if "halite-file:" in body
         else "user" if "h_ud_ok" in body else None)
    pre = shared.get(k, "")
    ms = cost(head, pre + body) - base - (sh_cost[k] if pre else 0)
    total += ms
    first = next((l for l in body.split("\n") if re.search(r"h_list -- |systemctl is-active|getent (passwd|group) [a-z]|^p=|cond \d+", l)), "")
    print(f"{ms:7.1f} ms  {name:10s} {first.strip()[:70]}")
print(f"{total:7.1f} ms  sum of parts (empty script: {base:.1f} ms)")
print(f"{cost(head, text[len(head):]) - base:7.1f} ms  whole script")
