//! `~/.pgpass` lookup: `hostname:port:database:username:password`, `*` matches anything,
//! `\` escapes `:` and `\`. Like libpq, a file readable by group or others is ignored.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::settings::ConnSettings;

pub(crate) fn lookup(path: &Path, settings: &ConnSettings) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(
            "password file {} has group or world access; permissions should be u=rw (0600) or less",
            path.display()
        );
        return None;
    }
    // Line by line: a line that is not UTF-8 (a comment in another encoding) is passed
    // over, not the whole file.
    let bytes = std::fs::read(path).ok()?;
    let text: Vec<&str> = bytes
        .split(|&b| b == b'\n')
        .filter_map(|line| std::str::from_utf8(line).ok())
        .collect();
    let text = text.join("\n");
    let (host, port) = settings.primary();
    find(
        &text,
        host.pgpass_name(),
        port,
        &settings.dbname,
        &settings.user,
    )
}

fn find(text: &str, host: &str, port: u16, dbname: &str, user: &str) -> Option<String> {
    let port = port.to_string();
    let wanted = [host, port.as_str(), dbname, user];
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(split_fields)
        .find(|fields| {
            fields[..4]
                .iter()
                .zip(wanted)
                .all(|(field, want)| field == "*" || field == want)
        })
        .map(|mut fields| fields.swap_remove(4))
}

fn split_fields(line: &str) -> Option<Vec<String>> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => fields.last_mut()?.extend(chars.next()),
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut()?.push(c),
        }
    }
    (fields.len() == 5).then_some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_with_wildcards_and_escapes() {
        let text =
            "# comment\nother:5432:*:*:nope\nh:5432:d\\:b:u:pa\\:ss\\\\w\n*:*:*:u:fallback\n";
        assert_eq!(
            find(text, "h", 5432, "d:b", "u").as_deref(),
            Some("pa:ss\\w")
        );
        assert_eq!(find(text, "x", 1, "y", "u").as_deref(), Some("fallback"));
        assert_eq!(find(text, "x", 1, "y", "v"), None);
    }

    #[test]
    fn ignores_files_readable_by_others() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pgpass");
        std::fs::write(&path, "*:*:*:*:pw\n").unwrap();
        let settings =
            ConnSettings::parse_with("postgres://u@h/d", &crate::settings::Environment::default())
                .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(lookup(&path, &settings), None);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(lookup(&path, &settings).as_deref(), Some("pw"));
        // A line that is not UTF-8 is passed over, not the whole file.
        std::fs::write(&path, b"# caf\xe9\n\xff\xfe x\n*:*:*:u:pw2\n").unwrap();
        assert_eq!(lookup(&path, &settings).as_deref(), Some("pw2"));
    }
}
