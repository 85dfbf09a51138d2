//! systemd: the host check (PID 1 is systemd, `systemctl` is there), the
//! shared probe answering for every unit of a state run at once, and the
//! lookup a state's probe reads it with. Shared by the `service.*`
//! execution functions and the `service.*` states.

use crate::transport::quote::quote;

/// Answered on the host when PID 1 is not systemd, naming what runs instead.
pub const CHECK: &str = r#"if [ ! -d /run/systemd/system ] || ! command -v systemctl >/dev/null 2>&1; then
	h_init=unknown
	if command -v rc-service >/dev/null 2>&1 || [ -d /run/openrc ]; then
		h_init=openrc
	else
		h_comm=
		{ read -r h_comm; } 2>/dev/null </proc/1/comm
		case $h_comm in
		init) h_init=sysvinit ;;
		runit*) h_init=runit ;;
		s6-svscan) h_init=s6 ;;
		esac
	fi
	printf '@@unsupported %s\n' "$h_init"
	exit 1
fi
"#;

/// The shared probe of every unit of a run (see [`LOOKUP`]): ONE `systemctl
/// show` for their Id, LoadState, ActiveState, UnitFileState and
/// FragmentPath. LoadState and ActiveState are what `systemctl show -p
/// LoadState` and `is-active` read; UnitFileState is what `is-enabled`
/// prints for the name asked when that name is the unit's own (not an
/// alias: `is-enabled` says `alias` there) and the unit has a native unit
/// file (not SysV or generated: `is-enabled` asks systemd-sysv-install).
/// Checked against both commands on systemd 252 (tests/compat/platform/
/// systemd-*.txt, and the container test in `modules::service`). Sets
/// `h_svc_*` variables by position; prints nothing.
pub fn shared_script(units: &[String]) -> String {
    let words = units.iter().map(|u| quote(u)).collect::<Vec<_>>().join(" ");
    format!(
        "if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then\n\
         h_svc_n=0\n\
         for h_x in {words}; do eval \"h_svc_u_$h_svc_n=\\$h_x\"; h_svc_n=$((h_svc_n + 1)); done\n\
         if h_x=$(systemctl show -p Id,LoadState,ActiveState,UnitFileState,FragmentPath -- {words} 2>/dev/null); then\n\
         h_i=0\n\
         while IFS= read -r h_y; do\n\
         case $h_y in\n\
         '') h_i=$((h_i + 1)) ;;\n\
         Id=*) eval \"h_svc_i_$h_i=\\${{h_y#Id=}}\" ;;\n\
         LoadState=*) eval \"h_svc_l_$h_i=\\${{h_y#LoadState=}}\" ;;\n\
         ActiveState=*) eval \"h_svc_a_$h_i=\\${{h_y#ActiveState=}}\" ;;\n\
         UnitFileState=*) eval \"h_svc_e_$h_i=\\${{h_y#UnitFileState=}}\" ;;\n\
         FragmentPath=/run/systemd/generator*|FragmentPath=) eval \"h_svc_g_$h_i=1\" ;;\n\
         esac\n\
         done <<EOF\n$h_x\nEOF\n\
         [ $((h_i + 1)) -eq $h_svc_n ] && h_svc_show=1\n\
         fi\n\
         unset h_x h_y h_i\n\
         fi\n"
    )
}

/// Sets `h_a`/`h_ar` (is-active's output and exit status), `h_e`/`h_er`
/// (is-enabled's) and `h_l` (LoadState) for unit `$h_u` from the shared
/// probe, each only where it answers exactly as the single-unit command
/// would: the states whose exit status is certain (active; inactive or
/// failed; enabled, enabled-runtime, static or indirect; disabled or
/// masked), and for is-enabled only the unit's own name with a native
/// unit file. Empty: ask systemctl.
pub const LOOKUP: &str = r#"h_svc_find() {
	h_a= h_ar= h_e= h_er= h_l= h_k=
	[ -n "${h_svc_show:-}" ] || return 0
	h_i=0
	while [ "$h_i" -lt "$h_svc_n" ]; do
		eval "h_x=\$h_svc_u_$h_i"
		if [ "$h_x" = "$h_u" ]; then h_k=$h_i; break; fi
		h_i=$((h_i + 1))
	done
	[ -n "$h_k" ] || return 0
	eval "h_l=\${h_svc_l_$h_k-} h_a=\${h_svc_a_$h_k-}"
	case $h_a in
	active) h_ar=0 ;;
	inactive | failed) h_ar=3 ;;
	*) h_a= ;;
	esac
	eval "h_e=\${h_svc_e_$h_k-} h_x=\${h_svc_i_$h_k-} h_g=\${h_svc_g_$h_k-}"
	if [ -n "$h_g" ] || { [ "$h_x" != "$h_u" ] && [ "$h_x" != "$h_u.service" ]; }; then
		h_e=
	fi
	case $h_e in
	enabled | enabled-runtime | static | indirect) h_er=0 ;;
	disabled | masked) h_er=1 ;;
	*) h_e= ;;
	esac
}
"#;

