#!/usr/bin/env bash
# Why: builds the base image of one Debian release for halite's test fleet, from
# Debian's package mirror with debootstrap (no container registry is reachable on
# the project's machines). This file and assets/ are the image's build inputs:
# fleet.sh hashes them into the image tag, so editing either rebuilds the image
# and nothing else does. The test key is NOT baked in here (fleet.sh adds it as a
# thin layer), so one base image serves any fleet directory.
#
# Usage (normally called by fleet.sh): build-image.sh RELEASE MIRROR TAG WORKDIR DEBCACHE
set -euo pipefail

release=${1:?release}
mirror=${2:?mirror}
tag=${3:?image tag}
work=${4:?work dir}
debcache=${5:?deb cache dir}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
assets=$here/assets

# What the hosts carry beyond minbase: sshd + systemd as PID 1, the tools halite's
# grains and modules read, sudo for the deploy/alice users, dbus so systemctl and
# friends behave as on a real server, cron as a small real service to manage.
include=openssh-server,systemd-sysv,dbus,procps,iproute2,sudo,ca-certificates,netbase,cron

# shellcheck source-path=SCRIPTDIR
# shellcheck source=assets/users.env
. "$assets/users.env"

die() {
    echo "build-image.sh: $*" >&2
    exit 1
}

rootfs=$work/rootfs-$release
mkdir -p "$work" "$debcache"
# A half-built tree from an interrupted run is simply redone.
umount "$rootfs" 2>/dev/null || true
rm -rf "$rootfs"
mkdir -p "$rootfs"
# Build in memory: dpkg's many fsyncs make debootstrap twice as slow on disk.
# mode=755 matters: the tree's own root becomes the image's "/", and sshd refuses
# keys under a world-writable "/".
if ! mount -t tmpfs -o size=3g,mode=755 halite-fleet-build "$rootfs"; then
    echo "build-image.sh: cannot mount a tmpfs; building on disk (slower)" >&2
fi
cleanup() {
    local rc=$?
    # HALITE_FLEET_KEEP_ROOTFS=1 keeps the tree of a failed build for a look.
    if [ "$rc" != 0 ] && [ "${HALITE_FLEET_KEEP_ROOTFS:-}" = 1 ]; then
        echo "build-image.sh: kept $rootfs" >&2
        return
    fi
    umount "$rootfs" 2>/dev/null || true
    rm -rf "$rootfs"
}
trap cleanup EXIT

echo "build-image.sh: debootstrap $release from $mirror" >&2
if ! debootstrap --variant=minbase --include="$include" --cache-dir="$debcache" \
    "$release" "$rootfs" "$mirror" >"$work/debootstrap-$release.log" 2>&1; then
    tail -n 30 "$work/debootstrap-$release.log" >&2
    die "debootstrap of $release failed (full log: $work/debootstrap-$release.log)"
fi

in_root() { chroot "$rootfs" "$@"; }

# --- apt and dpkg: no recommends, no docs, the plain Debian source kept ---------
install -m 644 "$assets/apt-halite.conf" "$rootfs/etc/apt/apt.conf.d/99halite"
install -m 644 "$assets/dpkg-nodoc.cfg" "$rootfs/etc/dpkg/dpkg.cfg.d/01halite-nodoc"
echo "deb $mirror $release main" >"$rootfs/etc/apt/sources.list"
# Nobody answers debconf questions on a test host.
echo 'debconf debconf/frontend select Noninteractive' | in_root debconf-set-selections

# --- sshd ---------------------------------------------------------------------------
install -m 644 "$assets/sshd-halite.conf" "$rootfs/etc/ssh/sshd_config.d/halite.conf"
# shellcheck disable=SC2016 # dpkg-query's own ${Version}, not the shell's
ssh_version=$(in_root dpkg-query -W -f '${Version}' openssh-server)
if dpkg --compare-versions "$ssh_version" ge 1:9.8; then
    # OpenSSH >= 9.8 penalises sources with failed logins; every test connection
    # comes from the same address, so one negative test would lock out the rest.
    echo "PerSourcePenalties no" >>"$rootfs/etc/ssh/sshd_config.d/halite.conf"
fi
rm -f "$rootfs"/etc/ssh/ssh_host_*
install -m 644 "$assets/halite-hostkeys.service" "$rootfs/etc/systemd/system/halite-hostkeys.service"
in_root systemctl enable halite-hostkeys.service >/dev/null 2>&1

