//! Which init system runs as PID 1, in `sh`: the one check the init
//! backends (openrc.rs, sysvinit.rs) and their dispatcher
//! ([`super::init`]) share, in a file of its own so none of them imports
//! another for it.

/// Sets `h_init` to what runs as PID 1: `systemd`, `openrc`, `sysvinit`,
/// `runit`, `s6` or `unknown`.
pub const DETECT: &str = r#"h_init=unknown
if [ -d /run/systemd/system ]; then
	h_init=systemd
elif [ -d /run/openrc ] && command -v rc-service >/dev/null 2>&1; then
	h_init=openrc
else
	h_comm=
	{ read -r h_comm; } 2>/dev/null </proc/1/comm
	case $h_comm in
	init) [ -d /etc/init.d ] && h_init=sysvinit ;;
	runit*) h_init=runit ;;
	s6-svscan) h_init=s6 ;;
	esac
fi
"#;
