//! Which OS user runs the test servers.

use std::os::unix::fs::MetadataExt;

/// An unprivileged account to run initdb and postgres as.
#[derive(Clone, Copy, Debug)]
pub struct OsUser {
    pub uid: u32,
    pub gid: u32,
}

/// `None` when we are not root (run as ourselves); otherwise the `postgres` account, or
/// `nobody` when there is none.
pub fn server_user() -> Option<OsUser> {
    let euid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0);
    if euid != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let find = |name: &str| {
        passwd.lines().find_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            (f.len() > 3 && f[0] == name).then(|| OsUser {
                uid: f[2].parse().unwrap_or(65534),
                gid: f[3].parse().unwrap_or(65534),
            })
        })
    };
    Some(
        find("postgres")
            .or_else(|| find("nobody"))
            .unwrap_or(OsUser {
                uid: 65534,
                gid: 65534,
            }),
    )
}
