#!/usr/bin/env bash
# Why: halite's integration tests drive the real binary against real Debian hosts
# (systemd + OpenSSH). This script builds those hosts as podman containers from
# Debian's package mirror and describes them in $HALITE_FLEET_DIR/fleet.json for
# tests/harness/mod.rs. It is idempotent and serialised with flock, so any number
# of test processes may call `up` at once; CI may run it on a fresh machine (it
# installs what it needs) or on a reused one (images are cached by content hash).
#
# Hosts are reached ONLY on published 127.0.0.1 ports; nothing here ever sends
# traffic to the containers' own (10.88.x) addresses.
#
#   fleet.sh deps            install podman & co, configure podman for this machine
#   fleet.sh missing         list the Debian packages deps would install (no changes)
#   fleet.sh image           build (or reuse) the host images
#   fleet.sh up [N] [--with-pod]
#                            start hosts node1..N (default 4) + the stopped host `down`;
#                            --with-pod also the privileged container host `pod1`
#   fleet.sh up-platforms    start one test host of each other platform (rhel suse arch
#                            openrc sysv, on BASE+61..65), described in platforms.json
#   fleet.sh down            remove the fleet's containers (images stay cached)
#   fleet.sh clean           down, then also remove the images and the deb cache
#   fleet.sh status          print the fleet
#   fleet.sh exec NODE CMD.. run CMD on NODE (node1, halite-node1, down) via podman
#
# Environment: HALITE_FLEET_DIR (default /var/tmp/halite-fleet),
# HALITE_FLEET_PORT_BASE (default 22200: nodeI listens on BASE+I, `down` on BASE,
# `pod1` on BASE+10, the platform hosts on BASE+61..65),
# HALITE_FLEET_RELEASE (default bookworm), HALITE_FLEET_ALT_RELEASE (default
# trixie, bullseye if trixie cannot be built), HALITE_FLEET_MIRROR (default: the
# machine's own Debian mirror).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fleet_dir=${HALITE_FLEET_DIR:-/var/tmp/halite-fleet}
port_base=${HALITE_FLEET_PORT_BASE:-22200}
main_release=${HALITE_FLEET_RELEASE:-bookworm}
alt_release=${HALITE_FLEET_ALT_RELEASE:-trixie}
alt_fallback=bullseye
key=$fleet_dir/id_ed25519
lock=$fleet_dir/fleet.lock
prefix=${HALITE_FLEET_PREFIX:-halite-}
down_name=${prefix}down
pod_name=${prefix}pod1
# The platform test hosts (tests/fleet/platforms/NAME), in port order: NAME
# listens on BASE+61, BASE+62, ... (above the 50 nodes `up` allows)
platforms=(rhel suse arch openrc sysv)
platform_re=$(
    IFS='|'
    echo "${platforms[*]}"
)
# shellcheck source-path=SCRIPTDIR
# shellcheck source=assets/users.env
. "$here/assets/users.env"

# Every podman call goes through here: runc (crun fails on this machine), and the
# flock fd closed, because `podman run/start` leave a conmon daemon behind that
# would otherwise inherit the lock and hold it forever.
podman() { command podman --runtime runc "$@" 9>&-; }

log() { echo "fleet.sh: $*" >&2; }
die() {
    echo "fleet.sh: error: $*" >&2
    exit 1
}

# ---------------------------------------------------------------------------------
# deps
# ---------------------------------------------------------------------------------

# Every binary the test suite runs on this machine, as BINARY:DEBIAN-PACKAGE.
# The fleet scripts, the integration tests (sshd, script(1), busybox for the
# pod's images, gpg and gpgconf for the encrypted pillar tests, ip for the
# jump host tests' network namespace, python3 for the HTTP server remote
# sources download from, curl for the download lines' unit tests) and the
# grains unit tests (dash, busybox) all need these.
dep_tools=(
    podman:podman runc:runc debootstrap:debootstrap
    ssh:openssh-client ssh-agent:openssh-client ssh-keygen:openssh-client
    ssh-keyscan:openssh-client /usr/sbin/sshd:openssh-server
    dpkg-scanpackages:dpkg-dev flock:util-linux script:bsdutils
    dash:dash busybox:busybox tar:tar ip:iproute2
    gpg:gnupg gpgconf:gnupg curl:curl python3:python3
)