# --- systemd in a container -----------------------------------------------------------
# An empty machine-id makes systemd take the one podman passes (container_uuid),
# so every container has its own.
: >"$rootfs/etc/machine-id"
rm -f "$rootfs/var/lib/dbus/machine-id"
ln -s /etc/machine-id "$rootfs/var/lib/dbus/machine-id"
# Timers that would run apt or dpkg behind a test's back (dpkg lock, changed
# package state) or do disk work that means nothing in a container. No unit
# fails in these containers (`systemctl is-system-running` says `running` with
# or without these masks), so nothing else is disabled.
in_root systemctl mask apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer \
    e2scrub_all.timer fstrim.timer man-db.timer >/dev/null 2>&1

# --- users ---------------------------------------------------------------------------
in_root useradd --create-home --shell /bin/bash --uid 1000 --user-group deploy
in_root useradd --create-home --shell /bin/bash --uid 1001 --user-group --groups sudo alice
# deploy: no password at all ("*", not locked "!"); alice: a real password.
in_root usermod --password '*' deploy
echo "alice:$ALICE_PASSWORD" | in_root chpasswd
install -m 440 "$assets/sudoers-deploy" "$rootfs/etc/sudoers.d/deploy"
install -d -m 700 "$rootfs/root/.ssh"
install -d -m 700 -o 1000 -g 1000 "$rootfs/home/deploy/.ssh"
install -d -m 700 -o 1001 -g 1001 "$rootfs/home/alice/.ssh"

# --- the shellshock drill: halite-drill 1.0 (vulnerable) and 1.1 (fixed) --------------
drill=$work/drill-$release
rm -rf "$drill"
build_drill() {
    local version=$1 pkg=$drill/pkg-$1
    install -d "$pkg/DEBIAN" "$pkg/usr/share/halite-drill"
    cat >"$pkg/DEBIAN/control" <<EOF
Package: halite-drill
Version: $version
Architecture: all
Maintainer: halite test fleet <halite-fleet@localhost.invalid>
Section: misc
Priority: optional
Description: halite test package for the shellshock patch drill
 Version 1.0 installs /usr/local/bin/bash, a stand-in that emulates
 CVE-2014-6271; version 1.1 is the "fixed" release without it.
EOF
    echo "$version" >"$pkg/usr/share/halite-drill/VERSION"
    if [ "$version" = 1.0 ]; then
        install -D -m 755 "$assets/drill/bash" "$pkg/usr/local/bin/bash"
    fi
    dpkg-deb --root-owner-group -Zgzip --build "$pkg" "$drill/halite-drill_${version}_all.deb" >/dev/null
}
build_drill 1.0
build_drill 1.1
repo=$rootfs/srv/halite-drill-repo
install -d "$repo"
install -m 644 "$drill/halite-drill_1.0_all.deb" "$rootfs/srv/halite-drill-1.0.deb"
install -m 644 "$drill/halite-drill_1.1_all.deb" "$repo/"
(
    cd "$repo"
    dpkg-scanpackages --multiversion . /dev/null 2>/dev/null >Packages
    gzip -9nk Packages
    {
        echo "Origin: halite-drill"
        echo "Label: halite-drill"
        echo "Suite: ./"
        echo "Date: $(LC_ALL=C date -u -R)"
        echo "SHA256:"
        for f in Packages Packages.gz; do
            printf ' %s %s %s\n' "$(sha256sum <"$f" | cut -d' ' -f1)" "$(stat -c %s "$f")" "$f"
        done
    } >Release
)
rm -rf "$drill"
echo "deb [trusted=yes] file:/srv/halite-drill-repo ./" \
    >"$rootfs/etc/apt/sources.list.d/halite-drill.list"
# Index the drill repo now (it is local), so `apt-get install halite-drill` works
# on a fresh host without a network round trip; Debian's own lists are left out
# to keep the image small (an `apt-get update` on the host fetches them).
in_root apt-get update -qq \
    -o Dir::Etc::SourceList=/etc/apt/sources.list.d/halite-drill.list \
    -o Dir::Etc::SourceParts=/nonexistent >/dev/null
policy=$(in_root apt-cache policy halite-drill)
case $policy in *"Candidate: 1.1"*) ;; *) die "the drill repository does not offer halite-drill 1.1: $policy" ;; esac

# --- shrink -------------------------------------------------------------------------
in_root apt-get clean
rm -rf "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/* \
    "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* \
    "$rootfs"/tmp/* "$rootfs"/var/tmp/*
find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true

# --- import --------------------------------------------------------------------------
echo "build-image.sh: importing $tag" >&2
tar --numeric-owner --xattrs -C "$rootfs" -c . |
    podman import --quiet --change 'CMD ["/sbin/init"]' --change 'STOPSIGNAL SIGRTMIN+3' \
        --change "LABEL halite.fleet.release=$release" - "$tag" >/dev/null
echo "build-image.sh: built $tag" >&2
