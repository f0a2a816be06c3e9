//! `docker run --init` through berthd: the static berth-init bind-mounted at
//! `/sbin/docker-init` as the container's pid 1, from `--init-path` or berthd's own lookup;
//! berthd's `--init` default; a clear refusal when there is no init. Driven by the real docker
//! CLI against a private berthd; needs docker.io, busybox-static and the musl target.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::Berthd;

const NONE: &str = "--network=none";

/// A berthd started with `--init-path` naming the static berth-init (and `extra`), with
/// `busybox:latest` imported; and that init.
fn setup(extra: &[&str]) -> Option<(Berthd, PathBuf)> {
    if !berth_testutil::require_root()
        || !berth_testutil::require_files(&["/bin/busybox"], "busybox-static")
        || !berth_testutil::require(
            Command::new("docker").arg("--version").output().is_ok(),
            "docker (docker.io)",
        )
    {
        return None;
    }
    let init = berth_testutil::static_berth_init()?;
    common::shim_bin();
    let mut args = vec!["--init-path", init.to_str().unwrap()];
    args.extend_from_slice(extra);
    let d = Berthd::start_with(&args);
    common::import_busybox(&d);
    Some((d, init))
}

/// `echo $$; ps -o pid,comm` in a container run with `flags`: the shell's pid and the
/// command of pid 1.
fn shell_pid_and_pid1(d: &Berthd, flags: &[&str]) -> (String, String) {
    let mut args = vec!["run", "--rm", NONE];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["busybox", "sh", "-c", "echo $$; ps -o pid,comm"]);
    let out = d.docker(&args);
    out.assert_success();
    let mut lines = out.stdout.lines();
    let shell = lines.next().unwrap_or_default().trim().to_owned();
    let pid1 = lines
        .filter_map(|l| l.trim().split_once(char::is_whitespace))
        .find(|(pid, _)| *pid == "1")
        .map(|(_, comm)| comm.trim().to_owned())
        .unwrap_or_else(|| panic!("no pid 1 in ps:\n{out}"));
    (shell, pid1)
}

#[test]
fn run_init_with_init_path() {
    let Some((d, _)) = setup(&[]) else { return };
    let (shell, pid1) = shell_pid_and_pid1(&d, &["--init"]);
    assert_eq!(pid1, "docker-init");
    assert_ne!(shell, "1", "the shell is pid 1 under --init");
    // Without --init the shell is pid 1 (berthd has no --init default here).
    let (shell, pid1) = shell_pid_and_pid1(&d, &[]);
    assert_eq!(shell, "1");
    // sh execs its last command: pid 1 is ps by then.
    assert_eq!(pid1, "ps");

    // The command's exit code comes through the init.
    d.docker(&[
        "run", "--rm", "--init", NONE, "busybox", "sh", "-c", "exit 42",
    ])
    .assert_code(42);

    // The container records it: inspect shows HostConfig.Init.
    d.docker(&[
        "create", "--init", "--name", "withinit", NONE, "busybox", "true",
    ])
    .assert_success();
    let out = d.docker(&["inspect", "-f", "{{.HostConfig.Init}}", "withinit"]);
    out.assert_success();
    assert_eq!(out.stdout.trim(), "true");
    d.docker(&["start", "-a", "withinit"]).assert_success();
    d.docker(&["rm", "withinit"]).assert_success();
}

#[test]
fn daemon_init_default_and_no_init_binary() {
    let Some((mut d, init)) = setup(&["--init"]) else {
        return;
    };
    // berthd --init: containers that do not say get the init; --init=false opts out.
    let (shell, pid1) = shell_pid_and_pid1(&d, &[]);
    assert_eq!(pid1, "docker-init");
    assert_ne!(shell, "1");
    let (shell, pid1) = shell_pid_and_pid1(&d, &["--init=false"]);
    assert_eq!(shell, "1");
    // sh execs its last command: pid 1 is ps by then.
    assert_eq!(pid1, "ps");

    // $BERTH_INIT is the next place looked.
    let status = d.terminate();
    assert!(status.success(), "{status}\n{}", d.log());
    let mut cmd = d.command(&[]);
    cmd.env("BERTH_INIT", &init);
    d.respawn(cmd);
    let (_, pid1) = shell_pid_and_pid1(&d, &["--init"]);
    assert_eq!(pid1, "docker-init");

    // No init anywhere: a clear refusal naming --init-path. Only where no static berth-init is
    // installed in the places berthd searches (true on a CI machine).
    let searched = ["/usr/local/libexec/berth-init", "/usr/libexec/berth-init"]
        .map(PathBuf::from)
        .into_iter()
        .chain([common::berthd_bin().with_file_name("berth-init")]);
    let installed: Vec<_> = searched
        .filter(|p| berth_engine::is_static_elf(p).unwrap_or(false))
        .collect();
    if !installed.is_empty() {
        berth_testutil::skip_host(&format!(
            "a static berth-init is installed ({installed:?}): berthd always finds an init"
        ));
        return;
    }
    let status = d.terminate();
    assert!(status.success(), "{status}\n{}", d.log());
    let mut cmd = d.command(&[]);
    cmd.env_remove("BERTH_INIT");
    d.respawn(cmd);
    let out = d.docker(&["run", "--rm", "--init", NONE, "busybox", "true"]);
    out.assert_code(125);
    assert!(
        out.stderr.contains("--init needs an init binary") && out.stderr.contains("--init-path"),
        "{out}"
    );
    // In the host's pid namespace there is no init to give (as dockerd): not refused.
    d.docker(&[
        "run", "--rm", "--init", "--pid", "host", NONE, "busybox", "true",
    ])
    .assert_success();
    // Without --init the same daemon runs containers.
    d.docker(&["run", "--rm", NONE, "busybox", "true"])
        .assert_success();
    // Refused at create: nothing was made.
    let out = d.docker(&["ps", "-aq"]);
    out.assert_success();
    assert_eq!(out.stdout, "");
}
