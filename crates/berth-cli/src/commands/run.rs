//! `berth run` (`container run`): the API calls of docker's CLI in its order. With `-d`:
//! create, start, print the id. Without: create, attach (a hijacked
//! `POST /containers/{id}/attach`), wait with `condition=next-exit` (`removed` with `--rm`)
//! BEFORE start so that no exit is missed, start, forward the terminal size (with `-t`) or
//! proxy signals (without), stream until the output ends, and exit with the container's
//! status. Exit codes as docker's: 125 when the daemon refuses, 126 when the command cannot
//! be run, 127 when it is not found.

use std::io::Write;

use berth_api_types::wait::ContainerWaitResponse;
use clap::Args;
use hyper::Method;

use super::container_opts::ContainerOptions;
use super::create::create_container;
use crate::client::{empty, percent_encode, query, Client, Response};
use crate::error::CliError;
use crate::stream::{
    monitor_size, parse_detach_keys, proxy_signals, stream, StreamEnd, StreamOptions,
    DEFAULT_DETACH_KEYS,
};

/// Create and run a new container from an image
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", default_value = "true", action = clap::ArgAction::Set)]
    pub sig_proxy: bool,
    #[command(flatten)]
    pub opts: ContainerOptions,
    /// Print help
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}

pub(crate) async fn run(
    client: &Client,
    args: &RunArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let usage = |e: CliError| CliError::Status {
        code: 125,
        message: e.to_string(),
    };
    let detach_keys = args.detach_keys.as_deref();
    let keys = parse_detach_keys(detach_keys.unwrap_or(DEFAULT_DETACH_KEYS)).map_err(usage)?;
    let opts = &args.opts;
    if !args.detach && opts.tty && opts.interactive && !crate::terminal::stdin_is_tty() {
        return Err(CliError::Status {
            code: 1,
            message: "the input device is not a TTY".into(),
        });
    }
    if args.detach && !opts.attach.is_empty() {
        return Err(usage(CliError::Usage(
            "Conflicting options: -a and -d".into(),
        )));
    }
    let req = opts.request(!args.detach).map_err(usage)?;
    let id = create_container(client, opts, &req).await.map_err(usage)?;
    if args.detach {
        start(client, &id).await?;
        writeln!(out, "{id}")?;
        return Ok(());
    }
    let plan = AttachPlan {
        id,
        stdin: req.config.attach_stdin,
        stdout: req.config.attach_stdout,
        stderr: req.config.attach_stderr,
        tty: opts.tty,
        detach_keys: detach_keys.map(str::to_string),
        keys,
        sig_proxy: args.sig_proxy,
        auto_remove: opts.rm,
    };
    out.flush()?;
    attach_start_wait(client, &plan, true).await
}

/// What `run` and `start -a` attach to.
#[derive(Debug)]
pub(crate) struct AttachPlan {
    pub id: String,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
    /// `--detach-keys` as given (passed on to the daemon).
    pub detach_keys: Option<String>,
    pub keys: Vec<u8>,
    pub sig_proxy: bool,
    pub auto_remove: bool,
}

/// The streams to attach.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Streams {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

/// `POST /containers/{id}/attach?stream=1&...`, hijacked.
pub(crate) async fn attach(
    client: &Client,
    id: &str,
    streams: Streams,
    detach_keys: Option<&str>,
) -> Result<crate::client::Hijacked, CliError> {
    let flag = |b: bool| if b { "1" } else { "" };
    let path = format!(
        "/containers/{}/attach{}",
        percent_encode(id),
        query(&[
            ("stream", "1"),
            ("stdin", flag(streams.stdin)),
            ("stdout", flag(streams.stdout)),
            ("stderr", flag(streams.stderr)),
            ("detachKeys", detach_keys.unwrap_or("")),
        ])
    );
    client.hijack(&path, empty()).await
}

/// `POST /containers/{id}/wait?condition=...`, once the daemon answered with the head (it
/// has registered the waiter then).
pub(crate) async fn wait_request(
    client: &Client,
    id: &str,
    condition: &str,
) -> Result<Response, CliError> {
    let path = format!(
        "/containers/{}/wait{}",
        percent_encode(id),
        query(&[("condition", condition)])
    );
    client.send(Method::POST, &path, &[], empty()).await
}

/// The status of a wait whose head arrived.
pub(crate) async fn wait_status(resp: Response) -> Result<i64, CliError> {
    let body = resp.bytes().await?;
    let w: ContainerWaitResponse =
        serde_json::from_slice(&body).map_err(|source| CliError::Decode {
            path: "/containers/{id}/wait".into(),
            source,
        })?;
    if let Some(e) = w.error.filter(|e| !e.message.is_empty()) {
        return Err(CliError::Status {
            code: 125,
            message: e.message,
        });
    }
    Ok(w.status_code)
}

/// `POST /containers/{id}/start`, its error mapped to docker's exit codes.
pub(crate) async fn start(client: &Client, id: &str) -> Result<(), CliError> {
    match client
        .send(
            Method::POST,
            &format!("/containers/{}/start", percent_encode(id)),
            &[],
            empty(),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => Err(start_error(e)),
    }
}

/// docker's `runStartContainerErr`: 127 for a command that is not there, 126 for one that
/// cannot be executed, 125 otherwise.
pub(crate) fn start_error(e: CliError) -> CliError {
    let message = e.to_string();
    let code = if message.contains("executable file not found")
        || message.contains("no such file or directory")
    {
        127
    } else if message.contains("permission denied") || message.contains("is a directory") {
        126
    } else {
        125
    };
    CliError::Status { code, message }
}

/// Attach, wait, start (when `start`), stream, and end with the container's status.
pub(crate) async fn attach_start_wait(
    client: &Client,
    plan: &AttachPlan,
    start_it: bool,
) -> Result<(), CliError> {
    let streams = Streams {
        stdin: plan.stdin,
        stdout: plan.stdout,
        stderr: plan.stderr,
    };
    let hijacked = attach(client, &plan.id, streams, plan.detach_keys.as_deref())
        .await
        .map_err(|e| CliError::Status {
            code: 125,
            message: e.to_string(),
        })?;
    let condition = if plan.auto_remove {
        "removed"
    } else {
        "next-exit"
    };
    let waiting = wait_request(client, &plan.id, condition).await?;
    let _raw = (plan.tty && plan.stdin).then(crate::stream::RawTerminal::enter);
    if start_it {
        start(client, &plan.id).await?;
    }
    let resize = (plan.tty && crate::terminal::stdout_is_tty())
        .then(|| monitor_size(client, format!("/containers/{}/resize", plan.id)));
    let signals = (!plan.tty && plan.sig_proxy).then(|| proxy_signals(client, plan.id.clone()));
    let opts = StreamOptions {
        tty: plan.tty,
        stdin: plan.stdin,
        detach_keys: plan.keys.clone(),
    };
    let end = stream(hijacked, &opts).await;
    if let Some(t) = resize {
        t.abort();
    }
    drop(_raw);
    if end? == StreamEnd::Detached {
        if let Some(t) = signals {
            t.abort();
        }
        return Ok(());
    }
    let status = wait_status(waiting).await;
    if let Some(t) = signals {
        t.abort();
    }
    match status? {
        0 => Ok(()),
        code => Err(CliError::Status {
            code: u8::try_from(code & 0xff).unwrap_or(u8::MAX),
            message: String::new(),
        }),
    }
}
