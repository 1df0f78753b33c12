//! Shows a run's progress on stderr: indicatif bars on a terminal (overall bytes, rows
//! and ETA, one line per active table or index), periodic plain lines otherwise.

use std::io::{IsTerminal, Write};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use pgsplit_engine::progress::Progress;
use tokio::task::JoinHandle;

use crate::output::{bytes, count};

/// How often plain progress lines are written when stderr is not a terminal.
const PLAIN_INTERVAL: Duration = Duration::from_secs(10);
const BAR_INTERVAL: Duration = Duration::from_millis(200);
const MAX_TASK_LINES: usize = 8;

/// The bars on screen, if any: lines for stderr are written above them
/// ([`stderr_line`], [`LogWriter`]) rather than under, where the next redraw would wipe
/// them out.
static BARS: Mutex<Option<MultiProgress>> = Mutex::new(None);

/// Writes `text` (whole lines) to stderr, above the bars while they are shown.
pub fn stderr_line(text: &[u8]) {
    let bars = BARS.lock().ok().and_then(|bars| bars.clone());
    let write = || {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(text).and_then(|()| err.flush());
    };
    match bars {
        Some(multi) => multi.suspend(write),
        None => write(),
    }
}

/// The log's writer: one event's line at a time through [`stderr_line`].
pub struct LogWriter;

/// One log event, written when the logger is done with it.
pub struct LogLine(Vec<u8>);

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            stderr_line(&self.0);
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine(Vec::new())
    }
}

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
    // `wide_msg`: every line is cut to the terminal's width (a longer one would wrap,
    // and the next redraw would leave its tail behind).
    let style = |template: &str| {
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
    };
    let sized = style("{bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {wide_msg}");
    // Before the sizes are known (the snapshot, pre-data): no bar, no ETA.
    let waiting = style("{elapsed:>4} {wide_msg}");
    let overall = multi.add(ProgressBar::new(1));
    overall.set_style(waiting);
    let mut sized_shown = false;
    if let Ok(mut bars) = BARS.lock() {
        *bars = Some(multi.clone());
    }
    // One line per active table or index, as many as there are (up to a limit).
    let mut lines: Vec<ProgressBar> = Vec::new();
    loop {
        let (done, total, text) = overall_line(&progress);
        if total > 0 && !sized_shown {
            overall.set_style(sized.clone());
            sized_shown = true;
        }
        overall.set_length(total.max(done).max(1));
        overall.set_position(done);
        overall.set_message(text);
        let active = progress.active();
        let wanted = active.len().min(MAX_TASK_LINES);
        while lines.len() > wanted {
            if let Some(bar) = lines.pop() {
                bar.finish_and_clear();
                multi.remove(&bar);
            }
        }
        while lines.len() < wanted {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(style("  {wide_msg}"));
            lines.push(bar);
        }
        for (bar, (label, done, expected, secs)) in lines.iter().zip(&active) {
            bar.set_message(if *expected > 0 {
                format!(
                    "{label}: {} of ~{} ({secs:.0}s)",
                    bytes(*done as i64),
                    bytes(*expected as i64)
                )
            } else {
                format!("{label} ({secs:.0}s)")
            });
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
    let _ = multi.clear();
    // Only now: a line written meanwhile still goes above what is being cleared.
    if let Ok(mut bars) = BARS.lock() {
        *bars = None;
    }
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
