#!/bin/sh
# Captures what systemd really answers, for src/platform/systemd.rs's claim
# that `systemctl show -p ...UnitFileState` can stand for `systemctl
# is-enabled` (tests/compat/platform/systemd-*.txt). Units in every state are
# made first: alias, static, masked, enabled-runtime, indirect, SysV-only,
# template instance, missing, enabled and disabled by hand without
# daemon-reload. Run against a throwaway container of the fleet image
# (systemd 252 as PID 1):
#   podman run -d --name pf-sd IMAGE /sbin/init
#   sh tests/compat/gen_platform_systemd.sh pf-sd
set -eu
c=$1
out=$(dirname "$0")/platform
x() { podman exec "$c" sh -c "$1"; }
x 'u() { printf "[Service]\nExecStart=/bin/sleep 1000\n%s" "$2" >"$1"; }
i="[Install]
WantedBy=multi-user.target
"
d=/etc/systemd/system
u $d/pfa.service "$i""Alias=pfalias.service
"
u $d/pfstatic.service ""
for n in pfb pfc pfd pfr; do u $d/$n.service "$i"; done
u $d/pfi.service "[Install]
Also=pfb.service
"
u /lib/systemd/system/pflib.service "$i"
printf "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: pfsysv\n# Default-Start: 2 3 4 5\n# Default-Stop: 0 1 6\n### END INIT INFO\nexit 0\n" >/etc/init.d/pfsysv
chmod +x /etc/init.d/pfsysv
systemctl daemon-reload
systemctl enable pfa.service pfd.service >/dev/null 2>&1
systemctl enable --runtime pfr.service >/dev/null 2>&1
systemctl mask pflib.service >/dev/null 2>&1
ln -sf $d/pfc.service $d/multi-user.target.wants/pfc.service
rm -f $d/multi-user.target.wants/pfd.service'
units='pfa pfalias pfb pfc pfd pfr pfi pfstatic pflib pfsysv ssh sshd systemd-journald getty@tty1 nosuch pfa.service'
x "for u in $units; do e=\$(systemctl is-enabled -- \$u 2>/dev/null); printf '%s %s %s\n' \$u \$? \"\$e\"; done" >"$out/systemd-is-enabled.txt"
x "systemctl show -p Id,LoadState,ActiveState,UnitFileState,FragmentPath -- $units" >"$out/systemd-show.txt"
x "systemctl --version | head -1" >"$out/systemd-version.txt"
