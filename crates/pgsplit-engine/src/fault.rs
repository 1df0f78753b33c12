//! Fault injection for the crash tests: with `PGSPLIT_FAULT_AT=NAME` (or `NAME:N` for its
//! N-th occurrence) in the environment, the process kills itself with SIGKILL when it
//! reaches that point — no destructor, no journal flush, exactly like `kill -9`.
//! Unset (always, outside the tests), a point costs one comparison.
//!
//! With `PGSPLIT_PAUSE_AT=NAME` and `PGSPLIT_PAUSE_FILE=PATH`, the process instead creates
//! `PATH.reached` at that point and waits there until `PATH` exists: a test changes the
//! databases at a known moment of the run, then lets it go on.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// `NAME` or `NAME:N` from the environment variable `var`: (NAME, N), N = 1 by default.
fn point_and_count(var: &str) -> Option<(String, u32)> {
    let value = std::env::var(var).ok()?;
    Some(match value.rsplit_once(':') {
        Some((name, n)) => (name.to_string(), n.parse().unwrap_or(1)),
        None => (value, 1),
    })
}

fn wanted() -> Option<&'static (String, u32)> {
    static WANTED: OnceLock<Option<(String, u32)>> = OnceLock::new();
    WANTED
        .get_or_init(|| point_and_count("PGSPLIT_FAULT_AT"))
        .as_ref()
}

fn pause_wanted() -> Option<&'static (String, std::path::PathBuf)> {
    static WANTED: OnceLock<Option<(String, std::path::PathBuf)>> = OnceLock::new();
    WANTED
        .get_or_init(|| {
            let name = std::env::var("PGSPLIT_PAUSE_AT").ok()?;
            let file = std::env::var_os("PGSPLIT_PAUSE_FILE")?;
            Some((name, file.into()))
        })
        .as_ref()
}

/// Waits at point `name` if a test asked for it (see the module's description). Blocks
/// the calling thread: tests only.
fn pause(name: &str) {
    let Some((wanted, file)) = pause_wanted() else {
        return;
    };
    if wanted != name {
        return;
    }
    let mut reached = file.clone().into_os_string();
    reached.push(".reached");
    let _ = std::fs::write(&reached, b"");
    while !file.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// With `PGSPLIT_FAULT_ERROR=NAME` (or `NAME:N`, or `NAME@DETAIL[:N]` for arrivals with
/// that detail, e.g. a table), true at the N-th arrival at point `name`: the caller then
/// fails as if its connection had been lost just there.
pub fn error(name: &str, detail: &str) -> bool {
    static WANTED: OnceLock<Option<(String, u32)>> = OnceLock::new();
    static SEEN: AtomicU32 = AtomicU32::new(0);
    let wanted = WANTED.get_or_init(|| point_and_count("PGSPLIT_FAULT_ERROR"));
    let Some((wanted, nth)) = wanted else {
        return false;
    };
    let here = match wanted.strip_prefix(name) {
        Some("") => true,
        Some(rest) => rest.strip_prefix('@') == Some(detail),
        None => false,
    };
    here && SEEN.fetch_add(1, Ordering::SeqCst) + 1 == *nth
}

/// Marks a point where a crash (or a pause) is tested.
pub fn point(name: &str) {
    pause(name);
    static SEEN: AtomicU32 = AtomicU32::new(0);
    let Some((wanted, nth)) = wanted() else {
        return;
    };
    if wanted == name && SEEN.fetch_add(1, Ordering::SeqCst) + 1 == *nth {
        let _ = std::process::Command::new("kill")
            .args(["-9", &std::process::id().to_string()])
            .status();
        // kill(1) failed somehow: stop anyway, still without cleanup.
        std::process::abort();
    }
}
