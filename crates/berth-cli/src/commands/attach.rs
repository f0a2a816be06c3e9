//! `berth attach`: the container is inspected (it must be running and not paused), a wait
//! (condition not-running) is registered, the streams are attached over a hijacked
//! `POST /containers/{id}/attach`, and the container's exit status is passed on; a detach
//! (Ctrl-P Ctrl-Q, or `--detach-keys`) ends with "read escape sequence" and status 1, as
//! docker's `attach` does.

use clap::Args;

use super::run::{attach, wait_request, wait_status, Streams};
use super::start::inspect_container;
use crate::client::Client;
use crate::error::CliError;
use crate::format::json::Json;
use crate::stream::{
    monitor_size, parse_detach_keys, proxy_signals, stream, RawTerminal, StreamEnd, StreamOptions,
    DEFAULT_DETACH_KEYS,
};

/// Attach local standard input, output, and error streams to a running container
#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", default_value = "true", action = clap::ArgAction::Set)]
    pub sig_proxy: bool,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

pub(crate) async fn run(client: &Client, args: &AttachArgs) -> Result<(), CliError> {
    let keys = parse_detach_keys(args.detach_keys.as_deref().unwrap_or(DEFAULT_DETACH_KEYS))?;
    let c = inspect_container(client, &args.container).await?;
    let flag = |section: &str, k: &str| {
        c.get(section)
            .and_then(|s| s.get(k))
            .is_some_and(|v| *v == Json::Bool(true))
    };
    if !flag("State", "Running") {
        return Err(CliError::Usage(
            "You cannot attach to a stopped container, start it first".into(),
        ));
    }
    if flag("State", "Paused") {
        return Err(CliError::Usage(
            "You cannot attach to a paused container, unpause it first".into(),
        ));
    }
    let id = c
        .get("Id")
        .and_then(Json::as_str)
        .unwrap_or(&args.container)
        .to_string();
    let tty = flag("Config", "Tty");
    let stdin = !args.no_stdin && flag("Config", "OpenStdin");
    if tty && stdin && !crate::terminal::stdin_is_tty() {
        return Err(CliError::Usage("the input device is not a TTY".into()));
    }
    let waiting = wait_request(client, &id, "").await?;
    let streams = Streams {
        stdin,
        stdout: true,
        stderr: true,
    };
    let hijacked = attach(client, &id, streams, args.detach_keys.as_deref()).await?;
    let raw = (tty && stdin).then(RawTerminal::enter);
    let resize = (tty && crate::terminal::stdout_is_tty())
        .then(|| monitor_size(client, format!("/containers/{id}/resize")));
    let signals = (!tty && args.sig_proxy).then(|| proxy_signals(client, id.clone()));
    let opts = StreamOptions {
        tty,
        stdin,
        detach_keys: keys,
    };
    let end = stream(hijacked, &opts).await;
    for t in [resize, signals].into_iter().flatten() {
        t.abort();
    }
    drop(raw);
    if end? == StreamEnd::Detached {
        // docker's `attach` (unlike `run`) ends a detach with its escape error.
        return Err(CliError::Status {
            code: 1,
            message: "read escape sequence".into(),
        });
    }
    match wait_status(waiting).await? {
        0 => Ok(()),
        code => Err(CliError::Status {
            code: u8::try_from(code & 0xff).unwrap_or(u8::MAX),
            message: String::new(),
        }),
    }
}
