//! Shows a run's progress on stderr: indicatif bars on a terminal (overall bytes, rows
//! and ETA, one line per active table or index), periodic plain lines otherwise.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use pgsplit_engine::progress::Progress;
use tokio::task::JoinHandle;

use crate::output::{bytes, count};

/// How often plain progress lines are written when stderr is not a terminal.
const PLAIN_INTERVAL: Duration = Duration::from_secs(10);
const BAR_INTERVAL: Duration = Duration::from_millis(200);
const MAX_TASK_LINES: usize = 8;

pub struct ProgressView {
    task: Option<JoinHandle<()>>,
    stop: Arc<tokio::sync::Notify>,
}

impl ProgressView {
    /// `enabled: false` (for `--no-progress`, `-q`) shows nothing.
    pub fn start(progress: Arc<Progress>, enabled: bool) -> ProgressView {
        let stop = Arc::new(tokio::sync::Notify::new());
        let task = enabled.then(|| {
            let stop = Arc::clone(&stop);
            if std::io::stderr().is_terminal() {
                tokio::spawn(bars(progress, stop))
            } else {
                tokio::spawn(plain(progress, stop))
            }
        });
        ProgressView { task, stop }
    }

    pub async fn finish(self) {
        self.stop.notify_one();
        if let Some(task) = self.task {
            let _ = task.await;
        }
    }
}

fn overall_line(p: &Progress) -> (u64, u64, String) {
    let total = p.total_bytes.load(Ordering::Relaxed);
    let done = p.copied.bytes.load(Ordering::Relaxed);
    let rows = p.copied.rows.load(Ordering::Relaxed);
    let text = format!(
        "{} | tables {}/{} | {} rows",
        p.phase(),
        p.tables_done.load(Ordering::Relaxed),
        p.tables_total.load(Ordering::Relaxed),
        count(rows as i64)
    );
    (done, total, text)
}

async fn bars(progress: Arc<Progress>, stop: Arc<tokio::sync::Notify>) {
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let overall = multi.add(ProgressBar::new(1));
    overall.set_style(
        ProgressStyle::with_template(
            "{bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let lines: Vec<ProgressBar> = (0..MAX_TASK_LINES)
        .map(|_| {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("  {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar
        })
        .collect();
    loop {
        let (done, total, text) = overall_line(&progress);
        overall.set_length(total.max(done).max(1));
        overall.set_position(done);
        overall.set_message(text);
        let active = progress.active();
        for (i, bar) in lines.iter().enumerate() {
            match active.get(i) {
                Some((label, done, expected, secs)) if *expected > 0 => bar.set_message(format!(
                    "{label}: {} of ~{} ({secs:.0}s)",
                    bytes(*done as i64),
                    bytes(*expected as i64)
                )),
                Some((label, _, _, secs)) => bar.set_message(format!("{label} ({secs:.0}s)")),
                None => bar.set_message(""),
            }
        }
        tokio::select! {
            _ = stop.notified() => break,
            _ = tokio::time::sleep(BAR_INTERVAL) => {}
        }
    }
    for bar in lines {
        bar.finish_and_clear();
    }
    overall.finish_and_clear();
}

async fn plain(progress: Arc<Progress>, stop: Arc<tokio::sync::Notify>) {
    loop {
        tokio::select! {
            _ = stop.notified() => break,
            _ = tokio::time::sleep(PLAIN_INTERVAL) => {}
        }
        let (done, total, text) = overall_line(&progress);
        let active: Vec<String> = progress.active().into_iter().map(|a| a.0).take(4).collect();
        eprintln!(
            "progress: {} of ~{} | {text} | active: {}",
            bytes(done as i64),
            bytes(total as i64),
            active.join(", ")
        );
    }
}
