//! `exec`: the process to run, from `--process FILE` or from the container's
//! own process settings with the command line's overrides (as runc does).

use anyhow::{bail, Context, Result};
use berth_container::{container, ExecOptions, Store};
use oci_spec::runtime::{Capabilities, LinuxCapabilities, Process};

use crate::cli::ExecArgs;

pub fn options(store: &Store, a: &ExecArgs) -> Result<ExecOptions> {
    let process = match &a.process {
        Some(path) => {
            let bytes = std::fs::read(path)
                .with_context(|| format!("read process file {}", path.display()))?;
            serde_json::from_slice::<Process>(&bytes)
                .with_context(|| format!("parse process file {}", path.display()))?
        }
        None => from_args(store, a)?,
    };
    Ok(ExecOptions {
        id: a.id.clone(),
        process,
        detach: a.detach,
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        preserve_fds: a.preserve_fds,
        ignore_paused: a.ignore_paused,
        sub_cgroups: berth_cgroups::SubCgroups::parse(&a.cgroup)?,
    })
}

fn from_args(store: &Store, a: &ExecArgs) -> Result<Process> {
    if a.command.is_empty() {
        bail!("exec args cannot be empty");
    }
    let saved = container::load(store, &a.id)?;
    let mut p = saved.spec.process().clone().unwrap_or_default();
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    p.set_console_size(None);
    let mut env = p.env().clone().unwrap_or_default();
    env.extend(a.env.iter().cloned());
    p.set_env(Some(env));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    let mut user = p.user().clone();
    if let Some(u) = &a.user {
        let (uid, gid) = match u.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (u.as_str(), None),
        };
        user.set_uid(uid.parse().with_context(|| format!("parse uid {uid:?}"))?);
        if let Some(g) = gid {
            user.set_gid(g.parse().with_context(|| format!("parse gid {g:?}"))?);
        }
    }
    if !a.additional_gids.is_empty() {
        user.set_additional_gids(Some(a.additional_gids.clone()));
    }
    p.set_user(user);
    if !a.cap.is_empty() {
        let mut caps: LinuxCapabilities = p.capabilities().clone().unwrap_or_default();
        let added: Capabilities = a
            .cap
            .iter()
            .map(|c| {
                let name = c.strip_prefix("CAP_").unwrap_or(c);
                name.parse()
                    .with_context(|| format!("unknown capability {c:?}"))
            })
            .collect::<Result<_>>()?;
        let merge = |set: &Option<Capabilities>| -> Option<Capabilities> {
            Some(
                set.clone()
                    .unwrap_or_default()
                    .union(&added)
                    .copied()
                    .collect(),
            )
        };
        caps.set_bounding(merge(caps.bounding()));
        caps.set_effective(merge(caps.effective()));
        caps.set_permitted(merge(caps.permitted()));
        p.set_capabilities(Some(caps));
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    Ok(p)
}