# The Debian packages whose binaries are not on PATH, one per line, sorted.
# `type -P` looks at PATH (or the given path) only: `command -v` would find
# this script's own podman() function above and report podman as installed on
# a machine that has none, which is how a fresh machine once got no podman.
missing_packages() {
    local pair
    for pair in "${dep_tools[@]}"; do
        type -P "${pair%%:*}" >/dev/null || echo "${pair#*:}"
    done | sort -u
}

cmd_deps() {
    [ "$(id -u)" = 0 ] || die "the test fleet needs root (rootful podman, debootstrap)"
    local missing
    mapfile -t missing < <(missing_packages)
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >&2 || die "apt-get update failed"
        apt-get install -y -q "${missing[@]}" >&2 || die "apt-get install ${missing[*]} failed"
        mapfile -t missing < <(missing_packages)
        [ ${#missing[@]} -eq 0 ] || die "still missing after apt-get install: ${missing[*]}"
    fi
    # crun fails here ("cgroups in hybrid mode not supported") and raising
    # RLIMIT_NOFILE is not permitted, so podman needs runc and no default ulimits.
    local conf=/etc/containers/containers.conf.d/50-halite-fleet.conf
    local want='# Written by halite tests/fleet/fleet.sh: runc, and no ulimits podman cannot set here.
[containers]
default_ulimits = []

[engine]
runtime = "runc"'
    if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
        mkdir -p "${conf%/*}"
        printf '%s\n' "$want" >"$conf.tmp.$$"
        mv "$conf.tmp.$$" "$conf"
        log "wrote $conf"
    fi
}

# ---------------------------------------------------------------------------------
# images
# ---------------------------------------------------------------------------------

mirror() {
    if [ -n "${HALITE_FLEET_MIRROR:-}" ]; then
        echo "$HALITE_FLEET_MIRROR"
        return
    fi
    local m=""
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        # The first URIs: line of a stanza whose Suites are the plain releases.
        m=$(awk '/^URIs:/ {u=$2} /^Suites:/ && $0 !~ /security/ && u != "" {print u; exit}' \
            /etc/apt/sources.list.d/debian.sources)
    fi
    if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
        m=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' \
            /etc/apt/sources.list)
    fi
    [ -n "$m" ] || die "cannot find the Debian mirror in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list (set HALITE_FLEET_MIRROR)"
    echo "${m%/}"
}

# The hash of everything that goes into a base image of release $1.
base_hash() {
    {
        (cd "$here" && find build-image.sh assets -type f -print0 | sort -z | xargs -0 sha256sum)
        echo "release=$1 mirror=$(mirror)"
    } | sha256sum | cut -c1-12
}

image_exists() { podman image exists "$1"; }

# Build the base image of release $1 unless its tag exists; prints the tag.
ensure_base() {
    local release=$1 tag
    tag=localhost/halite-fleet-base:$release-$(base_hash "$release")
    if ! image_exists "$tag"; then
        bash "$here/build-image.sh" "$release" "$(mirror)" "$tag" \
            "$fleet_dir/build" "$fleet_dir/cache/debs-$release" >&2 9>&- || return 1
    fi
    echo "$tag"
}

# The per-key layer on top of base $1: the test key in root's, deploy's and alice's
# authorized_keys. Prints the tag (in repository $2, default halite-fleet).
ensure_node_image() {
    local base=$1 repo=${2:-halite-fleet} keyhash tag ctx
    keyhash=$(sha256sum <"$key.pub" | cut -c1-8)
    tag=localhost/$repo:${base##*:}-$keyhash
    if ! image_exists "$tag"; then
        ctx=$(mktemp -d "$fleet_dir/build/ctx.XXXXXX")
        cp "$key.pub" "$ctx/authorized_keys"
        cat >"$ctx/Containerfile" <<EOF
FROM $base
COPY --chown=0:0 --chmod=600 authorized_keys /root/.ssh/authorized_keys
COPY --chown=1000:1000 --chmod=600 authorized_keys /home/deploy/.ssh/authorized_keys
COPY --chown=1001:1001 --chmod=600 authorized_keys /home/alice/.ssh/authorized_keys
EOF
        podman build --quiet --tag "$tag" "$ctx" >/dev/null || {
            rm -rf "$ctx"
            die "podman build of $tag failed"
        }
        rm -rf "$ctx"
    fi
    echo "$tag"
}

ensure_key() {
    mkdir -p "$fleet_dir"
    if [ ! -f "$key" ] || [ ! -f "$key.pub" ]; then
        rm -f "$key" "$key.pub"
        ssh-keygen -q -t ed25519 -N '' -C halite-fleet-test-key -f "$key"
        log "generated the test key $key"
    fi
    chmod 600 "$key"
}

# Sets main_image, alt_image and alt_release (which may fall back to bullseye).
ensure_images() {
    ensure_key
    mkdir -p "$fleet_dir/build"
    local main_out=$fleet_dir/build/base-$main_release.out alt_out=$fleet_dir/build/base-$alt_release.out
    local main_pid alt_pid main_ok=1 alt_ok=1
    # The two debootstraps are mostly download and unpack; run them side by side.
    ensure_base "$main_release" >"$main_out" &
    main_pid=$!
    ensure_base "$alt_release" >"$alt_out" &
    alt_pid=$!
    wait "$main_pid" || main_ok=0
    wait "$alt_pid" || alt_ok=0
    [ "$main_ok" = 1 ] || die "cannot build the $main_release image (see above)"
    if [ "$alt_ok" = 0 ]; then
        log "cannot build the $alt_release image; falling back to $alt_fallback"
        alt_release=$alt_fallback
        alt_out=$fleet_dir/build/base-$alt_release.out
        ensure_base "$alt_release" >"$alt_out" || die "cannot build the $alt_release image either"
    fi
    main_base=$(cat "$main_out")
    main_image=$(ensure_node_image "$main_base")
    alt_image=$(ensure_node_image "$(cat "$alt_out")")
    prune_images
}

# The hash of the container host's build inputs (tests/fleet/pod/).
pod_hash() {
    (cd "$here" && find pod -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-8
}

# The container host's image: podman, crun, a registry and busybox-static on top
# of base $1 (tests/fleet/pod/Containerfile), then the test key. Prints the tag.
ensure_pod_image() {
    local base=$1 tag
    tag=localhost/halite-fleet-pod:${base##*:}-$(pod_hash)
    if ! image_exists "$tag"; then
        log "building $tag (podman, crun, docker-registry, busybox-static)"
        podman build --quiet --build-arg "BASE=$base" --tag "$tag" "$here/pod" >/dev/null ||
            die "podman build of $tag failed"
    fi
    ensure_node_image "$tag" halite-fleet-podnode
}

# Remove fleet images built from older build inputs (their hash is not the
# current one for their release). Current images made for another fleet dir's
# key are kept, and podman refuses to remove images that containers use.
prune_images() {
    local img rest release hash
    declare -A current=()
    for img in $(podman images --format '{{.Repository}}:{{.Tag}}' | grep -E '^localhost/halite-fleet(-base)?:' || true); do
        rest=${img#*:}
        release=${rest%%-*}
        hash=${rest#*-}
        hash=${hash%%-*}
        [ -n "${current[$release]:-}" ] || current[$release]=$(base_hash "$release")
        [ "$hash" != "${current[$release]}" ] || continue
        if podman rmi "$img" >/dev/null 2>&1; then
            log "removed the stale image $img"
        fi
    done
    # Container-host images: RELEASE-BASEHASH-PODHASH[-KEYHASH].
    local pod
    pod=$(pod_hash)
    for img in $(podman images --format '{{.Repository}}:{{.Tag}}' | grep -E '^localhost/halite-fleet-pod(node)?:' || true); do
        rest=${img#*:}
        release=${rest%%-*}
        IFS=- read -r _ hash rest <<<"$rest"
        [ -n "${current[$release]:-}" ] || current[$release]=$(base_hash "$release")
        [ "$hash" != "${current[$release]}" ] || [ "${rest%%-*}" != "$pod" ] || continue
        if podman rmi "$img" >/dev/null 2>&1; then
            log "removed the stale image $img"
        fi
    done
}

cmd_image() {
    with_lock
    cmd_deps
    ensure_images
    log "images: $main_image ($main_release), $alt_image ($alt_release)"
}

# ---------------------------------------------------------------------------------
# hosts
# ---------------------------------------------------------------------------------

with_lock() {
    mkdir -p "$fleet_dir"
    exec 9>>"$lock"
    if ! flock -w 900 9; then
        die "timed out after 900 s waiting for the fleet lock $lock"
    fi
}

# The spec a container must match to be kept: image, port, hostname, extra flags.
spec_of() { echo "$1|$2|$3${4:+|$4}"; }

container_field() { podman container inspect --format "$2" "$1" 2>/dev/null; }

# True when container $1's init process really runs: its pid exists and sits in
# the container's own cgroup (a reused pid would not).
container_alive() {
    local pid id
    pid=$(container_field "$1" '{{.State.Pid}}') || return 1
    id=$(container_field "$1" '{{.Id}}') || return 1
    [ -n "$pid" ] && [ "$pid" -gt 0 ] && grep -q "$id" "/proc/$pid/cgroup" 2>/dev/null
}

# Make container $1 match spec (image $2, port $3, hostname $4, extra `podman run`
# flags $6...); it boots $run_init (default /sbin/init). Prints "new" when it was (re)created (and so is running), "kept"
# when it was already right; a kept container is started when $5 is "running",
# otherwise left as it is.
reconcile() {
    local name=$1 image=$2 port=$3 hostname=$4 want=$5 spec have
    shift 5
    spec=$(spec_of "$image" "$port" "$hostname" "$*")
    have=$(container_field "$name" '{{index .Config.Labels "halite.fleet.spec"}}' || true)
    if [ -n "$have" ] && [ "$have" = "$spec" ] && [ "$(container_field "$name" '{{.State.Running}}')" = true ] &&
        ! container_alive "$name"; then
        # podman's record says running, but its processes are gone: the session or
        # machine that ran it ended without podman being told (CI on a reused
        # machine sees exactly this). Such a container never answers; redo it.
        log "$name is recorded as running but its processes are gone; recreating it"
        have=stale
    fi
    if [ -n "$have" ] && [ "$have" = "$spec" ]; then
        if [ "$want" = running ] && [ "$(container_field "$name" '{{.State.Running}}')" != true ]; then
            podman start "$name" >/dev/null || die "cannot start $name"
        fi
        echo kept
        return
    fi
    if [ -n "$have" ] || podman container exists "$name"; then
        [ "$have" = stale ] || log "recreating $name (it does not match the wanted image/port)"
        podman rm -f -t 2 "$name" >/dev/null
    fi
    podman run -d --name "$name" --hostname "$hostname" "$@" \
        --label "halite.fleet.spec=$spec" \
        -p "127.0.0.1:$port:22" "$image" "${run_init:-/sbin/init}" >/dev/null ||
        die "cannot start $name from $image on 127.0.0.1:$port"
    echo new
}

# Wait until sshd on 127.0.0.1:$2 serves container $1's own ed25519 host key;
# prints that key line.
wait_ssh() {
    local name=$1 port=$2 deadline scanned key_line
    deadline=$((SECONDS + 90))
    while :; do
        key_line=$(podman exec "$name" cat /etc/ssh/ssh_host_ed25519_key.pub 2>/dev/null || true)
        if [ -n "$key_line" ]; then
            scanned=$(ssh-keyscan -T 3 -t ed25519 -p "$port" 127.0.0.1 2>/dev/null | awk '{print $2, $3}')
            if [ -n "$scanned" ]; then
                [ "$scanned" = "$(echo "$key_line" | awk '{print $1, $2}')" ] ||
                    die "127.0.0.1:$port serves a host key that is not $name's (another process on the port?)"
                echo "$key_line"
                return
            fi
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            # What CI logs need to tell why: podman's view and the boot's last words.
            log "$name: $(container_field "$name" 'status={{.State.Status}} pid={{.State.Pid}} started={{.State.StartedAt}}')"
            podman logs --tail 25 "$name" 2>&1 | sed "s/^/fleet.sh: $name: /" >&2 || true
            die "$name: sshd did not answer on 127.0.0.1:$port within 90 s (try: podman logs $name; $0 exec ${name#"$prefix"} systemctl status ssh)"
        fi
        sleep 0.5
    done
}

json_str() {
    local s=$1
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    printf '"%s"' "$s"
}

# Each systemd host takes several inotify instances; the kernel default (128 per
# user) runs out at about 20 hosts ("Failed to create inotify object: Too many
# open files" and a boot that never finishes).
raise_inotify_limits() {
    local key want have
    for key in fs.inotify.max_user_instances:8192 fs.inotify.max_user_watches:1048576; do
        want=${key#*:}
        have=$(sysctl -n "${key%%:*}" 2>/dev/null || echo 0)
        if [ "$have" -lt "$want" ]; then
            sysctl -q -w "${key%%:*}=$want" >/dev/null 2>&1 || log "cannot raise ${key%%:*} to $want (large fleets may not boot)"
        fi
    done
}

cmd_up() {
    local n=4 with_pod=0 arg
    for arg in "$@"; do
        case $arg in
        --with-pod) with_pod=1 ;;
        *) n=$arg ;;
        esac
    done
    case $n in '' | *[!0-9]*) die "up: N must be a number, not '$n'" ;; esac
    if [ "$n" -lt 1 ] || [ "$n" -gt 50 ]; then
        die "up: N must be between 1 and 50"
    fi
    raise_inotify_limits
    with_lock
    cmd_deps
    local t0=$SECONDS
    ensure_images

    local i name port image hostname state
    local -a names=() ports=() created=()
    for ((i = 1; i <= n; i++)); do
        name=${prefix}node$i
        port=$((port_base + i))
        image=$main_image
        [ "$i" -eq "$n" ] && image=$alt_image
        state=$(reconcile "$name" "$image" "$port" "node$i" running) || exit 1
        names+=("$name")
        ports+=("$port")
        created+=("$state")
    done
    # Nodes left over from a larger fleet.
    for name in $(podman ps -a --format '{{.Names}}' | grep -E "^${prefix}node[0-9]+$" || true); do
        i=${name#"${prefix}node"}
        if [ "$i" -gt "$n" ]; then
            log "removing $name (beyond node$n)"
            podman rm -f -t 2 "$name" >/dev/null
        fi
    done

    # The container host: only with --with-pod; otherwise one already there is
    # left as it is (other test processes may be using it) and still described.
    local pod_port=$((port_base + 10)) pod_state=absent pod_image
    if [ "$with_pod" = 1 ]; then
        pod_image=$(ensure_pod_image "$main_base") || exit 1
        pod_state=$(reconcile "$pod_name" "$pod_image" "$pod_port" pod1 running --privileged) || exit 1
    elif [ "$(container_field "$pod_name" '{{.State.Running}}')" = true ] && container_alive "$pod_name"; then
        pod_state=kept
    fi

    # The unreachable host: created from the same image, booted once so it has its
    # own host key, then stopped so its published port refuses connections.
    local down_port=$port_base down_state down_key
    down_state=$(reconcile "$down_name" "$main_image" "$down_port" down stopped) || exit 1

    # Wait for every running host (they boot in parallel).
    local -a keys=()
    local k
    for ((i = 0; i < n; i++)); do
        k=$(wait_ssh "${names[i]}" "${ports[i]}") || exit 1
        keys+=("$k")
    done
    if [ "$down_state" = new ]; then
        wait_ssh "$down_name" "$down_port" >/dev/null || exit 1
    fi
    local pod_key="" pod_facts=""
    if [ "$pod_state" != absent ]; then
        pod_key=$(wait_ssh "$pod_name" "$pod_port") || exit 1
        # Its registry must answer before a test pushes to it.
        # shellcheck disable=SC2016 # expanded inside the container
        pod_facts=$(podman exec "$pod_name" sh -c '. /etc/os-release
            s=$(timeout 60 systemctl is-system-running --wait 2>/dev/null)
            i=0
            until busybox wget -q -O /dev/null http://127.0.0.1:5000/v2/ 2>/dev/null; do
                i=$((i + 1))
                [ "$i" -lt 60 ] || { echo "registry-down"; exit 1; }
                sleep 0.5
            done
            echo "${VERSION_CODENAME:-}|${VERSION_ID:-}|$s"') ||
            die "$pod_name: its registry does not answer on 127.0.0.1:5000 (try: $0 exec pod1 systemctl status docker-registry)"
    fi
    if [ "$(container_field "$down_name" '{{.State.Running}}')" = true ]; then
        podman stop -t 5 "$down_name" >/dev/null
    fi
    if ! down_key=$(podman cp "$down_name:/etc/ssh/ssh_host_ed25519_key.pub" - 2>/dev/null | tar -xO 2>/dev/null); then
        # An earlier boot was cut short before the key was made: boot it once more.
        log "$down_name has no host key yet; booting it once"
        podman start "$down_name" >/dev/null || die "cannot start $down_name"
        wait_ssh "$down_name" "$down_port" >/dev/null || exit 1
        podman stop -t 5 "$down_name" >/dev/null
        down_key=$(podman cp "$down_name:/etc/ssh/ssh_host_ed25519_key.pub" - | tar -xO) ||
            die "cannot read the host key of $down_name"
    fi

    local -a facts=()
    for ((i = 0; i < n; i++)); do
        # One exec per host: release codename, version, and whether systemd is done.
        # shellcheck disable=SC2016 # expanded inside the container
        facts+=("$(podman exec "${names[i]}" sh -c '. /etc/os-release
            echo "${VERSION_CODENAME:-}|${VERSION_ID:-}|$(timeout 60 systemctl is-system-running --wait 2>/dev/null)"' || true)")
        # Hosts with an odd index start on the vulnerable drill package 1.0.
        if [ "${created[i]}" = new ] && [ $(((i + 1) % 2)) -eq 1 ]; then
            podman exec "${names[i]}" dpkg -i /srv/halite-drill-1.0.deb >/dev/null ||
                die "${names[i]}: cannot install halite-drill 1.0"
        fi
    done

    write_fleet_json "$n" names ports keys facts "$down_port" "$down_key" "$pod_port" "$pod_key" "$pod_facts"
    log "fleet up: $n hosts + $down_name$([ "$pod_state" = absent ] || echo " + $pod_name") in $((SECONDS - t0)) s; $fleet_dir/fleet.json"
}

write_fleet_json() {
    local n=$1 down_port=$6 down_key=$7 pod_port=$8 pod_key=$9 pod_facts=${10}
    local -n _names=$2 _ports=$3 _keys=$4 _facts=$5
    local out=$fleet_dir/fleet.json tmp i name release version sys drill
    tmp=$(mktemp "$fleet_dir/fleet.json.XXXXXX")
    {
        printf '{\n  "version": 1,\n'
        printf '  "fleet_dir": %s,\n' "$(json_str "$fleet_dir")"
        printf '  "private_key": %s,\n' "$(json_str "$key")"
        printf '  "public_key": %s,\n' "$(json_str "$(cat "$key.pub")")"
        printf '  "users": {\n'
        printf '    "root": {"sudo": "root"},\n'
        printf '    "deploy": {"uid": 1000, "sudo": "nopasswd"},\n'
        printf '    "alice": {"uid": 1001, "sudo": "password", "password": %s}\n' "$(json_str "$ALICE_PASSWORD")"
        printf '  },\n'
        printf '  "drill": {"package": "halite-drill", "old_version": "1.0", "new_version": "1.1", '
        printf '"old_deb": "/srv/halite-drill-1.0.deb", "repo": "/srv/halite-drill-repo", '
        printf '"apt_source": "/etc/apt/sources.list.d/halite-drill.list", '
        printf '"probe": %s},\n' "$(json_str "env x='() { :;}; echo vulnerable' bash -c 'echo test'")"
        printf '  "hosts": [\n'
        for ((i = 0; i < n; i++)); do
            name=${_names[i]}
            IFS='|' read -r release version sys <<<"${_facts[i]}"
            drill=null
            [ $(((i + 1) % 2)) -eq 1 ] && drill='"1.0"'
            printf '    {"id": "node%d", "container": %s, "hostname": "node%d", "address": "127.0.0.1", "port": %d, ' \
                $((i + 1)) "$(json_str "$name")" $((i + 1)) "${_ports[i]}"
            printf '"state": "running", "release": %s, "os_version": %s, ' "$(json_str "$release")" "$(json_str "$version")"
            printf '"system_state": %s, "drill_initial": %s, "host_key": %s},\n' \
                "$(json_str "$sys")" "$drill" "$(json_str "${_keys[i]}")"
        done
        printf '    {"id": "down", "container": %s, "hostname": "down", "address": "127.0.0.1", "port": %d, ' \
            "$(json_str "$down_name")" "$down_port"
        printf '"state": "stopped", "release": %s, "os_version": null, "system_state": null, "drill_initial": null, "host_key": %s}\n' \
            "$(json_str "$main_release")" "$(json_str "$down_key")"
        printf '  ],\n'
        # The container host, apart from `hosts` so that tests of the other hosts
        # never see it; null when the fleet was brought up without --with-pod.
        if [ -n "$pod_key" ]; then
            IFS='|' read -r release version sys <<<"$pod_facts"
            printf '  "pod": {"id": "pod1", "container": %s, "hostname": "pod1", "address": "127.0.0.1", "port": %d, ' \
                "$(json_str "$pod_name")" "$pod_port"
            printf '"state": "running", "release": %s, "os_version": %s, "system_state": %s, "drill_initial": null, ' \
                "$(json_str "$release")" "$(json_str "$version")" "$(json_str "$sys")"
            printf '"registry": "127.0.0.1:5000", "host_key": %s}\n' "$(json_str "$pod_key")"
        else
            printf '  "pod": null\n'
        fi
        printf '}\n'
    } >"$tmp"
    chmod 644 "$tmp"
    mv "$tmp" "$out"
}

# ---------------------------------------------------------------------------------
# platform hosts: rhel, suse, arch, openrc, sysv (tests/fleet/platforms/)
# ---------------------------------------------------------------------------------

# The hash of platform $1's build inputs: its folder, the shared common/ folder
# and the drill stand-in its test packages carry.
platform_hash() {
    (cd "$here" && find "platforms/$1" platforms/common assets/drill -type f -print0 | sort -z |
        xargs -0 sha256sum) | sha256sum | cut -c1-8
}

# Platform $1's image on base $2 (platforms/$1/Containerfile), then the test key.
# The build context is assembled here: common/, $1/ and the drill stand-in as
# common/bash. Prints the tag.
ensure_platform_image() {
    local name=$1 base=$2 tag ctx t0=$SECONDS
    tag=localhost/halite-fleet-$name:${base##*:}-$(platform_hash "$name")
    if ! image_exists "$tag"; then
        log "building $tag"
        ctx=$(mktemp -d "$fleet_dir/build/ctx-$name.XXXXXX")
        cp -r "$here/platforms/common" "$here/platforms/$name" "$ctx/"
        cp "$here/assets/drill/bash" "$ctx/common/bash"
        if ! podman build --quiet --build-arg "BASE=$base" --file "$name/Containerfile" \
            --tag "$tag" "$ctx" >"$fleet_dir/build/platform-$name.log" 2>&1; then
            rm -rf "$ctx"
            tail -n 30 "$fleet_dir/build/platform-$name.log" >&2
            die "podman build of $tag failed (full log: $fleet_dir/build/platform-$name.log)"
        fi
        rm -rf "$ctx"
        log "built $tag in $((SECONDS - t0)) s"
    fi
    ensure_node_image "$tag" "halite-fleet-${name}node"
}

# Remove platform images built from older inputs: RELEASE-BASEHASH-PHASH[-KEYHASH].
prune_platform_images() {
    local name img rest base_now hash phash
    base_now=$(base_hash "$main_release")
    for name in "${platforms[@]}"; do
        for img in $(podman images --format '{{.Repository}}:{{.Tag}}' | grep -E "^localhost/halite-fleet-$name(node)?:" || true); do
            rest=${img#*:}
            IFS=- read -r _ hash phash _ <<<"$rest"
            [ "$hash" != "$base_now" ] || [ "$phash" != "$(platform_hash "$name")" ] || continue
            if podman rmi "$img" >/dev/null 2>&1; then
                log "removed the stale image $img"
            fi
        done
    done
}

# One line of facts from a booted platform host: os-release ID (or codename),
# VERSION_ID, and how far its init got (systemd's state, OpenRC's runlevel,
# sysvinit's runlevel).
# shellcheck disable=SC2016 # expanded inside the container
platform_facts_script='. /etc/os-release
if [ -d /run/systemd/system ]; then
    s=$(timeout 60 systemctl is-system-running --wait 2>/dev/null)
elif command -v rc-status >/dev/null 2>&1; then
    s=openrc:$(rc-status -r 2>/dev/null)
else
    s=sysvinit:$(runlevel 2>/dev/null)
fi
echo "${VERSION_CODENAME:-$ID}|${VERSION_ID:-}|$s"'

cmd_up_platforms() {
    raise_inotify_limits
    with_lock
    cmd_deps
    local t0=$SECONDS
    ensure_key
    mkdir -p "$fleet_dir/build"
    local base
    base=$(ensure_base "$main_release") || die "cannot build the $main_release image"
    local i name container port image init_cmd
    local -a containers=() ports=() keys=() facts=()
    for i in "${!platforms[@]}"; do
        name=${platforms[i]}
        image=$(ensure_platform_image "$name" "$base") || exit 1
        container=$prefix$name
        port=$((port_base + 61 + i))
        # OpenRC's own init is PID 1 there; the others boot /sbin/init
        # (systemd, or sysvinit on sysv).
        init_cmd=/sbin/init
        [ "$name" = openrc ] && init_cmd=/sbin/openrc-init
        run_init=$init_cmd reconcile "$container" "$image" "$port" "$name" running >/dev/null || exit 1
        containers+=("$container")
        ports+=("$port")
    done
    prune_platform_images
    local k
    for i in "${!platforms[@]}"; do
        k=$(wait_ssh "${containers[i]}" "${ports[i]}") || exit 1
        keys+=("$k")
        facts+=("$(podman exec "${containers[i]}" sh -c "$platform_facts_script" || true)")
    done
    write_platforms_json containers ports keys facts
    log "platform hosts up: ${platforms[*]} in $((SECONDS - t0)) s; $fleet_dir/platforms.json"
}

# platforms.json: fleet.json's shape (tests/harness reads both alike), with the
# platform hosts as `hosts`, each naming its `platform`.
write_platforms_json() {
    local -n _containers=$1 _ports=$2 _keys=$3 _facts=$4
    local out=$fleet_dir/platforms.json tmp i name release version sys drill sep
    tmp=$(mktemp "$fleet_dir/platforms.json.XXXXXX")
    {
        printf '{\n  "version": 1,\n'
        printf '  "fleet_dir": %s,\n' "$(json_str "$fleet_dir")"
        printf '  "private_key": %s,\n' "$(json_str "$key")"
        printf '  "public_key": %s,\n' "$(json_str "$(cat "$key.pub")")"
        printf '  "users": {\n'
        printf '    "root": {"sudo": "root"},\n'
        printf '    "deploy": {"uid": 1000, "sudo": "nopasswd"},\n'
        printf '    "alice": {"uid": 1001, "sudo": "password", "password": %s}\n' "$(json_str "$ALICE_PASSWORD")"
        printf '  },\n'
        printf '  "hosts": [\n'
        for i in "${!platforms[@]}"; do
            name=${platforms[i]}
            IFS='|' read -r release version sys <<<"${_facts[i]}"
            # The rpm and pacman hosts start with halite-drill 1.0; 1.1 is in
            # their /srv/repo-updates, which no repository configuration names.
            drill=null
            case $name in rhel | suse | arch) drill='"1.0"' ;; esac
            sep=,
            [ "$i" -lt $((${#platforms[@]} - 1)) ] || sep=
            printf '    {"id": "%s", "platform": "%s", "container": %s, "hostname": "%s", ' \
                "$name" "$name" "$(json_str "${_containers[i]}")" "$name"
            printf '"address": "127.0.0.1", "port": %d, "state": "running", "release": %s, ' \
                "${_ports[i]}" "$(json_str "$release")"
            printf '"os_version": %s, "system_state": %s, "drill_initial": %s, "host_key": %s}%s\n' \
                "$(json_str "$version")" "$(json_str "$sys")" "$drill" "$(json_str "${_keys[i]}")" "$sep"
        done
        printf '  ],\n  "pod": null\n}\n'
    } >"$tmp"
    chmod 644 "$tmp"
    mv "$tmp" "$out"
}

cmd_down() {
    with_lock
    local name
    for name in $(podman ps -a --format '{{.Names}}' | grep -E "^${prefix}(node[0-9]+|down|pod1|$platform_re)$" || true); do
        podman rm -f -t 2 "$name" >/dev/null && log "removed $name"
    done
    rm -f "$fleet_dir/fleet.json" "$fleet_dir/platforms.json"
}

cmd_clean() {
    cmd_down
    local img
    for img in $(podman images --format '{{.Repository}}:{{.Tag}}' | grep -E "^localhost/halite-fleet(-base|-pod|-podnode|-($platform_re)(node)?)?:" || true); do
        podman rmi "$img" >/dev/null && log "removed $img"
    done
    rm -rf "$fleet_dir/build" "$fleet_dir/cache"
}

cmd_status() {
    podman ps -a --filter "name=^${prefix}(node[0-9]+|down|pod1|$platform_re)$" \
        --format 'table {{.Names}}\t{{.Status}}\t{{.Ports}}\t{{.Image}}'
    if [ -f "$fleet_dir/fleet.json" ]; then
        echo "description: $fleet_dir/fleet.json"
    else
        echo "no $fleet_dir/fleet.json (run: $0 up)"
    fi
}

cmd_exec() {
    [ $# -ge 2 ] || die "usage: $0 exec NODE CMD [ARGS...]"
    local node=$1
    shift
    case $node in "$prefix"*) ;; *) node=$prefix$node ;; esac
    podman container exists "$node" || die "no container $node (run: $0 up)"
    exec podman exec "$node" "$@"
}

usage() {
    sed -n '/^#   fleet.sh/s/^#   //p' "$0" >&2
    exit 2
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case $cmd in
missing) missing_packages ;;
deps)
    with_lock
    cmd_deps
    ;;
image) cmd_image ;;
up) cmd_up "$@" ;;
up-platforms) cmd_up_platforms ;;
down) cmd_down ;;
clean) cmd_clean ;;
status) cmd_status ;;
exec) cmd_exec "$@" ;;
-h | --help | help) usage ;;
*)
    echo "fleet.sh: unknown command '$cmd'" >&2
    usage
    ;;
esac
