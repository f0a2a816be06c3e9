//! `berth exec`: `POST /containers/{id}/exec`, then `POST /exec/{id}/start` hijacked (or
//! with `Detach` for `-d`), the streams handled as `run` handles them, the terminal size sent
//! to `/exec/{id}/resize`, and the exit code read from `GET /exec/{id}/json`.

use berth_api_types::exec::{ExecConfig, ExecInspect, ExecStartConfig, IdResponse};
use clap::Args;
use hyper::Method;

use crate::client::{json_body, percent_encode, Client};
use crate::error::CliError;
use crate::stream::{
    monitor_size, parse_detach_keys, stream, terminal_size, RawTerminal, StreamEnd, StreamOptions,
    DEFAULT_DETACH_KEYS,
};

/// Execute a command in a running container
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Give extended privileges to the command
    #[arg(long)]
    pub privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// The container, then the command and its arguments (flags after the container belong to
    /// the command)
    #[arg(
        value_name = "CONTAINER COMMAND [ARG...]",
        required = true,
        num_args = 2..,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub container_and_command: Vec<String>,
}

impl ExecArgs {
    /// The container.
    pub(crate) fn container(&self) -> &str {
        self.container_and_command
            .first()
            .map_or("", String::as_str)
    }

    /// The command after the container.
    pub(crate) fn command(&self) -> &[String] {
        self.container_and_command.get(1..).unwrap_or_default()
    }
}

pub(crate) async fn run(client: &Client, args: &ExecArgs) -> Result<(), CliError> {
    let keys = parse_detach_keys(args.detach_keys.as_deref().unwrap_or(DEFAULT_DETACH_KEYS))?;
    if !args.detach && args.tty && args.interactive && !crate::terminal::stdin_is_tty() {
        return Err(CliError::Usage("the input device is not a TTY".into()));
    }
    let console_size = (args.tty)
        .then(terminal_size)
        .flatten()
        .map(|(h, w)| [u64::from(h), u64::from(w)]);
    let config = ExecConfig {
        user: args.user.clone().unwrap_or_default(),
        privileged: args.privileged,
        tty: args.tty,
        console_size,
        attach_stdin: args.interactive && !args.detach,
        attach_stdout: !args.detach,
        attach_stderr: !args.detach,
        detach: args.detach,
        detach_keys: args.detach_keys.clone().unwrap_or_default(),
        env: (!args.env.is_empty()).then(|| args.env.clone()),
        working_dir: args.workdir.clone().unwrap_or_default(),
        cmd: Some(args.command().to_vec()),
    };
    let path = format!("/containers/{}/exec", percent_encode(args.container()));
    let created: IdResponse = client
        .call_json(Method::POST, &path, json_body(&config))
        .await?;
    let id = created.id;
    let start = ExecStartConfig {
        detach: args.detach,
        tty: args.tty,
        console_size,
    };
    let start_path = format!("/exec/{id}/start");
    if args.detach {
        client
            .send(
                Method::POST,
                &start_path,
                &[("Content-Type", "application/json".into())],
                json_body(&start),
            )
            .await?;
        return Ok(());
    }
    let hijacked = client.hijack(&start_path, json_body(&start)).await?;
    let raw = (args.tty && args.interactive).then(RawTerminal::enter);
    let resize = (args.tty && crate::terminal::stdout_is_tty())
        .then(|| monitor_size(client, format!("/exec/{id}/resize")));
    let opts = StreamOptions {
        tty: args.tty,
        stdin: args.interactive,
        detach_keys: keys,
    };
    let end = stream(hijacked, &opts).await;
    if let Some(t) = resize {
        t.abort();
    }
    drop(raw);
    if end? == StreamEnd::Detached {
        return Ok(());
    }
    let inspect: ExecInspect = client.get_json(&format!("/exec/{id}/json")).await?;
    match inspect.exit_code.unwrap_or(0) {
        0 => Ok(()),
        code => Err(CliError::Status {
            code: u8::try_from(code & 0xff).unwrap_or(u8::MAX),
            message: String::new(),
        }),
    }
}
