#!/bin/sh
# Captures what pacman 6.0 prints for the commands src/platform/pacman.rs
# runs, as the fixtures its parsers are tested against
# (tests/compat/platform/pacman-*.txt). Run it against the fleet's `arch`
# platform host (Debian underneath, Debian's pacman; nothing here proves
# behaviour on a real Arch):
#   sh tests/compat/gen_platform_pacman.sh pf-arch
# It adds the [halite-updates] repository above [halite] for the captures
# and restores /etc/pacman.conf afterwards.
set -eu
c=$1
out=$(dirname "$0")/platform
x() { podman exec "$c" sh -c "export LC_ALL=C; $1"; }
x 'cp /etc/pacman.conf /etc/pacman.conf.halite-gen
sed -i "s|^\[halite\]|[halite-updates]\nSigLevel = Never\nServer = file:///srv/repo-updates\n\n[halite]|" /etc/pacman.conf
pacman -Sy --noprogressbar >/dev/null'
x "pacman -Q -- halite-drill halite-hello nosuch 2>/dev/null | sed 's/ /	/'" >"$out/pacman-list.txt" || true
x "pacman -Si -- halite-hello halite-drill nosuch 2>/dev/null | awk -F ' *: ' '\$1 == \"Name\" { n = \$2 } \$1 == \"Version\" { print n \"\\t\" \$2 }'" >"$out/pacman-policy.txt"
x "pacman -S -p -u --print-format '%n %v'" >"$out/pacman-list-upgrades.txt"
x "pacman -S --noprogressbar --noconfirm --needed -- nosuchpkg 2>&1" >"$out/pacman-install-errors.txt" || true
x "pacman --version | grep -o 'Pacman v[^ ]* - libalpm v[^ ]*'" >"$out/pacman-versions.txt"
x 'mv /etc/pacman.conf.halite-gen /etc/pacman.conf; pacman -Sy --noprogressbar >/dev/null'
