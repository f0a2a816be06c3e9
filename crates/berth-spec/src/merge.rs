//! The image's defaults merged into the container's config (dockerd's create-time merge), and
//! the process's environment and command line.

use berth_api_types::containers::ContainerConfig;

use crate::error::SpecError;
use crate::input::ImageDefaults;

/// dockerd's `PATH` for Linux containers whose config sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The name of a `KEY=value` entry (the whole entry when it has no `=`).
fn env_key(entry: &str) -> &str {
    entry.split_once('=').map_or(entry, |(k, _)| k)
}

/// Merges the image's defaults into a container's config as dockerd does at create: the
/// container's values win; the image's env entries are appended for keys the container does
/// not set; the image's `Cmd` is taken only when the container sets neither `Entrypoint` nor
/// `Cmd`, its `Entrypoint` only when the container's is unset (`null`); `Entrypoint: [""]`
/// then clears the entrypoint. Merging a config that was merged already changes nothing.
pub fn merge_image_defaults(
    config: &ContainerConfig,
    image: &ImageDefaults,
) -> Result<ContainerConfig, SpecError> {
    let mut c = config.clone();
    if c.user.is_empty() {
        c.user.clone_from(&image.user);
    }
    match &mut c.env {
        Some(env) if !env.is_empty() => {
            for entry in &image.env {
                let key = env_key(entry);
                if !env.iter().any(|e| env_key(e) == key) {
                    env.push(entry.clone());
                }
            }
        }
        _ => {
            c.env = if image.env.is_empty() {
                c.env.take()
            } else {
                Some(image.env.clone())
            }
        }
    }
    let labels = c.labels.get_or_insert_with(Default::default);
    for (k, v) in &image.labels {
        labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    if c.entrypoint.as_ref().is_none_or(Vec::is_empty) {
        if c.cmd.as_ref().is_none_or(Vec::is_empty) {
            c.cmd.clone_from(&image.cmd);
        }
        if c.entrypoint.is_none() {
            c.entrypoint.clone_from(&image.entrypoint);
        }
    }
    if let Some(image_hc) = &image.healthcheck {
        match &mut c.healthcheck {
            None => c.healthcheck = Some(image_hc.clone()),
            Some(hc) => {
                if hc.test.as_ref().is_none_or(Vec::is_empty) {
                    hc.test.clone_from(&image_hc.test);
                }
                for (mine, theirs) in [
                    (&mut hc.interval, image_hc.interval),
                    (&mut hc.timeout, image_hc.timeout),
                    (&mut hc.start_period, image_hc.start_period),
                    (&mut hc.retries, image_hc.retries),
                ] {
                    if *mine == 0 {
                        *mine = theirs;
                    }
                }
            }
        }
    }
    if c.working_dir.is_empty() {
        c.working_dir.clone_from(&image.working_dir);
    }
    if c.stop_signal.is_empty() {
        c.stop_signal.clone_from(&image.stop_signal);
    }
    if c.entrypoint.as_deref() == Some(&[String::new()][..]) {
        c.entrypoint = None;
    }
    if c.entrypoint.as_ref().is_none_or(Vec::is_empty) && c.cmd.as_ref().is_none_or(Vec::is_empty) {
        return Err(SpecError::NoCommand);
    }
    Ok(c)
}

/// The process's arguments: the entrypoint followed by the command, or the command alone.
pub(crate) fn args(config: &ContainerConfig) -> Result<Vec<String>, SpecError> {
    let mut args: Vec<String> = config.entrypoint.clone().unwrap_or_default();
    args.extend(config.cmd.iter().flatten().cloned());
    if args.is_empty() {
        return Err(SpecError::NoCommand);
    }
    Ok(args)
}

/// The process's environment: `PATH`, `HOSTNAME` and, with a terminal, `TERM=xterm`, then the
/// config's entries, each replacing the entry of the same name in place or appended; a bare
/// `NAME` removes `NAME`.
pub(crate) fn environment(config: &ContainerConfig) -> Vec<String> {
    let mut env = vec![
        format!("PATH={DEFAULT_PATH}"),
        format!("HOSTNAME={}", config.hostname),
    ];
    if config.tty {
        env.push("TERM=xterm".to_owned());
    }
    // Only the defaults are looked up by name: like dockerd, two config entries of the same
    // name are both kept.
    let defaults = env.len();
    let mut removed = vec![false; defaults];
    for entry in config.env.iter().flatten() {
        let found = env[..defaults]
            .iter()
            .position(|e| env_key(e) == env_key(entry));
        match (entry.contains('='), found) {
            (true, Some(i)) => env[i].clone_from(entry),
            (true, None) => env.push(entry.clone()),
            (false, Some(i)) => removed[i] = true,
            (false, None) => {}
        }
    }
    let mut i = 0;
    env.retain(|_| {
        let keep = !removed.get(i).copied().unwrap_or(false);
        i += 1;
        keep
    });
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Option<Vec<String>> {
        Some(v.iter().map(|s| (*s).to_owned()).collect())
    }

    fn image() -> ImageDefaults {
        ImageDefaults {
            user: "daemon".into(),
            env: vec!["PATH=/image/bin".into(), "LANG=C".into()],
            cmd: strings(&["nginx", "-g", "daemon off;"]),
            entrypoint: strings(&["/entry.sh"]),
            working_dir: "/srv".into(),
            stop_signal: "SIGQUIT".into(),
            ..ImageDefaults::default()
        }
    }

    #[test]
    fn image_defaults_fill_what_the_container_leaves_empty() {
        let c = merge_image_defaults(&ContainerConfig::default(), &image()).unwrap();
        assert_eq!(c.user, "daemon");
        assert_eq!(c.env, strings(&["PATH=/image/bin", "LANG=C"]));
        assert_eq!(
            args(&c).unwrap(),
            ["/entry.sh", "nginx", "-g", "daemon off;"]
        );
        assert_eq!(c.working_dir, "/srv");
        assert_eq!(c.stop_signal, "SIGQUIT");
        // Idempotent: a stored (merged) config merges to itself.
        assert_eq!(merge_image_defaults(&c, &image()).unwrap(), c);
    }

    #[test]
    fn container_values_win() {
        let config = ContainerConfig {
            user: "1000".into(),
            env: strings(&["LANG=fr_FR", "A=1"]),
            cmd: strings(&["echo", "hi"]),
            ..ContainerConfig::default()
        };
        let c = merge_image_defaults(&config, &image()).unwrap();
        assert_eq!(c.user, "1000");
        assert_eq!(c.env, strings(&["LANG=fr_FR", "A=1", "PATH=/image/bin"]));
        // A Cmd keeps the image's entrypoint.
        assert_eq!(args(&c).unwrap(), ["/entry.sh", "echo", "hi"]);
    }

    #[test]
    fn entrypoint_rules() {
        // --entrypoint replaces the image's entrypoint and drops its Cmd.
        let config = ContainerConfig {
            entrypoint: strings(&["/bin/sh"]),
            ..ContainerConfig::default()
        };
        let c = merge_image_defaults(&config, &image()).unwrap();
        assert_eq!(args(&c).unwrap(), ["/bin/sh"]);
        // --entrypoint "" clears it; the container's Cmd runs alone.
        let config = ContainerConfig {
            entrypoint: strings(&[""]),
            cmd: strings(&["ls"]),
            ..ContainerConfig::default()
        };
        let c = merge_image_defaults(&config, &image()).unwrap();
        assert_eq!(c.entrypoint, None);
        assert_eq!(args(&c).unwrap(), ["ls"]);
        // --entrypoint "" and no Cmd: nothing to run.
        let config = ContainerConfig {
            entrypoint: strings(&[""]),
            ..ContainerConfig::default()
        };
        assert!(matches!(
            merge_image_defaults(&config, &image()),
            Err(SpecError::NoCommand)
        ));
        assert!(matches!(
            merge_image_defaults(&ContainerConfig::default(), &ImageDefaults::default()),
            Err(SpecError::NoCommand)
        ));
    }

    #[test]
    fn environment_defaults_and_overrides() {
        let mut c = ContainerConfig {
            hostname: "web".into(),
            env: strings(&["A=1", "PATH=/x", "A=2", "HOSTNAME"]),
            ..ContainerConfig::default()
        };
        assert_eq!(environment(&c), ["PATH=/x", "A=1", "A=2"]);
        c.tty = true;
        c.env = strings(&["TERM=vt100", "NOPE"]);
        assert_eq!(
            environment(&c),
            [
                &format!("PATH={DEFAULT_PATH}"),
                "HOSTNAME=web",
                "TERM=vt100"
            ]
        );
    }
}