/// A state's probe of `unit`: `@@active RC STATE`, `@@enabled RC STATE`
/// and `@@show` with `LoadState=`, from the shared probe where it answers
/// (see [`LOOKUP`]), else from systemctl itself. [`read_probe`] reads it.
pub fn probe(unit: &str) -> String {
    let u = quote(unit);
    format!(
        "{CHECK}{LOOKUP}h_u={u}\nh_svc_find\n\
         if [ -n \"$h_a\" ]; then printf '@@active %s %s\\n' \"$h_ar\" \"$h_a\"\n\
         else h_s=$(systemctl is-active -- {u} 2>/dev/null)\n\
         printf '@@active %s %s\\n' \"$?\" \"$h_s\"; fi\n\
         if [ -n \"$h_e\" ]; then printf '@@enabled %s %s\\n' \"$h_er\" \"$h_e\"\n\
         else h_s=$(systemctl is-enabled -- {u} 2>/dev/null)\n\
         printf '@@enabled %s %s\\n' \"$?\" \"$h_s\"; fi\n\
         printf '@@show\\n'\n\
         if [ -n \"$h_l\" ]; then printf 'LoadState=%s\\n' \"$h_l\"\n\
         else systemctl show -p LoadState -- {u} 2>&1; fi\n\
         printf '@@end\\n'\n"
    )
}

/// What [`probe`] found of a unit.
#[derive(Debug, PartialEq)]
pub struct UnitState {
    pub active: bool,
    pub enabled: bool,
    /// systemd's LoadState: `loaded`, `not-found`, `masked`...
    pub load: String,
}

/// What [`probe`] printed, read.
#[derive(Debug, PartialEq)]
pub enum ProbeRead {
    State(UnitState),
    /// PID 1 is not systemd: what it is (`@@unsupported INIT`).
    Unsupported(String),
    /// The probe was cut short: the tools' own messages.
    Incomplete(String),
}

pub fn read_probe(text: &str) -> ProbeRead {
    let (mut active, mut enabled, mut load) = (None, None, None);
    for line in text.lines() {
        if let Some(init) = line.strip_prefix("@@unsupported ") {
            return ProbeRead::Unsupported(init.trim().to_string());
        }
        // `@@active RC STATE`: is-active's exit status decides, as in Salt.
        if let Some(v) = line.strip_prefix("@@active ") {
            active = v.split_whitespace().next().map(|rc| rc == "0");
        } else if let Some(v) = line.strip_prefix("@@enabled ") {
            // Exit 0 covers enabled, static, alias, indirect... as in Salt.
            enabled = v.split_whitespace().next().map(|rc| rc == "0");
        } else if let Some(v) = line.trim().strip_prefix("LoadState=") {
            load = Some(v.trim().to_string());
        }
    }
    match (active, enabled, load) {
        (Some(active), Some(enabled), Some(load)) => ProbeRead::State(UnitState {
            active,
            enabled,
            load,
        }),
        _ => ProbeRead::Incomplete(super::report::message(text)),
    }
}

/// `systemctl is-active` of `unit` (`service.status`).
pub fn is_active(unit: &str) -> String {
    format!("systemctl is-active -- {}", quote(unit))
}

/// `systemctl is-enabled` of `unit` (`service.enabled`, `service.disabled`).
pub fn is_enabled(unit: &str) -> String {
    format!("systemctl is-enabled -- {}", quote(unit))
}

/// `unit`'s LoadState (`service.available`, `service.missing`).
pub fn load_state(unit: &str) -> String {
    format!("systemctl show -p LoadState -- {}", quote(unit))
}

