//! Ctrl-C and SIGTERM: the ways a user or a supervisor asks pgsplit to stop.

/// Resolves when the process gets Ctrl-C (SIGINT) or SIGTERM.
pub async fn stop_requested() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).ok();
    let terminated = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminated => {}
    }
}
