//! Where each instance's migration stands while it runs, for a caller that stops it: AWS
//! goes on with what it was asked after pgsplit exits, so the user must be told what to
//! look for, and which instances had not started.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::report::Step;

/// Shared between a migration and its caller; clones share one record.
#[derive(Clone, Debug, Default)]
pub struct InFlight(Arc<Mutex<BTreeMap<String, Stage>>>);

/// Where one instance's migration stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Planned, waiting for its turn among `--parallel`.
    Waiting,
    /// A step under way, on a resource of a region when the step makes one.
    Running {
        step: Step,
        resource: Option<String>,
        region: String,
    },
    /// Finished, well or not: nothing of it is under way.
    Ended,
}

impl InFlight {
    pub(crate) fn set(&self, instance: &str, stage: Stage) {
        self.lock().insert(instance.to_owned(), stage);
    }

    /// Every planned instance and its stage, by instance name; empty until the source
    /// region has been listed (nothing was asked of AWS before that).
    pub fn stages(&self) -> Vec<(String, Stage)> {
        self.lock()
            .iter()
            .map(|(instance, stage)| (instance.clone(), stage.clone()))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Stage>> {
        // A panic while holding the lock leaves a map that is still whole.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
