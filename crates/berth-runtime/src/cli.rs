//! The command line, as runc defines it (same verbs, flags and defaults), so
//! that dockerd, containerd and podman can drive berth-runtime like runc.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

impl Cli {
    /// The state root: `--root`, else runc's default for the caller (a
    /// non-root user's `$XDG_RUNTIME_DIR`, as runc honours it).
    pub fn state_root(&self) -> PathBuf {
        if let Some(r) = &self.root {
            return r.clone();
        }
        if !rustix::process::geteuid().is_root() {
            if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
                return PathBuf::from(dir).join("berth-runtime");
            }
        }
        PathBuf::from("/run/berth-runtime")
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "berth-runtime",
    version,
    about = "berth-runtime: a runc-compatible OCI container runtime",
    long_about = "berth-runtime creates and runs containers from OCI bundles (a rootfs plus config.json), \
with the same command line as runc so that dockerd, containerd and podman can use it with --runtime."
)]
pub struct Cli {
    /// Root directory for container state (tmpfs location is best) [default: /run/berth-runtime,
    /// or $XDG_RUNTIME_DIR/berth-runtime for a non-root user]
    #[arg(long, global = true)]
    pub root: Option<PathBuf>,
    /// Write the runtime's log to this file instead of stderr
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Log format: text or json
    #[arg(long = "log-format", global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Enable debug logging
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use the systemd cgroup driver (not supported by berth-runtime yet: a clear error)
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Accepted for runc compatibility (true, false or auto); berth detects rootless mode itself
    #[arg(long, value_name = "VALUE", num_args = 0..=1, default_missing_value = "true")]
    pub rootless: Option<String>,
    /// Accepted for runc compatibility; checkpointing is not supported yet
    #[arg(long, global = true, hide = true)]
    pub criu: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Path to the root of the bundle directory
    #[arg(long, short = 'b', default_value = ".")]
    pub bundle: PathBuf,
    /// Path to an AF_UNIX socket which will receive the pty master of the container
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Write the container process's pid to this file
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Do not use pivot_root to jail the process inside the rootfs (chroot instead)
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a new session keyring for the container
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass N additional file descriptors (3..3+N) to the container
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// The container id
    pub id: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new specification file (config.json)
    Spec {
        /// Path to the root of the bundle directory
        #[arg(long, short = 'b')]
        bundle: Option<PathBuf>,
        /// Generate a configuration for a rootless container
        #[arg(long)]
        rootless: bool,
    },
    /// Create a container; its process waits until `start`
    Create(CreateArgs),
    /// Start the process of a created container
    Start { id: String },
    /// Create and start a container, and wait for it unless --detach
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Detach from the container's process
        #[arg(long, short = 'd')]
        detach: bool,
        /// Do not delete the container after it exits
        #[arg(long)]
        keep: bool,
    },
    /// Output the state of a container
    State { id: String },
    /// Send a signal (default SIGTERM) to the container's init process
    Kill {
        id: String,
        /// Signal name or number
        #[arg(default_value = "SIGTERM")]
        signal: String,
        /// Send the signal to all processes in the container
        #[arg(long, short = 'a')]
        all: bool,
    },
    /// Delete a container and everything it holds
    Delete {
        id: String,
        /// Kill the container's processes first if it is still running
        #[arg(long, short = 'f')]
        force: bool,
    },
    /// List containers
    List {
        /// Output format: table or json
        #[arg(long, short = 'f', value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
        /// Display only container ids
        #[arg(long, short = 'q')]
        quiet: bool,
    },
    /// Execute a new process inside a running container
    Exec(ExecArgs),
    /// List the processes running inside a container
    Ps {
        /// Output format: table (ps output filtered to the container) or json (pids)
        #[arg(long, short = 'f', value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
        id: String,
        /// Options passed to ps(1) (default -ef)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Suspend all processes of a container
    Pause { id: String },
    /// Resume a paused container
    Resume { id: String },
    /// Show the features this runtime supports, as JSON
    Features,
    /// Update the resource limits of a running container
    Update(UpdateArgs),
    /// Print container events: resource usage every --interval, or once with --stats
    Events {
        /// Print the statistics once and exit
        #[arg(long)]
        stats: bool,
        /// Interval between statistics (e.g. 5s, 500ms)
        #[arg(long, default_value = "5s")]
        interval: String,
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Read the resources (OCI linux.resources JSON) from this file, or '-' for stdin
    #[arg(long, short = 'r')]
    pub resources: Option<std::path::PathBuf>,
    /// Memory limit (bytes, or with a k/m/g suffix)
    #[arg(long)]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Memory plus swap limit (-1 for unlimited)
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Accepted for runc compatibility (kernel memory limits are deprecated)
    #[arg(long = "kernel-memory", hide = true)]
    pub kernel_memory: Option<String>,
    /// CPU shares (relative weight)
    #[arg(long = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    /// CPU CFS quota in microseconds (-1 for none)
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU CFS period in microseconds
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// CPU realtime period in microseconds
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    /// CPU realtime runtime in microseconds
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs the container may use (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the container may use
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Maximum number of pids (-1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block IO weight (10-1000)
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// The container id
    pub id: String,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Path to a process.json describing the process
    #[arg(long, short = 'p')]
    pub process: Option<PathBuf>,
    /// Allocate a pseudo-TTY
    #[arg(long, short = 't')]
    pub tty: bool,
    /// Detach from the process
    #[arg(long, short = 'd')]
    pub detach: bool,
    /// Write the process's pid to this file
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Path to an AF_UNIX socket which will receive the pty master
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Set environment variables (KEY=VALUE)
    #[arg(long, short = 'e')]
    pub env: Vec<String>,
    /// Current working directory in the container
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// UID (format: <uid>[:<gid>])
    #[arg(long, short = 'u')]
    pub user: Option<String>,
    /// Additional gids
    #[arg(long = "additional-gids", short = 'g')]
    pub additional_gids: Vec<u32>,
    /// Add a capability to the bounding, effective and permitted sets
    #[arg(long, short = 'c')]
    pub cap: Vec<String>,
    /// Set no_new_privs for the process
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Pass N additional file descriptors (3..3+N) to the process
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Run the process in an existing sub-cgroup of the container's: [<controller>[,...]:]<path>
    /// (without a controller, in every hierarchy); repeatable
    #[arg(long)]
    pub cgroup: Vec<String>,
    /// Allow exec in a paused container (the process runs once it is resumed)
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    /// Accepted for runc compatibility (AppArmor is not enforced by berth-runtime)
    #[arg(long)]
    pub apparmor: Option<String>,
    /// Accepted for runc compatibility (SELinux is not enforced by berth-runtime)
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    /// The container id
    pub id: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}
