//! The command line: global flags and one subcommand per verb (`image ...` groups the image
//! verbs under their docker names as well).

use clap::{Parser, Subcommand};

use crate::commands::{
    attach::AttachArgs,
    container_prune::ContainerPruneArgs,
    create::CreateArgs,
    events::EventsArgs,
    exec::ExecArgs,
    history::HistoryArgs,
    images::ImagesArgs,
    import::ImportArgs,
    info::InfoArgs,
    inspect::InspectArgs,
    inspect::{ContainerInspectArgs, ObjectInspectArgs},
    lifecycle::{ContainersArgs, KillArgs, RenameArgs, RmArgs, StopArgs},
    load::LoadArgs,
    login::LoginArgs,
    logout::LogoutArgs,
    logs::LogsArgs,
    prune::PruneArgs,
    ps::PsArgs,
    pull::PullArgs,
    push::PushArgs,
    rmi::RmiArgs,
    run::RunArgs,
    save::SaveArgs,
    start::StartArgs,
    stats::StatsArgs,
    tag::TagArgs,
    top::TopArgs,
    update::UpdateArgs,
    version::VersionArgs,
};

/// berth: a Docker-compatible container engine.
#[derive(Debug, Parser)]
#[command(
    name = "berth",
    version,
    about = "A Docker-compatible container engine"
)]
pub struct Cli {
    /// Daemon socket to connect to (unix:///path); overrides BERTH_HOST and DOCKER_HOST
    #[arg(short = 'H', long = "host", global = true, value_name = "HOST")]
    pub host: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Create a new container
    Create(CreateArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// List containers
    Ps(PsArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(ContainersArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Pause all processes within one or more containers
    Pause(ContainersArgs),
    /// Unpause all processes within one or more containers
    Unpause(ContainersArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// Get real time events from the server
    Events(EventsArgs),
    /// Return low-level information on containers and images
    Inspect(ObjectInspectArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Show the berth version information
    Version(VersionArgs),
    /// Display system-wide information
    Info(InfoArgs),
    /// List images
    Images(ImagesArgs),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Log in to a registry
    Login(LoginArgs),
    /// Log out from a registry
    Logout(LogoutArgs),
}

/// `berth container VERB`.
#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Create a new container
    Create(CreateArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// List containers
    #[command(visible_aliases = ["list", "ps"])]
    Ls(PsArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(ContainersArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Pause all processes within one or more containers
    Pause(ContainersArgs),
    /// Unpause all processes within one or more containers
    Unpause(ContainersArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// Remove all stopped containers
    Prune(ContainerPruneArgs),
    /// Display detailed information on one or more containers
    Inspect(ContainerInspectArgs),
}

/// `berth image VERB`.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List images
    #[command(visible_alias = "list")]
    Ls(ImagesArgs),
    /// Display detailed information on one or more images
    Inspect(InspectArgs),
    /// Remove one or more images
    #[command(visible_alias = "remove")]
    Rm(RmiArgs),
    /// Remove unused images
    Prune(PruneArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn every_verb_parses() {
        // clap's own consistency checks (e.g. one short flag used twice with the global -H).
        Cli::command().debug_assert();
        for line in [
            "berth images -a -q --digests --no-trunc --filter dangling=true --format json busybox",
            "berth image ls",
            "berth image list",
            "berth image inspect -f {{.Id}} a b",
            "berth history --human=false --no-trunc -q busybox",
            "berth pull --platform linux/amd64 -q busybox",
            "berth push -a busybox",
            "berth tag a b",
            "berth rmi -f --no-prune a b",
            "berth image rm a",
            "berth image remove a",
            "berth image prune -a -f --filter until=1h",
            "berth save -o x.tar a b",
            "berth load -i x.tar -q",
            "berth import -c CMD -m msg x.tar repo:tag",
            "berth image import -",
            "berth login -u u --password-stdin 127.0.0.1:5000",
            "berth logout",
            "berth -H unix:///x.sock image history a",
            "berth run --rm -it -e A=1 -u 1:1 -w /tmp -h box --name n --network none busybox sh -c true",
            "berth run -d --restart on-failure:2 -m 64m --cpus 1.5 --pids-limit -1 --cap-add NET_ADMIN -l a=b busybox",
            "berth run --entrypoint /bin/echo --stop-timeout 3 --health-cmd true busybox -n hi",
            "berth create --name x busybox",
            "berth run -a stdout -a STDERR busybox",
            "berth container create -i busybox",
            "berth start -a -i x",
            "berth ps -a -q -f status=exited --format {{.Names}} --no-trunc -s -n 2 -l",
            "berth container ls",
            "berth container list",
            "berth logs -f --since 1m --until 0s --tail 3 -t x",
            "berth stop -t 1 -s SIGINT a b",
            "berth kill -s HUP a",
            "berth rm -f -v a",
            "berth container remove a",
            "berth restart -t 0 a",
            "berth wait a b",
            "berth exec -it -e A=1 -u root -w / x sh -c ls",
            "berth exec -d x sleep 1",
            "berth attach --detach-keys ctrl-a,b --no-stdin x",
            "berth rename a b",
            "berth pause a",
            "berth unpause a",
            "berth top a -o pid",
            "berth inspect --type container -s -f {{.Id}} a",
            "berth container inspect -f {{.Id}} a",
            "berth stats --no-stream --format {{.Name}} -a",
            "berth container stats a b",
            "berth update -m 64m --memory-swap -1 --cpus 0.5 --pids-limit 10 --restart always a",
            "berth events --since 1m --until 0s -f type=container --format json",
            "berth container prune -f --filter until=1h",
        ] {
            let args: Vec<&str> = line.split(' ').collect();
            assert!(Cli::try_parse_from(&args).is_ok(), "{line}");
        }
        assert!(Cli::try_parse_from(["berth", "images", "--filter", "nokey"]).is_err());
        // Everything after the image is the command, flags included (docker's
        // SetInterspersed(false)).
        let cli = Cli::try_parse_from(["berth", "run", "-i", "busybox", "-l", "x", "-d"]).unwrap();
        let Command::Run(run) = cli.command else {
            panic!("not run")
        };
        assert!(!run.detach && run.opts.label.is_empty());
        assert_eq!(run.opts.image(), "busybox");
        assert_eq!(run.opts.command(), ["-l", "x", "-d"]);
        let cli = Cli::try_parse_from(["berth", "exec", "c", "ls", "-l"]).unwrap();
        let Command::Exec(exec) = cli.command else {
            panic!("not exec")
        };
        assert_eq!(exec.container(), "c");
        assert_eq!(exec.command(), ["ls", "-l"]);
        assert!(Cli::try_parse_from(["berth", "rmi"]).is_err());
    }
}
