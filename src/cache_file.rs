//! Files of the controller's cache (grains, job records, hosts' ledger
//! copies): written atomically and readable by their owner only, named
//! safely after a host id.
//!
//! One helper so every cache file gets the same guarantees: a reader (or
//! a concurrent run) sees the old file or the new one, never half of
//! either; grains hold serial numbers and machine ids, results may hold
//! command output, so nothing is world-readable.

use std::io::Write as _;
use std::path::Path;

/// Write `data` to `dir/name` atomically: a private temp file in the same
/// directory (so the rename cannot cross filesystems; pid + counter keep
/// concurrent writers apart), synced, then renamed over the target.
pub fn write_private(dir: &Path, name: &str, data: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{}.{seq}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join(name))
    };
    let result = write();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A file name for host `id`: letters, digits, `-`, `_` and inner `.` stay;
/// every other byte becomes `%XX`. The mapping is one-to-one, so two ids
/// never share a file, and no id can name `..` or a path.
pub fn host_file_name(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for (i, b) in id.bytes().enumerate() {
        let keep = b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (b == b'.' && i > 0);
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() {
        out.push('%');
    }
    // Keep well under NAME_MAX (255) even with the temp-file decorations.
    if out.len() > 180 {
        let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        out.truncate(160);
        out.push_str(&format!("~{hash:016x}"));
    }
    out
}