/// A state change of `unit` (`start`, `stop`, `restart`, `reload`,
/// `enable`, `disable`), without waiting for it when `no_block`.
pub fn control(verb: &str, unit: &str, no_block: bool) -> String {
    format!(
        "systemctl --no-ask-password{} {verb} -- {}",
        if no_block { " --no-block" } else { "" },
        quote(unit)
    )
}

/// Every service unit, files and loaded units (`service.get_all`).
pub const LIST_SERVICES: &str = "systemctl list-unit-files --type=service --no-legend --no-pager\n\
     systemctl list-units --type=service --all --no-legend --no-pager";

/// One apply step (`start`, `stop`, `enable`, `disable`) of `unit`,
/// announced with `@@step`; the script exits on failure.
pub fn step(verb: &str, unit: &str) -> String {
    format!(
        "printf '@@step %s\\n' {step}\nsystemctl --no-ask-password {step} -- {u} || exit \"$?\"\n",
        step = quote(verb),
        u = quote(unit)
    )
}

/// Salt's `mod_watch` for a running service: restart (or reload) it when
/// it runs, else start it.
pub fn watch_running(unit: &str, reload: bool) -> String {
    let u = quote(unit);
    format!(
        "if systemctl is-active --quiet -- {u}; then\n\
         \tsystemctl --no-ask-password {} -- {u}\n\
         else\n\
         \tsystemctl --no-ask-password start -- {u}\n\
         fi\n",
        if reload { "reload" } else { "restart" }
    )
}

/// Salt's `mod_watch` for a dead service: stop it if it runs.
pub fn watch_dead(unit: &str) -> String {
    let u = quote(unit);
    format!(
        "if systemctl is-active --quiet -- {u}; then\n\
         \tsystemctl --no-ask-password stop -- {u}\n\
         fi\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shared show, replayed from systemd 252's real output
    /// (tests/compat/gen_platform_systemd.sh), answers is-enabled exactly
    /// as is-enabled itself answered each name there, or not at all.
    #[test]
    fn unit_file_state_answers_as_is_enabled_or_not_at_all() {
        let show = include_str!("../../tests/compat/platform/systemd-show.txt");
        let truth = include_str!("../../tests/compat/platform/systemd-is-enabled.txt");
        let units: Vec<String> = truth
            .lines()
            .map(|l| l.split(' ').next().unwrap().to_string())
            .collect();
        let mut s = format!("systemctl() {{ cat <<'EOF_SHOW'\n{show}EOF_SHOW\n}}\n");
        let shared = shared_script(&units).replacen(
            "[ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1",
            "true",
            1,
        );
        s.push_str(&shared);
        s.push_str(LOOKUP);
        for u in &units {
            s.push_str(&format!(
                "h_u={}\nh_svc_find\nprintf '%s %s %s\\n' \"$h_u\" \"$h_er\" \"$h_e\"\n",
                quote(u)
            ));
        }
        let out = std::process::Command::new("sh")
            .args(["-c", &s])
            .output()
            .unwrap();
        let got = String::from_utf8_lossy(&out.stdout);
        let mut answered = Vec::new();
        for (line, want) in got.lines().zip(truth.lines()) {
            let (unit, rest) = line.split_once(' ').unwrap();
            if rest.trim().is_empty() {
                continue;
            }
            assert_eq!(line, want, "{unit}");
            answered.push(unit.to_string());
        }
        assert_eq!(got.lines().count(), units.len(), "{got}");
        // Aliases, SysV scripts and missing units are asked directly.
        assert_eq!(
            answered,
            [
                "pfa",
                "pfb",
                "pfc",
                "pfd",
                "pfr",
                "pfi",
                "pfstatic",
                "pflib",
                "ssh",
                "systemd-journald",
                "getty@tty1",
                "pfa.service"
            ]
        );
    }

    #[test]
    fn probe_reads() {
        let t = "@@active 0 active\n@@enabled 1 disabled\n@@show\nLoadState=loaded\n@@end\n";
        assert_eq!(
            read_probe(t),
            ProbeRead::State(UnitState {
                active: true,
                enabled: false,
                load: "loaded".into()
            })
        );
        assert_eq!(
            read_probe("@@unsupported openrc\n"),
            ProbeRead::Unsupported("openrc".into())
        );
        assert_eq!(
            read_probe("@@active 0 active\nFailed to connect to bus\n"),
            ProbeRead::Incomplete("Failed to connect to bus".into())
        );
    }
}
