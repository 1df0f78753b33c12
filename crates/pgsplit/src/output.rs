//! The printer: results go to stdout (human text or JSON), logs and progress to stderr.
//! Nothing else in the program prints.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use serde::Serialize;

/// Where `--json` sends the machine-readable document.
#[derive(Clone, Debug)]
pub enum JsonOut {
    /// Human output only.
    None,
    /// `--json` with no file: JSON on stdout instead of the human text.
    Stdout,
    /// `--json FILE`: human text on stdout, JSON into the file.
    File(PathBuf),
}

impl JsonOut {
    /// `--json FILE`: the file can be written (an existing one is left as it is until
    /// the report replaces it; a missing one is created and removed again).
    /// It is none of the command's `inputs` (`--json mapping.txt` would replace the
    /// mapping with the report).
    pub fn check(&self, inputs: &[&std::path::Path]) -> anyhow::Result<()> {
        if let JsonOut::File(path) = self {
            let same = |input: &&&std::path::Path| match (
                std::fs::canonicalize(path),
                std::fs::canonicalize(input),
            ) {
                (Ok(a), Ok(b)) => a == b,
                _ => false,
            };
            if let Some(input) = inputs.iter().find(same) {
                let input = pgsplit_pg::redact_text(&input.display().to_string());
                anyhow::bail!(
                    "--json {input} names the command's own input: give the report another file"
                );
            }
            let existed = path.exists();
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .with_context(|| {
                    let path = pgsplit_pg::redact_text(&path.display().to_string());
                    format!("cannot write the JSON report {path}")
                })?;
            if !existed {
                let _ = std::fs::remove_file(path);
            }
        }
        Ok(())
    }

    pub fn from_arg(arg: Option<&str>) -> JsonOut {
        match arg {
            None => JsonOut::None,
            Some("-") => JsonOut::Stdout,
            Some(path) => JsonOut::File(PathBuf::from(path)),
        }
    }
}

pub struct Printer {
    pub json: JsonOut,
    pub quiet: bool,
}

impl Printer {
    /// [`Printer::result`] of a command's report whose exit code is `code`: the JSON
    /// document says it too, first (`"status"`: `ok`, `failed`, `bad_input`, `differs`,
    /// `interrupted`; `"exit_code"`), so that a script need not work it out of the lines.
    pub fn outcome<T: Serialize>(
        &self,
        value: &T,
        code: crate::exit_code::ExitCode,
        human: impl FnOnce() -> String,
    ) -> anyhow::Result<crate::exit_code::ExitCode> {
        use crate::exit_code::ExitCode;
        let status = match code {
            ExitCode::Success => "ok",
            ExitCode::Failure => "failed",
            ExitCode::Usage => "bad_input",
            ExitCode::Mismatch => "differs",
            ExitCode::Interrupted => "interrupted",
        };
        #[derive(Serialize)]
        struct Outcome<'a, T: Serialize> {
            status: &'static str,
            exit_code: i32,
            #[serde(flatten)]
            report: &'a T,
        }
        let document = Outcome {
            status,
            exit_code: code.code(),
            report: value,
        };
        self.result(&document, human)?;
        Ok(code)
    }

    /// Prints the human form unless JSON goes to stdout, and writes the JSON document.
    pub fn result<T: Serialize>(
        &self,
        value: &T,
        human: impl FnOnce() -> String,
    ) -> anyhow::Result<()> {
        match &self.json {
            JsonOut::Stdout => {
                let mut out = std::io::stdout().lock();
                let written = serde_json::to_writer_pretty(&mut out, value)
                    .map_err(std::io::Error::from)
                    .and_then(|()| writeln!(out));
                reader_gone_is_fine(written)?;
            }
            JsonOut::File(path) => {
                // The summary first: a report file that fails now does not hide it.
                self.human(&human())?;
                let text = serde_json::to_string_pretty(value)?;
                std::fs::write(path, text + "\n").with_context(|| {
                    let path = pgsplit_pg::redact_text(&path.display().to_string());
                    format!("write JSON report {path}")
                })?;
            }
            JsonOut::None => self.human(&human())?,
        }
        Ok(())
    }

    fn human(&self, text: &str) -> anyhow::Result<()> {
        if !self.quiet {
            let mut out = std::io::stdout().lock();
            reader_gone_is_fine(out.write_all(text.as_bytes()).and_then(|()| out.flush()))?;
        }
        Ok(())
    }
}

/// A reader that went away (`| head`) wanted no more output: not an error, and the
/// command's exit code stays what its work decided.
fn reader_gone_is_fine(written: std::io::Result<()>) -> std::io::Result<()> {
    match written {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// `1.2 GB`, `340 kB`: sizes the way PostgreSQL's `pg_size_pretty` shows them.
pub fn bytes(n: i64) -> String {
    const UNITS: [&str; 5] = ["bytes", "kB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value.abs() >= 1024.0 * 10.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} bytes")
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

/// `12.3M`, `45k`, `870`.
pub fn count(n: i64) -> String {
    match n {
        n if n >= 10_000_000 => format!("{:.0}M", n as f64 / 1e6),
        n if n >= 1_000_000 => format!("{:.1}M", n as f64 / 1e6),
        n if n >= 10_000 => format!("{:.0}k", n as f64 / 1e3),
        n => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(bytes(512), "512 bytes");
        assert_eq!(bytes(20 * 1024), "20 kB");
        assert_eq!(bytes(1536 * 1024 * 1024), "1536 MB");
        assert_eq!(bytes(15 * 1024 * 1024 * 1024), "15 GB");
        assert_eq!(count(1_234_567), "1.2M");
        assert_eq!(count(45_600), "46k");
        assert_eq!(count(870), "870");
    }
}
