//! Where each instance's migration stands while it runs, for a caller that stops it: AWS
//! goes on with what it was asked after pgsplit exits, so the user must be told what to
//! look for, and which instances had not started.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::report::Step;

/// Shared between a migration and its caller; clones share one record.
#[derive(Clone, Debug, Default)]
pub struct InFlight(Arc<Mutex<Record>>);

#[derive(Debug, Default)]
struct Record {
    stages: BTreeMap<String, Stage>,
    /// Set by [`InFlight::stop`]: the record stays as it was then, and no step starts.
    stopped: bool,
}

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
    /// Records `instance`'s stage; `false` once stopped (nothing is recorded, and a
    /// step must not start: the caller has already told the user what is under way).
    pub(crate) fn set(&self, instance: &str, stage: Stage) -> bool {
        let mut record = self.lock();
        if record.stopped {
            return false;
        }
        record.stages.insert(instance.to_owned(), stage);
        true
    }

    /// The caller stops the migration: from now on the record does not change and no
    /// step starts. (Tasks of instances not started yet may still get a `--parallel`
    /// slot while the migration is dropped; they must not reach AWS.)
    pub fn stop(&self) {
        self.lock().stopped = true;
    }

    /// Every planned instance and its stage, by instance name; empty until the source
    /// region has been listed (nothing was asked of AWS before that).
    pub fn stages(&self) -> Vec<(String, Stage)> {
        self.lock()
            .stages
            .iter()
            .map(|(instance, stage)| (instance.clone(), stage.clone()))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Record> {
        // A panic while holding the lock leaves a map that is still whole.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Once stopped, a task that gets a slot late records nothing and may not start.
    #[test]
    fn a_stopped_record_stays_as_it_was() {
        let record = InFlight::default();
        assert!(record.set("db1", Stage::Waiting));
        assert!(record.set("db2", Stage::Waiting));
        record.stop();
        let running = Stage::Running {
            step: Step::Snapshot,
            resource: None,
            region: "us-east-1".into(),
        };
        assert!(!record.set("db2", running));
        assert_eq!(
            record.stages(),
            [
                ("db1".to_owned(), Stage::Waiting),
                ("db2".to_owned(), Stage::Waiting)
            ]
        );
    }
}
