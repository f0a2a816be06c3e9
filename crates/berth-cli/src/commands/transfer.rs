//! What `pull` and `push` share (not a verb): the reference as docker's CLI reads it with and
//! without `--all-tags`, and the request whose answer is a progress stream.

use std::io::Write;

use crate::auth::{registry_auth, REGISTRY_AUTH_HEADER};
use crate::client::{empty, Client};
use crate::error::CliError;
use crate::format::progress::ProgressPrinter;
use crate::terminal::{stdout_is_tty, stdout_width};
use berth_oci::Reference;

/// The reference of `name` for a pull or push: with `--all-tags` it must be a bare name (a tag
/// or digest is a usage error); without, a bare name gets `latest`, which is said on `out`
/// unless `quiet`, as docker does.
pub(crate) fn reference(
    name: &str,
    all_tags: bool,
    quiet: bool,
    out: &mut impl Write,
) -> Result<Reference, CliError> {
    let mut r = CliError::parse_reference(name)?;
    let name_only = r.tag().is_none() && r.digest().is_none();
    if all_tags && !name_only {
        return Err(CliError::Usage(
            "tag can't be used with --all-tags/-a".into(),
        ));
    }
    if !all_tags && name_only {
        r = r.with_default_tag();
        if !quiet {
            writeln!(out, "Using default tag: latest")?;
        }
    }
    Ok(r)
}

/// `POST path` with the stored credentials for `domain` in `X-Registry-Auth`, its progress
/// stream shown on `out` as docker shows it (read to its end, and not shown, when `quiet`).
pub(crate) async fn post_with_progress(
    client: &Client,
    path: &str,
    domain: &str,
    quiet: bool,
    out: &mut impl Write,
) -> Result<(), CliError> {
    post_with_progress_to(client, path, domain, quiet, out, false).await
}

/// As [`post_with_progress`], shown on stderr's terminal when `to_stderr` (the pull of
/// `run` and `create`).
pub(crate) async fn post_with_progress_to(
    client: &Client,
    path: &str,
    domain: &str,
    quiet: bool,
    out: &mut impl Write,
    to_stderr: bool,
) -> Result<(), CliError> {
    let auth = registry_auth(domain)?;
    let resp = client
        .send(
            hyper::Method::POST,
            path,
            &[(REGISTRY_AUTH_HEADER, auth)],
            empty(),
        )
        .await?;
    out.flush()?;
    if quiet {
        resp.show_progress(&mut ProgressPrinter::new(false, 200), &mut std::io::sink())
            .await
    } else {
        let tty = if to_stderr {
            std::io::IsTerminal::is_terminal(&std::io::stderr())
        } else {
            stdout_is_tty()
        };
        let mut printer = ProgressPrinter::new(tty, stdout_width());
        resp.show_progress(&mut printer, out).await
    }
}
