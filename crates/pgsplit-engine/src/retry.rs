//! Which failures are worth another try, and how long to wait before it.
//!
//! Transient: the connection dropped or the server is restarting or overloaded
//! (SQLSTATE class 08, 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03
//! cannot_connect_now, 53300 too_many_connections, 40001 serialization_failure,
//! 40P01 deadlock_detected), and I/O errors without a server answer. Everything else
//! is permanent: syntax, permissions, missing objects, bad data, a full disk, a
//! statement timeout — another try would fail the same way, or needs an operator.

use std::time::Duration;

use tokio_postgres::error::SqlState;

/// Attempts per unit of work, the first included.
pub const MAX_ATTEMPTS: u32 = 6;
const FIRST_DELAY: Duration = Duration::from_millis(500);
const MAX_DELAY: Duration = Duration::from_secs(15);

/// Whether an error may go away by itself.
pub fn is_transient(error: &tokio_postgres::Error) -> bool {
    match error.code() {
        Some(code) => is_transient_state(code),
        // No SQLSTATE: the socket closed or failed, or the server never answered.
        None => error.is_closed() || has_io_cause(error),
    }
}

pub fn is_transient_state(code: &SqlState) -> bool {
    code.code().starts_with("08")
        || [
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::TOO_MANY_CONNECTIONS,
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
        ]
        .contains(code)
}

fn has_io_cause(error: &tokio_postgres::Error) -> bool {
    let mut cause = std::error::Error::source(error);
    while let Some(c) = cause {
        if c.is::<std::io::Error>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// The wait before attempt `attempt` (2, 3, …): doubling from 0.5 s, at most 15 s.
pub fn delay(attempt: u32) -> Duration {
    let exp = attempt.saturating_sub(2).min(10);
    (FIRST_DELAY * 2u32.pow(exp)).min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_sqlstates() {
        for transient in [
            SqlState::CONNECTION_FAILURE,
            SqlState::CONNECTION_EXCEPTION,
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::TOO_MANY_CONNECTIONS,
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
        ] {
            assert!(is_transient_state(&transient), "{transient:?}");
        }
        for permanent in [
            SqlState::SYNTAX_ERROR,
            SqlState::INSUFFICIENT_PRIVILEGE,
            SqlState::UNDEFINED_TABLE,
            SqlState::UNIQUE_VIOLATION,
            SqlState::DISK_FULL,
            SqlState::QUERY_CANCELED,
            SqlState::INVALID_TEXT_REPRESENTATION,
        ] {
            assert!(!is_transient_state(&permanent), "{permanent:?}");
        }
    }

    #[test]
    fn delays_double_up_to_a_cap() {
        assert_eq!(delay(2), Duration::from_millis(500));
        assert_eq!(delay(3), Duration::from_secs(1));
        assert_eq!(delay(4), Duration::from_secs(2));
        assert_eq!(delay(9), Duration::from_secs(15));
        assert_eq!(delay(100), Duration::from_secs(15));
    }
}
