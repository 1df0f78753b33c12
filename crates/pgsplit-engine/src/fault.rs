//! Fault injection for the crash tests: with `PGSPLIT_FAULT_AT=NAME` (or `NAME:N` for its
//! N-th occurrence) in the environment, the process kills itself with SIGKILL when it
//! reaches that point — no destructor, no journal flush, exactly like `kill -9`.
//! Unset (always, outside the tests), a point costs one comparison.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

fn wanted() -> Option<&'static (String, u32)> {
    static WANTED: OnceLock<Option<(String, u32)>> = OnceLock::new();
    WANTED
        .get_or_init(|| {
            let value = std::env::var("PGSPLIT_FAULT_AT").ok()?;
            Some(match value.rsplit_once(':') {
                Some((name, n)) => (name.to_string(), n.parse().unwrap_or(1)),
                None => (value, 1),
            })
        })
        .as_ref()
}

/// Marks a point where a crash is tested.
pub fn point(name: &str) {
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
