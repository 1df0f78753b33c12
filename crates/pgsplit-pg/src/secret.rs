//! Secrets that never print, passwords made anew for each connection, and redaction of
//! free text that may hold a secret.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;

/// A password or token. `Debug` and `Display` print `***`; the value is only reachable
/// through [`Secret::expose`], which makes every use easy to audit.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

type MakePassword = dyn Fn() -> BoxFuture<'static, Result<Secret, String>> + Send + Sync;

/// Makes the password when a connection is opened, for passwords that expire: an RDS IAM
/// token is valid for 15 minutes, and a run opens connections for longer than that.
/// Its error is a message that names no secret.
#[derive(Clone)]
pub struct PasswordSource(Arc<MakePassword>);

impl PasswordSource {
    pub fn new<F, Fut>(make: F) -> PasswordSource
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Secret, String>> + Send + 'static,
    {
        PasswordSource(Arc::new(move || Box::pin(make())))
    }

    pub async fn password(&self) -> Result<Secret, String> {
        (self.0)().await
    }
}

impl fmt::Debug for PasswordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordSource")
    }
}

/// Removes passwords from text that may contain connection strings the parser could not
/// read: `scheme://user:password@` becomes `scheme://user:***@`, and `password=value`
/// (URL query or `key=value` form) becomes `password=***`.
///
/// A password may hold any character a user forgot to percent-encode (`/`, `?`, `@`, `:`),
/// so a URL's user part runs to the last `@` before the URL ends: at whitespace, or at
/// `@@` followed by the next URL (a mapping line). Text with another `@` later in the
/// same URL is cut there: more is hidden, never less.
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        let end = url_end(tail);
        let url = &tail[..end];
        match url.rfind('@') {
            Some(at) => {
                let userinfo = &url[..at];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..colon]);
                        out.push_str(":***");
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&url[at..]);
            }
            None => out.push_str(url),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    redact_password_params(&out)
}

/// Where the URL that `text` continues ends: at whitespace, or at the `@@` that joins it
/// to the next URL of a mapping line (`@@scheme://`). A `user:` part with no `@` before
/// the whitespace may be a password holding a space: the URL then runs on to the next
/// `@` of the line (before another URL).
fn url_end(text: &str) -> usize {
    let mut space = text.find(char::is_whitespace).unwrap_or(text.len());
    let head = &text[..space];
    if !head.contains('@') && head.contains(':') {
        let line = text.find('\n').unwrap_or(text.len());
        let next_url = text.find("://").unwrap_or(text.len());
        if let Some(at) = text[..line.min(next_url)].rfind('@') {
            space = text[at..]
                .find(char::is_whitespace)
                .map_or(text.len(), |i| at + i);
        }
    }
    let mut from = 0;
    while let Some(i) = text[from..space].find("@@") {
        let at = from + i;
        let next = &text[at + 2..];
        let scheme = next
            .find("://")
            .is_some_and(|s| s > 0 && next[..s].chars().all(|c| c.is_ascii_alphanumeric()));
        if scheme {
            return at;
        }
        from = at + 1;
    }
    space
}

