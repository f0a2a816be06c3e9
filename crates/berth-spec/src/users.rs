//! Users and groups resolved against the contents of a rootfs's /etc/passwd and /etc/group,
//! with the rules of runc's `user.GetExecUser` and `GetAdditionalGroups`, which dockerd uses.
//! The caller reads the files; this module only parses what it is given.

use crate::error::SpecError;
use crate::input::{ResolvedUser, UserResolver};

/// One /etc/passwd entry (the fields used).
#[derive(Debug, Clone, PartialEq, Eq)]
struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
}

/// One /etc/group entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// A number as runc's parser reads one: anything that does not parse is 0.
fn lenient_id(s: &str) -> u32 {
    s.trim().parse().unwrap_or(0)
}

fn lines(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| l.split(':').collect())
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    lines(text)
        .map(|f| PasswdEntry {
            name: f.first().copied().unwrap_or_default().to_owned(),
            uid: lenient_id(f.get(2).copied().unwrap_or_default()),
            gid: lenient_id(f.get(3).copied().unwrap_or_default()),
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    lines(text)
        .map(|f| GroupEntry {
            name: f.first().copied().unwrap_or_default().to_owned(),
            gid: lenient_id(f.get(2).copied().unwrap_or_default()),
            members: f
                .get(3)
                .map(|m| {
                    m.split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect()
}

/// The contents of a rootfs's /etc/passwd and /etc/group (`None` when the file does not
/// exist: then only numeric ids resolve).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EtcFiles {
    pub passwd: Option<String>,
    pub group: Option<String>,
}

fn not_found(what: &'static str, name: &str, file: &str) -> SpecError {
    SpecError::User {
        what,
        name: name.to_owned(),
        reason: format!("no matching entries in {file} file"),
    }
}

impl UserResolver for EtcFiles {
    fn user(&self, spec: &str) -> Result<ResolvedUser, SpecError> {
        let (user_arg, group_arg) = spec.split_once(':').unwrap_or((spec, ""));
        let uid_arg = user_arg.parse::<u32>().ok();
        let gid_arg = group_arg.parse::<u32>().ok();
        let passwd = self.passwd.as_deref().map(parse_passwd).unwrap_or_default();
        let groups = self.group.as_deref().map(parse_group).unwrap_or_default();

        let mut out = ResolvedUser::default();
        let matched = passwd.iter().find(|u| match (user_arg, uid_arg) {
            ("", _) => u.uid == 0,
            (_, Some(uid)) => u.uid == uid,
            (name, None) => u.name == name,
        });
        match (matched, uid_arg) {
            (Some(u), _) => {
                out.uid = u.uid;
                out.gid = u.gid;
            }
            (None, _) if user_arg.is_empty() => {}
            (None, Some(uid)) => out.uid = uid,
            (None, None) => return Err(not_found("user", user_arg, "passwd")),
        }
        let matched_name = matched.map(|u| u.name.as_str());
        if !group_arg.is_empty() {
            let found = groups.iter().find(|g| match gid_arg {
                Some(gid) => g.gid == gid,
                None => g.name == group_arg,
            });
            out.gid = match (found, gid_arg) {
                (Some(g), _) => g.gid,
                (None, Some(gid)) => gid,
                (None, None) => return Err(not_found("group", group_arg, "group")),
            };
        } else if let Some(name) = matched_name {
            out.supplementary_gids = groups
                .iter()
                .filter(|g| g.members.iter().any(|m| m == name))
                .map(|g| g.gid)
                .collect();
        }
        Ok(out)
    }

    fn group(&self, name: &str) -> Result<u32, SpecError> {
        let groups = self.group.as_deref().map(parse_group).unwrap_or_default();
        if let Some(g) = groups
            .iter()
            .find(|g| g.name == name || g.gid.to_string() == name)
        {
            return Ok(g.gid);
        }
        name.parse::<u32>().map_err(|_| SpecError::User {
            what: "group",
            name: name.to_owned(),
            reason: "Unable to find group".to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
        \n\
        app:x:1000:1000::/home/app:/bin/sh\n\
        nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
    const GROUP: &str =
        "root:x:0:\ndaemon:x:1:app\nusers:x:100:app,daemon\napp:x:1000:\nnogroup:x:65534:\n";

    fn etc() -> EtcFiles {
        EtcFiles {
            passwd: Some(PASSWD.into()),
            group: Some(GROUP.into()),
        }
    }

    fn user(uid: u32, gid: u32, sgids: &[u32]) -> ResolvedUser {
        ResolvedUser {
            uid,
            gid,
            supplementary_gids: sgids.to_vec(),
        }
    }

    #[test]
    fn names_numbers_and_groups() {
        let e = etc();
        assert_eq!(e.user("").unwrap(), user(0, 0, &[]));
        assert_eq!(e.user("app").unwrap(), user(1000, 1000, &[1, 100]));
        assert_eq!(e.user("1000").unwrap(), user(1000, 1000, &[1, 100]));
        assert_eq!(e.user("daemon").unwrap(), user(1, 1, &[100]));
        // An explicit group replaces the passwd group and drops the supplementary ones.
        assert_eq!(e.user("app:nogroup").unwrap(), user(1000, 65534, &[]));
        assert_eq!(e.user("app:5").unwrap(), user(1000, 5, &[]));
        // Numeric ids without an entry are taken as they are.
        assert_eq!(e.user("4242").unwrap(), user(4242, 0, &[]));
        assert_eq!(e.user("4242:4242").unwrap(), user(4242, 4242, &[]));
        assert!(matches!(e.user("ghost"), Err(SpecError::User { .. })));
        assert!(matches!(e.user("app:ghosts"), Err(SpecError::User { .. })));
        assert_eq!(e.group("users").unwrap(), 100);
        assert_eq!(e.group("100").unwrap(), 100);
        assert_eq!(e.group("777").unwrap(), 777);
        assert!(e.group("ghosts").is_err());
    }

    #[test]
    fn without_files_only_numbers() {
        let e = EtcFiles::default();
        assert_eq!(e.user("").unwrap(), user(0, 0, &[]));
        assert_eq!(e.user("5:6").unwrap(), user(5, 6, &[]));
        assert!(e.user("root").is_err());
        // Garbage is parsed as runc parses it, without panicking.
        let g = EtcFiles {
            passwd: Some("::::\n:\nx:y:z:w\nß:é:\u{0}".into()),
            group: Some(":::,,,\n".into()),
        };
        assert!(g.user("nobody").is_err());
        assert_eq!(g.user("x").unwrap(), user(0, 0, &[]));
    }
}
