//! The container's process: user and groups, capabilities, and the rest of `process`.

use std::path::PathBuf;

use berth_api_types::containers::{ContainerConfig, HostConfig};
use oci_spec::runtime::{LinuxCapabilities, Process, User};

use crate::error::SpecError;
use crate::input::{HostFacts, UserResolver};
use crate::{caps, merge, resources};

/// The user, its groups (the primary one, the supplementary ones from /etc/group, then
/// `--group-add`, each once: dockerd keeps those in a map).
fn user(
    config: &ContainerConfig,
    hc: &HostConfig,
    users: &dyn UserResolver,
) -> Result<User, SpecError> {
    let resolved = users.user(&config.user)?;
    let mut gids = vec![resolved.gid];
    gids.extend(&resolved.supplementary_gids);
    let mut added: Vec<u32> = Vec::new();
    for g in hc.group_add.iter().flatten() {
        let gid = users.group(g)?;
        if !added.contains(&gid) {
            added.push(gid);
        }
    }
    gids.extend(added);
    let mut user = User::default();
    user.set_uid(resolved.uid);
    user.set_gid(resolved.gid);
    user.set_additional_gids(Some(gids));
    Ok(user)
}

/// The capability sets for `names`. Like execve, a process of another user than root starts
/// with no effective or permitted capabilities: it gets only the bounding set.
fn capabilities(names: &[String], uid: u32) -> Result<LinuxCapabilities, SpecError> {
    let set = caps::to_oci(names)?;
    let root = uid == 0;
    let mut c = LinuxCapabilities::default();
    c.set_bounding(Some(set.clone()));
    c.set_effective(root.then(|| set.clone()));
    c.set_permitted(root.then_some(set));
    c.set_inheritable(None);
    c.set_ambient(None);
    Ok(c)
}

/// What the process needs besides the configs.
#[derive(Debug)]
pub(crate) struct ProcessPlan<'a> {
    pub args: Vec<String>,
    pub cap_names: &'a [String],
    pub no_new_privileges: bool,
    pub host: &'a HostFacts,
}

pub(crate) fn process(
    config: &ContainerConfig,
    hc: &HostConfig,
    users: &dyn UserResolver,
    plan: ProcessPlan<'_>,
) -> Result<Process, SpecError> {
    let user = user(config, hc, users)?;
    let mut process = Process::default();
    process.set_terminal(config.tty.then_some(true));
    process.set_capabilities(Some(capabilities(plan.cap_names, user.uid())?));
    process.set_user(user);
    process.set_args(Some(plan.args));
    process.set_env(Some(merge::environment(config)));
    process.set_cwd(PathBuf::from(if config.working_dir.is_empty() {
        "/"
    } else {
        config.working_dir.as_str()
    }));
    let rlimits = resources::rlimits(
        hc.resources.ulimits.as_deref().unwrap_or_default(),
        &plan.host.default_ulimits,
    )?;
    process.set_rlimits((!rlimits.is_empty()).then_some(rlimits));
    process.set_no_new_privileges(plan.no_new_privileges.then_some(true));
    let oom_score_adj = i32::try_from(hc.oom_score_adj)
        .map_err(|_| SpecError::invalid("HostConfig.OomScoreAdj", "out of range"))?;
    process.set_oom_score_adj(Some(oom_score_adj));
    process.set_apparmor_profile(None);
    Ok(process)
}
