//! The docker-credential-helpers protocol: `docker-credential-<name>
//! get|store|erase`, the request on stdin, the answer on stdout, a failure
//! as a non-zero exit with its message on stdout (or stderr).

use std::io::Write as _;
use std::process::{Command, Stdio};

use crate::credentials::Credentials;
use crate::error::ConfigError;

/// Runs `docker-credential-<helper> <action>` with `input` on stdin and
/// returns its stdout.
pub(crate) fn helper_run(
    helper: &str,
    action: &'static str,
    registry: &str,
    input: &[u8],
) -> Result<Vec<u8>, ConfigError> {
    let fail = |reason: String| ConfigError::CredentialHelper {
        helper: helper.to_owned(),
        action,
        registry: registry.to_owned(),
        reason,
    };
    if helper.contains('/') {
        return Err(fail("helper names cannot contain '/'".into()));
    }
    let mut child = Command::new(format!("docker-credential-{helper}"))
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot run it: {e}")))?;
    // The input is a few hundred bytes at most: it fits the pipe, so writing
    // it all before reading the answer cannot deadlock. Closing stdin (the
    // drop) tells the helper the input is complete.
    if let Some(mut stdin) = child.stdin.take() {
        if let Err(e) = stdin.write_all(input) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(format!("cannot write its stdin: {e}")));
        }
    }
    let out = child
        .wait_with_output()
        .map_err(|e| fail(format!("cannot wait for it: {e}")))?;
    if !out.status.success() {
        let mut msg = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if msg.is_empty() {
            msg = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        }
        return Err(fail(format!("{}: {msg}", out.status)));
    }
    Ok(out.stdout)
}

pub(crate) fn helper_get(helper: &str, key: &str) -> Result<Option<Credentials>, ConfigError> {
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(rename = "Username", default)]
        username: String,
        #[serde(rename = "Secret", default)]
        secret: String,
    }
    let out = match helper_run(helper, "get", key, key.as_bytes()) {
        Ok(out) => out,
        // The protocol's "not found" answer is a failure whose message says so.
        Err(ConfigError::CredentialHelper { reason, .. })
            if reason.contains("credentials not found") =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let answer: Answer =
        serde_json::from_slice(&out).map_err(|e| ConfigError::CredentialHelper {
            helper: helper.to_owned(),
            action: "get",
            registry: key.to_owned(),
            reason: format!("bad JSON answer: {e}"),
        })?;
    if answer.secret.is_empty() {
        return Ok(None);
    }
    if answer.username == "<token>" {
        return Ok(Some(Credentials::IdentityToken {
            token: answer.secret,
        }));
    }
    Ok(Some(Credentials::basic(answer.username, answer.secret)))
}
