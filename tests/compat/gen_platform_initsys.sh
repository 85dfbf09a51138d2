#!/bin/sh
# Captures what OpenRC and sysvinit really print, for the parsers of
# src/platform/openrc.rs and src/platform/sysvinit.rs
# (tests/compat/platform/openrc-show.txt, sysv-probe-*.txt). It installs
# the test service halite-sleep (stopped, in no runlevel) on the fleet's
# `openrc` and `sysv` platform hosts first, then prints what each probe
# prints (the same commands as the probes). Run with the platform hosts up:
#   sh tests/compat/gen_platform_initsys.sh OPENRC_CONTAINER SYSV_CONTAINER
set -eu
o=$1 s=$2
here=$(dirname "$0")
out=$here/platform
podman cp "$here/platform/halite-sleep.openrc" "$o:/etc/init.d/halite-sleep"
podman exec "$o" sh -c 'chmod +x /etc/init.d/halite-sleep; rc-service halite-sleep stop >/dev/null 2>&1; rm -f /etc/runlevels/*/halite-sleep; true'
podman exec "$o" rc-update -v show >"$out/openrc-show.txt"
podman cp "$here/platform/halite-sleep.sysv" "$s:/etc/init.d/halite-sleep"
podman exec "$s" sh -c 'chmod +x /etc/init.d/halite-sleep; service halite-sleep stop >/dev/null 2>&1; update-rc.d -f halite-sleep remove >/dev/null 2>&1; true'
probe='h_x=1; [ -f /etc/init.d/$1 ] && h_x=0; printf "@@exists %s\n" "$h_x"
service "$1" status >/dev/null 2>&1; printf "@@status %s\n" "$?"
h_rl=$(runlevel 2>/dev/null); printf "@@runlevel %s\n" "$h_rl"
case $h_rl in *unknown* | "") h_rl=2 ;; *) h_rl=${h_rl##* } ;; esac
printf "@@links\n"
for h_f in /etc/rcS.d/S* /etc/rc"$h_rl".d/S*; do [ -e "$h_f" ] && printf "%s\n" "${h_f##*/}"; done
printf "@@end\n"'
podman exec "$s" sh -c "$probe" sh halite-sleep >"$out/sysv-probe-stopped.txt"
podman exec "$s" sh -c "$probe" sh ssh >"$out/sysv-probe-ssh.txt"
