//! The command line: global flags and one subcommand per verb (`image ...` groups the image
//! verbs under their docker names as well).

use clap::{Parser, Subcommand};

use crate::commands::{
    history::HistoryArgs, images::ImagesArgs, import::ImportArgs, info::InfoArgs,
    inspect::InspectArgs, load::LoadArgs, login::LoginArgs, logout::LogoutArgs, prune::PruneArgs,
    pull::PullArgs, push::PushArgs, rmi::RmiArgs, save::SaveArgs, tag::TagArgs,
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
        ] {
            let args: Vec<&str> = line.split(' ').collect();
            assert!(Cli::try_parse_from(&args).is_ok(), "{line}");
        }
        assert!(Cli::try_parse_from(["berth", "images", "--filter", "nokey"]).is_err());
        assert!(Cli::try_parse_from(["berth", "rmi"]).is_err());
    }
}
