//! Process exit codes. Documented in README.md ("Exit codes"); keep both in step.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything asked for was done and checked.
    Success = 0,
    /// A run or check failed, or `plan` found problems.
    Failure = 1,
    /// Bad input (arguments, mapping file, URLs, a split selector that does not fit its
    /// source): nothing was written.
    Usage = 2,
    /// `verify` (or a run's verification) found a difference between source and target.
    Mismatch = 3,
    /// Stopped by Ctrl-C or SIGTERM; the run can be resumed.
    Interrupted = 130,
}

impl ExitCode {
    pub fn code(self) -> i32 {
        self as i32
    }
}
