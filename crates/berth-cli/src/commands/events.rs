//! `berth events`: `GET /events?since&until&filters`, one line per event as docker prints it
//! (`TIME TYPE ACTION ID (attr=value, ...)`, attributes sorted) or through `--format`.

use std::io::Write;

use berth_api_types::events::EventMessage;
use clap::Args;

use super::images::parse_filter;
use crate::client::{filters_json, query, Client};
use crate::error::CliError;
use crate::format::json::Json;
use crate::format::template::Template;
use berth_api_types::time::rfc3339_nano_fixed;

/// Get real time events from the server
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "FILTER", value_parser = parse_filter)]
    pub filter: Vec<(String, String)>,
    /// Format output using a Go template ('json' or 'TEMPLATE')
    #[arg(long)]
    pub format: Option<String>,
    /// Show all events created since timestamp
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    pub until: Option<String>,
}

pub(crate) async fn run(
    client: &Client,
    args: &EventsArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let template = match args.format.as_deref() {
        None | Some("") => None,
        Some("json") => Some(Template::parse("{{json .}}")?),
        Some(f) => Some(Template::parse(
            &f.replace("\\t", "\t").replace("\\n", "\n"),
        )?),
    };
    let path = format!(
        "/events{}",
        query(&[
            ("since", args.since.as_deref().unwrap_or("")),
            ("until", args.until.as_deref().unwrap_or("")),
            ("filters", &filters_json(&args.filter)),
        ])
    );
    let mut resp = client
        .send(hyper::Method::GET, &path, &[], crate::client::empty())
        .await?;
    let mut buf = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        buf.extend_from_slice(&chunk);
        while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            match &template {
                Some(t) => {
                    let Ok(ev) = Json::parse(&line) else { continue };
                    writeln!(out, "{}", t.execute(&ev)?)?;
                }
                None => {
                    let Ok(ev) = serde_json::from_slice::<EventMessage>(&line) else {
                        continue;
                    };
                    writeln!(out, "{}", line_of(&ev))?;
                }
            }
            out.flush()?;
        }
    }
    Ok(())
}

/// docker's default event line: the time with nine fraction digits, type, action, actor id,
/// then the actor's attributes sorted by key.
fn line_of(ev: &EventMessage) -> String {
    let nanos = if ev.time_nano != 0 {
        ev.time_nano
    } else {
        ev.time.saturating_mul(1_000_000_000)
    };
    let t =
        std::time::UNIX_EPOCH + std::time::Duration::from_nanos(u64::try_from(nanos).unwrap_or(0));
    let mut line = format!(
        "{} {} {} {}",
        rfc3339_nano_fixed(t),
        ev.kind,
        ev.action,
        ev.actor.id
    );
    // A BTreeMap: sorted by key, as docker sorts them.
    let kv: Vec<String> = ev
        .actor
        .attributes
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if !kv.is_empty() {
        line.push_str(&format!(" ({})", kv.join(", ")));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_line_like_docker() {
        let ev: EventMessage = serde_json::from_str(
            r#"{"Type":"container","Action":"start","Actor":{"ID":"abc",
            "Attributes":{"name":"x","image":"busybox"}},"time":1,"timeNano":1000000005}"#,
        )
        .unwrap();
        assert_eq!(
            line_of(&ev),
            "1970-01-01T00:00:01.000000005Z container start abc (image=busybox, name=x)"
        );
    }
}
