//! Live state of a run for progress display: totals and what is active right now. The
//! engine updates it; the command line polls it (progress bars or periodic log lines).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use pgsplit_copy::Counters;

#[derive(Debug)]
pub struct ActiveTask {
    pub id: u64,
    pub label: String,
    pub started: Instant,
    /// Bytes and rows so far (data copies); `None` for DDL such as index builds.
    pub counters: Option<Arc<Counters>>,
    pub expected_bytes: u64,
}

#[derive(Debug, Default)]
pub struct Progress {
    /// Estimated bytes of all data to copy (from the source catalog).
    pub total_bytes: AtomicU64,
    /// All bytes and rows copied so far.
    pub copied: Counters,
    pub tables_total: AtomicU64,
    pub tables_done: AtomicU64,
    pub phase: Mutex<String>,
    active: Mutex<Vec<ActiveTask>>,
    next_id: AtomicU64,
}

impl Progress {
    pub fn set_phase(&self, phase: &str) {
        *self.phase.lock().unwrap_or_else(|e| e.into_inner()) = phase.to_string();
        tracing::info!("phase: {phase}");
    }

    pub fn phase(&self) -> String {
        self.phase.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Registers an active task; it disappears when the guard drops.
    pub fn start(
        self: &Arc<Self>,
        label: String,
        counters: Option<Arc<Counters>>,
        expected_bytes: u64,
    ) -> TaskGuard {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(ActiveTask {
                id,
                label,
                started: Instant::now(),
                counters,
                expected_bytes,
            });
        TaskGuard {
            progress: Arc::clone(self),
            id,
        }
    }

    /// A snapshot of the active tasks: (label, bytes so far, expected bytes, seconds).
    pub fn active(&self) -> Vec<(String, u64, u64, f64)> {
        self.active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|t| {
                (
                    t.label.clone(),
                    t.counters
                        .as_ref()
                        .map_or(0, |c| c.bytes.load(Ordering::Relaxed)),
                    t.expected_bytes,
                    t.started.elapsed().as_secs_f64(),
                )
            })
            .collect()
    }
}

pub struct TaskGuard {
    progress: Arc<Progress>,
    id: u64,
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.progress
            .active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|t| t.id != self.id);
    }
}
