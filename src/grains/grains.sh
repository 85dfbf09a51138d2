# halite grains probe (POSIX sh: dash, busybox ash, bash --posix).
#
# This script only collects raw facts; the controller interprets them
# (src/grains/mod.rs), so the logic stays testable with canned output and the
# script stays small enough to trust on any host.
#
# Output format: a line "@KEY" opens a fact; each following line that starts
# with one space is a line of that fact's value (the space is dropped). Any
# byte except newline may appear in a value line, so values containing "=",
# quotes or "@" need no escaping, and multi-line values stay intact.
#
# Every probe tolerates a missing tool or an unreadable file: it prints
# nothing and the grain falls back or is left out.

# The locale the host gives its processes, before this script pins its own.
h_locale=${LC_ALL:-${LC_CTYPE:-$LANG}}
LC_ALL=C
export LC_ALL

# Copy stdin under header $1, one prefixed line per input line (a last line
# without a trailing newline is kept too).
h_emit() {
	printf '@%s\n' "$1"
	while IFS= read -r h_l || [ -n "$h_l" ]; do
		printf ' %s\n' "$h_l"
	done
}

# A value given as an argument; skipped when empty.
h_val() {
	[ -n "$2" ] || return 0
	case $2 in
	*'
'*) printf '%s\n' "$2" | h_emit "$1" ;;
	*) printf '@%s\n %s\n' "$1" "$2" ;;
	esac
}

# A readable file's content.
h_file() {
	[ -r "$2" ] && [ -f "$2" ] && h_emit "$1" 2>/dev/null <"$2"
	return 0
}

h_has() {
	command -v "$1" >/dev/null 2>&1
}

printf '@halite_grains\n 1\n'

# Kernel and host names.
if h_has uname; then
	h_val kernel "$(uname -s 2>/dev/null)"
	h_val kernelrelease "$(uname -r 2>/dev/null)"
	h_val kernelversion "$(uname -v 2>/dev/null)"
	h_val cpuarch "$(uname -m 2>/dev/null)"
	h_val nodename "$(uname -n 2>/dev/null)"
else
	h_file kernel /proc/sys/kernel/ostype
	h_file kernelrelease /proc/sys/kernel/osrelease
	h_file kernelversion /proc/sys/kernel/version
	h_file nodename /proc/sys/kernel/hostname
fi
if h_has hostname; then
	h_val hostname "$(hostname 2>/dev/null)"
	# A broken resolver can make "hostname -f" hang; bound it when we can.
	if h_has timeout; then
		h_val hostname_f "$(timeout 3 hostname -f 2>/dev/null)"
	else
		h_val hostname_f "$(hostname -f 2>/dev/null)"
	fi
fi

# Distribution.
if [ -r /etc/os-release ]; then
	h_emit os_release </etc/os-release
elif [ -r /usr/lib/os-release ]; then
	h_emit os_release </usr/lib/os-release
fi
h_file lsb_release /etc/lsb-release
h_file debian_version /etc/debian_version
h_file alpine_release /etc/alpine-release
h_file redhat_release /etc/redhat-release
if h_has dpkg; then
	h_val dpkg_arch "$(dpkg --print-architecture 2>/dev/null)"
elif h_has rpm; then
	h_val rpm_arch "$(rpm --eval '%{_host_cpu}' 2>/dev/null)"
fi
# Every package tool present, not the first: the controller chooses from the
# os_family as Salt does (a RHEL-like host may carry apt-get too), and only
# within the RedHat family by which of dnf5/dnf/tdnf/yum exists.
{
	printf '@pkg_tools\n'
	for h_t in apt-get dnf5 dnf tdnf yum zypper apk pacman; do
		h_has "$h_t" && printf ' %s\n' "$h_t"
	done
} 2>/dev/null
# Container engine: the CLI the docker_* modules drive. podman first: a
# `docker` command next to it is usually podman-docker's shim.
for h_t in podman docker; do
	if h_has "$h_t"; then
		h_val container_tool "$h_t"
		break
	fi
done

