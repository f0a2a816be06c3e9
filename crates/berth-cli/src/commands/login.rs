//! `berth login`: the credentials checked by the daemon (`POST /auth`, which talks to the
//! registry from the daemon's network, as dockerd does) and then stored in docker's
//! `config.json` (or its credential helper); an identity token the registry returns is stored
//! instead of the password.

use std::io::{Read, Write};

use berth_dockerconfig::Credentials;
use clap::Args;
use serde::Deserialize;

use crate::auth::{load_config, server_address, AuthConfig};
use crate::client::{json_body, Client};
use crate::error::CliError;
use crate::terminal::{read_line, read_password};
use berth_oci::reference::DEFAULT_DOMAIN as DOCKER_IO;

/// Log in to a registry
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Password
    #[arg(short = 'p', long)]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    pub password_stdin: bool,
    /// Username
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// The registry (Docker Hub when omitted)
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AuthAnswer {
    #[serde(rename = "Status", default)]
    status: String,
    #[serde(rename = "IdentityToken", default)]
    identity_token: String,
}

pub(crate) async fn run(
    client: &Client,
    args: &LoginArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    if args.password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    if args.password_stdin && args.password.is_some() {
        return Err(CliError::Usage(
            "--password and --password-stdin are mutually exclusive".into(),
        ));
    }
    if args.password_stdin && args.username.is_none() {
        return Err(CliError::Usage(
            "Must provide --username with --password-stdin".into(),
        ));
    }
    let server = args
        .server
        .clone()
        .unwrap_or_else(|| server_address(DOCKER_IO));
    let username = match &args.username {
        Some(u) => u.clone(),
        None => {
            write!(out, "Username: ")?;
            out.flush()?;
            read_line()?
        }
    };
    let password = if args.password_stdin {
        let mut p = String::new();
        std::io::stdin().read_to_string(&mut p)?;
        p.trim_end_matches(['\n', '\r']).to_string()
    } else if let Some(p) = &args.password {
        p.clone()
    } else {
        write!(out, "Password: ")?;
        out.flush()?;
        read_password()?
    };
    if username.is_empty() {
        return Err(CliError::Usage("Username is required".into()));
    }
    if password.is_empty() {
        return Err(CliError::Usage("Error: Password Required".into()));
    }
    let auth = AuthConfig {
        username: username.clone(),
        password: password.clone(),
        server_address: server.clone(),
        ..AuthConfig::default()
    };
    let answer: AuthAnswer = client
        .call_json(hyper::Method::POST, "/auth", json_body(&auth))
        .await?;
    let creds = if answer.identity_token.is_empty() {
        Credentials::basic(username, password)
    } else {
        Credentials::IdentityToken {
            token: answer.identity_token,
        }
    };
    let mut config = load_config()?;
    config.store(&server, &creds)?;
    writeln!(
        out,
        "{}",
        if answer.status.is_empty() {
            "Login Succeeded"
        } else {
            &answer.status
        }
    )?;
    Ok(())
}