fn redact_password_params(text: &str) -> String {
    let text = &redact_encoded_password_keys(text);
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(value_start) = find_password_value(rest) {
        out.push_str(&rest[..value_start]);
        out.push_str("***");
        let tail = &rest[value_start..];
        let end = if let Some(quoted) = tail.strip_prefix('\'') {
            // key='quoted value' with backslash escapes
            let mut escaped = false;
            let mut close = quoted.len();
            for (i, c) in quoted.char_indices() {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '\'' {
                    close = i + 1;
                    break;
                }
            }
            1 + close
        } else {
            tail.find(|c: char| c == '&' || c.is_whitespace())
                .unwrap_or(tail.len())
        };
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// URL query parameters whose percent-encoded name decodes to `password` or `sslpassword`
/// (`?pass%77ord=…`, which the URL parser takes as the password): value hidden.
fn redact_encoded_password_keys(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(sep) = rest.find(['?', '&']) {
        out.push_str(&rest[..=sep]);
        rest = &rest[sep + 1..];
        let Some(eq) = rest.find('=') else { continue };
        let key = &rest[..eq];
        if key.contains('%')
            && !key.contains(['?', '&', ' ', '\t', '\n'])
            && ["password", "sslpassword"]
                .contains(&percent_decoded(key).to_ascii_lowercase().as_str())
        {
            out.push_str(key);
            out.push_str("=***");
            let value = &rest[eq + 1..];
            rest = &value[value
                .find(|c: char| c == '&' || c.is_whitespace())
                .unwrap_or(value.len())..];
        }
    }
    out.push_str(rest);
    out
}

/// `text` with its `%XX` escapes decoded (others kept as they are).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where the value of the next `password` (or `sslpassword`) key of `text` starts: the key
/// in any case, at the start or after a separator, with its `=` (libpq allows spaces
/// around it).
fn find_password_value(text: &str) -> Option<usize> {
    const KEY: &str = "password";
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(KEY) {
        let at = from + i;
        from = at + 1;
        // libpq's `sslpassword` (the client key's passphrase) too.
        let key_start = if lower[..at].ends_with("ssl") {
            at - 3
        } else {
            at
        };
        let boundary = key_start == 0
            || matches!(
                lower.as_bytes()[key_start - 1],
                b'?' | b'&' | b' ' | b'\t' | b'\n' | b';'
            );
        let blank = [' ', '\t'];
        let Some(value) = text[at + KEY.len()..]
            .trim_start_matches(blank)
            .strip_prefix('=')
            .filter(|_| boundary)
        else {
            continue;
        };
        return Some(text.len() - value.trim_start_matches(blank).len());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_formats_its_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn redacts_url_userinfo() {
        assert_eq!(
            redact_text("bad line postgres://app:s3cr%40t@db:5432/x@@postgresql://u:p@h/y"),
            "bad line postgres://app:***@db:5432/x@@postgresql://u:***@h/y"
        );
        assert_eq!(redact_text("postgres://app@db/x"), "postgres://app@db/x");
        assert_eq!(redact_text("postgres://db/x"), "postgres://db/x");
    }

    #[test]
    fn redacts_a_password_parameter_whose_name_is_percent_encoded() {
        assert_eq!(
            redact_text("postgres://app@h:5/db?pass%77ord=S3cret&x=1 and more"),
            "postgres://app@h:5/db?pass%77ord=***&x=1 and more"
        );
        assert_eq!(
            redact_text("postgres://h/db?%50ASSWORD=S3cret"),
            "postgres://h/db?%50ASSWORD=***"
        );
        assert_eq!(
            redact_text("postgres://h/db?app%5Fname=x&password=y"),
            "postgres://h/db?app%5Fname=x&password=***"
        );
    }

    #[test]
    fn redacts_password_with_at_sign_and_colon() {
        assert_eq!(
            redact_text("postgres://a:b:c@d@host/db"),
            "postgres://a:***@host/db"
        );
    }

    #[test]
    fn redacts_passwords_holding_what_urls_must_encode() {
        for (text, shown) in [
            ("postgres://app:ab/cd@db/shop", "postgres://app:***@db/shop"),
            ("postgres://app:pa?ss@db/shop", "postgres://app:***@db/shop"),
            ("postgres://u:p@@ss@h/db", "postgres://u:***@h/db"),
            (
                "postgres://u:p@@ss@h/db@@postgres://v:q/r@h2/db",
                "postgres://u:***@h/db@@postgres://v:***@h2/db",
            ),
            (
                "missing '@@' in \"postgres://app:my pass@db/shop\"",
                "missing '@@' in \"postgres://app:***@db/shop\"",
            ),
            (
                "cannot connect to postgres://h:5432/db: refused",
                "cannot connect to postgres://h:5432/db: refused",
            ),
            (
                "in \"postgres://a:x@h/db@@postgresql://b:y@@z@h/db\" here",
                "in \"postgres://a:***@h/db@@postgresql://b:***@h/db\" here",
            ),
        ] {
            assert_eq!(redact_text(text), shown, "{text}");
        }
    }

    #[test]
    fn redacts_password_parameters() {
        assert_eq!(
            redact_text("postgres://h/db?sslmode=require&password=abc&x=1"),
            "postgres://h/db?sslmode=require&password=***&x=1"
        );
        assert_eq!(
            redact_text("host=h password='a b\\'c' dbname=x"),
            "host=h password=*** dbname=x"
        );
        assert_eq!(redact_text("PASSWORD=zz"), "PASSWORD=***");
        assert_eq!(redact_text("mypassword=zz"), "mypassword=zz");
        assert_eq!(
            redact_text("postgres://h/db?sslpassword=k3y&x=1 sslpassword = 'a b'"),
            "postgres://h/db?sslpassword=***&x=1 sslpassword = ***"
        );
        assert_eq!(redact_text("?sslpass%77ord=k3y"), "?sslpass%77ord=***");
        assert_eq!(redact_text("nosslpassword=zz"), "nosslpassword=zz");
        // libpq allows spaces around the `=` of a key.
        assert_eq!(
            redact_text("host=db1 password = Sekr3t dbname=shop"),
            "host=db1 password = *** dbname=shop"
        );
        assert_eq!(redact_text("password= Sekr3t"), "password= ***");
        assert_eq!(
            redact_text("host=h password\t= 'Sekr3t"),
            "host=h password\t= ***"
        );
        assert_eq!(
            redact_text("a wrong password for app"),
            "a wrong password for app"
        );
    }
}