# CPU and memory: only the lines the grains need (a flags line per CPU would
# make the output grow with the core count).
if [ -r /proc/cpuinfo ]; then
	h_flags=
	{
		printf '@cpuinfo\n'
		while IFS= read -r h_l || [ -n "$h_l" ]; do
			case $h_l in
			flags*|Features*)
				[ -n "$h_flags" ] && continue
				h_flags=1
				printf ' %s\n' "$h_l"
				;;
			processor*|'# processors'*|vendor_id*|'model name'*|Processor*|'cpu	'*)
				printf ' %s\n' "$h_l"
				;;
			esac
		done
	} 2>/dev/null </proc/cpuinfo
fi
if [ -r /proc/meminfo ]; then
	{
		printf '@meminfo\n'
		while IFS= read -r h_l || [ -n "$h_l" ]; do
			case $h_l in
			MemTotal:*|SwapTotal:*) printf ' %s\n' "$h_l" ;;
			esac
		done
	} 2>/dev/null </proc/meminfo
fi

# Network addresses: iproute2 or busybox ip, else ifconfig, else the
# kernel's own tables.
h_net=
if h_has ip; then
	h_net=$(ip -o addr show 2>/dev/null)
	[ -n "$h_net" ] || h_net=$(ip addr show 2>/dev/null)
fi
if [ -z "$h_net" ] && h_has ifconfig; then
	h_net=$(ifconfig -a 2>/dev/null)
fi
if [ -n "$h_net" ]; then
	printf '%s\n' "$h_net" | h_emit ipaddr
elif [ -r /proc/net/fib_trie ]; then
	h_emit fib_trie </proc/net/fib_trie
fi
h_file if_inet6 /proc/net/if_inet6

# Init system: the facts Salt's _linux_init_system reads. PID 1's command
# line (NULs as spaces), where its first word is found on PATH plus the
# directories Salt's `which` adds, and, when that is a `.../bin/init`, which
# of the names Salt looks for the binary contains (all skipped under systemd,
# which Salt too decides from /run/systemd/system alone).
[ -d /run/systemd/system ] && h_val run_systemd 1
h_file pid1_comm /proc/1/comm
if [ ! -d /run/systemd/system ] && [ -r /proc/1/cmdline ] && h_has tr; then
	h_l=$(tr '\000' ' ' 2>/dev/null </proc/1/cmdline)
	h_val init_cmdline "$h_l"
	# Its words as Python's str.split() makes them (sysvinit's is "init [2]").
	set -f
	# shellcheck disable=SC2086 # split on purpose
	set -- $h_l
	set +f
	h_n=$(PATH="$PATH:/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin" \
		command -v "${1:-}" 2>/dev/null)
	case $h_n in
	/*) h_val init_bin "$h_n" ;;
	*) h_n= ;;
	esac
	case $h_n in
	*bin/init)
		for h_t in upstart sysvinit systemd; do
			grep -qi "$h_t" "$h_n" 2>/dev/null && h_val init_mark "$h_t" && break
		done
		;;
	esac
	for h_t in supervisord dumb-init tini; do
		h_n=$(PATH="$PATH:/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin" \
			command -v "$h_t" 2>/dev/null)
		case $h_n in /*) h_val "which_$h_t" "$h_n" ;; esac
	done
fi
{ h_has openrc || [ -d /run/openrc ]; } && h_val openrc 1
[ -e /etc/inittab ] && h_val inittab 1
if h_has systemctl; then
	h_val systemd_version "$(systemctl --version 2>/dev/null)"
fi

# Virtualisation. Only "container=" is taken from PID 1's environment: the
# rest may hold secrets and must not leave the host.
[ -e /run/.containerenv ] && h_val containerenv 1
[ -e /.dockerenv ] && h_val dockerenv 1
if [ -r /proc/1/environ ] && h_has tr; then
	tr '\000' '\n' 2>/dev/null </proc/1/environ | while IFS= read -r h_l; do
		case $h_l in
		container=*) h_val container_env "${h_l#container=}" ;;
		esac
	done
fi
if h_has systemd-detect-virt; then
	h_val detect_virt "$(systemd-detect-virt 2>/dev/null)"
fi
# Only the lines that name a container manager matter.
if [ -r /proc/1/cgroup ]; then
	{
		printf '@cgroup\n'
		while IFS= read -r h_l || [ -n "$h_l" ]; do
			case $h_l in
			*docker*|*lxc*|*kubepods*|*libpod*) printf ' %s\n' "$h_l" ;;
			esac
		done
	} 2>/dev/null </proc/1/cgroup
fi
[ -f /proc/vz/veinfo ] && h_val openvz ve
[ -f /proc/vz/version ] && h_val openvz hn
for h_t in sys_vendor product_name board_name bios_vendor bios_version bios_date product_uuid product_serial; do
	h_file "dmi_$h_t" "/sys/class/dmi/id/$h_t"
done
h_file machine_id /etc/machine-id
[ -r /etc/machine-id ] || h_file machine_id /var/lib/dbus/machine-id

# Resolver, default routes, link addresses, boot parameters, disks, firmware,
# locale (Salt's dns, ip*_gw, hwaddr_interfaces, kernelparams, disks/ssds,
# efi, transactional, locale_info and fqdn_ip* grains).
if [ -r /run/systemd/resolve/resolv.conf ]; then
	h_file resolv /run/systemd/resolve/resolv.conf
else
	h_file resolv /etc/resolv.conf
fi
if h_has ip; then
	h_val has_ip 1
	h_val ip4_routes "$(ip -4 route show 2>/dev/null)"
	h_val ip6_routes "$(ip -6 route show 2>/dev/null)"
fi
{
	printf '@hwaddr\n'
	for h_t in /sys/class/net/*/address; do
		[ -r "$h_t" ] || continue
		h_n=${h_t%/address}
		IFS= read -r h_l <"$h_t" && printf ' %s %s\n' "${h_n##*/}" "$h_l"
	done
} 2>/dev/null
h_file cmdline /proc/cmdline
{
	printf '@blockdev\n'
	for h_t in /sys/block/*; do
		[ -r "$h_t/queue/rotational" ] || continue
		case $(readlink "$h_t" 2>/dev/null) in
		../devices/virtual/*) continue ;;
		esac
		IFS= read -r h_l <"$h_t/queue/rotational" && printf ' %s %s\n' "${h_t##*/}" "$h_l"
	done
} 2>/dev/null
for h_t in /sys/firmware/efi/efivars /sys/firmware/efi/vars; do
	[ -e "$h_t" ] || continue
	h_val efi 1
	for h_n in "$h_t"/SecureBoot-*; do
		[ -f "$h_n" ] || h_n=$h_n/data
		[ -r "$h_n" ] && h_has od && h_val secure_boot "$(od -An -tu1 "$h_n" 2>/dev/null)"
		break
	done
	break
done
h_has transactional-update && h_val transactional 1
h_val locale "$h_locale"
h_has date && h_val timezone "$(date +%Z 2>/dev/null)"
# The addresses the host's own name resolves to, as Salt's getaddrinfo does.
# A broken resolver can hang getent too: bounded like `hostname -f` above.
h_to=
h_has timeout && h_to="timeout 3"
h_n=$($h_to hostname -f 2>/dev/null || hostname 2>/dev/null || uname -n 2>/dev/null)
if [ -n "$h_n" ] && h_has getent; then
	h_val fqdn_ip4 "$($h_to getent ahostsv4 "$h_n" 2>/dev/null)"
	h_val fqdn_ip6 "$($h_to getent ahostsv6 "$h_n" 2>/dev/null)"
fi

# The user the functions run as (root under sudo), and its environment.
if h_has id; then
	h_val uid "$(id -u 2>/dev/null)"
	h_val gid "$(id -g 2>/dev/null)"
	h_val username "$(id -un 2>/dev/null)"
	h_val groupname "$(id -gn 2>/dev/null)"
else
	h_val username "${USER:-$LOGNAME}"
	# /proc/self is the reading process: the shell itself here.
	if [ -r /proc/self/status ]; then
		{
			printf '@proc_status\n'
			while IFS= read -r h_l || [ -n "$h_l" ]; do
				case $h_l in
				Uid:*|Gid:*) printf ' %s\n' "$h_l" ;;
				esac
			done
		} 2>/dev/null </proc/self/status
	fi
fi
h_val sudo_user "$SUDO_USER"
h_val shell "${SHELL:-/bin/sh}"
h_val path "$PATH"
printf '@end\n'
