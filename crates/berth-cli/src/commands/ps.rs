//! `berth ps` (`container ls`): `GET /containers/json?all&limit&size&filters`, one row per
//! container with the fields of docker's container formatter (`.ID`, `.Image`, `.Command`,
//! `.CreatedAt`, `.RunningFor`, `.Ports`, `.State`, `.Status`, `.Size`, `.Names`, `.Labels`,
//! `.Mounts`, `.Networks`, `.LocalVolumes`), truncated as docker truncates them unless
//! `--no-trunc`.

use std::io::Write;

use berth_api_types::container_list::{ContainerSummary, PortSummary};
use clap::Args;

use super::images::parse_filter;
use crate::client::{filters_json, query, Client};
use crate::error::CliError;
use crate::format::json::Json;
use crate::format::units::human_size_prec;
use crate::format::{ellipsis, object, short_id, List};
use berth_api_types::time::{go_time_string, now_unix, since};

/// List containers
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "FILTER", value_parser = parse_filter)]
    pub filter: Vec<(String, String)>,
    /// Format output using a Go template ('table', 'table TEMPLATE', 'json', or 'TEMPLATE')
    #[arg(long)]
    pub format: Option<String>,
    /// Show n last created containers (includes all states)
    #[arg(
        short = 'n',
        long = "last",
        default_value = "-1",
        allow_hyphen_values = true
    )]
    pub last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Display total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
}

const DEFAULT_TABLE: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

pub(crate) async fn run(
    client: &Client,
    args: &PsArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let format = match (&args.format, args.quiet) {
        (None, true) => Some("{{.ID}}".to_string()),
        (Some(f), true) if f == "table" => Some("{{.ID}}".to_string()),
        (f, _) => f.clone(),
    };
    let default_table = if args.size {
        format!("{DEFAULT_TABLE}\t{{{{.Size}}}}")
    } else {
        DEFAULT_TABLE.to_string()
    };
    // docker asks for sizes when the format shows them (`{{json .}}` shows every field).
    let size = args.size
        || (!args.quiet
            && format
                .as_deref()
                .is_some_and(|f| f.contains(".Size") || f == "json" || f.contains("json .}}")));
    let limit = if args.latest && args.last == -1 {
        1
    } else {
        args.last
    };
    let f = filters_json(&args.filter);
    let limit_s = if limit > 0 {
        limit.to_string()
    } else {
        String::new()
    };
    let path = format!(
        "/containers/json{}",
        query(&[
            ("all", if args.all { "1" } else { "" }),
            ("limit", &limit_s),
            ("size", if size { "1" } else { "" }),
            ("filters", &f),
        ])
    );
    let body = client.get(&path).await?;
    let list: Vec<ContainerSummary> =
        serde_json::from_slice(&body).map_err(|source| CliError::Decode { path, source })?;
    let template = List::new(format.as_deref(), &default_table)?;
    let now = now_unix();
    let rows: Vec<Json> = list.iter().map(|c| row(c, !args.no_trunc, now)).collect();
    out.write_all(template.render(&header(), &rows)?.as_bytes())?;
    Ok(())
}

fn header() -> Json {
    object(vec![
        ("Command", "COMMAND".into()),
        ("CreatedAt", "CREATED AT".into()),
        ("ID", "CONTAINER ID".into()),
        ("Image", "IMAGE".into()),
        ("Labels", "LABELS".into()),
        ("LocalVolumes", "LOCAL VOLUMES".into()),
        ("Mounts", "MOUNTS".into()),
        ("Names", "NAMES".into()),
        ("Networks", "NETWORKS".into()),
        ("Ports", "PORTS".into()),
        ("RunningFor", "CREATED".into()),
        ("Size", "SIZE".into()),
        ("State", "STATE".into()),
        ("Status", "STATUS".into()),
    ])
}

/// One container as docker's formatter shows it.
fn row(c: &ContainerSummary, trunc: bool, now: i64) -> Json {
    let mut names: Vec<String> = c
        .names
        .iter()
        .map(|n| n.strip_prefix('/').unwrap_or(n).to_string())
        .collect();
    if trunc {
        // Link names (`other/alias`) are left out.
        names.retain(|n| !n.contains('/'));
    }
    let mut image = c.image.clone();
    if image.is_empty() {
        image = "<no image>".into();
    } else if trunc {
        if image.starts_with("sha256:") {
            image = short_id(&image).to_string();
        } else if let Some((name, _)) = image.split_once('@') {
            image = name.to_string();
        }
    }
    let command = if trunc {
        ellipsis(&c.command, 20)
    } else {
        c.command.clone()
    };
    let labels = c
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let mounts: Vec<String> = c
        .mounts
        .iter()
        .map(|m| {
            let name = if m.name.is_empty() {
                &m.source
            } else {
                &m.name
            };
            if trunc {
                ellipsis(name, 15)
            } else {
                name.clone()
            }
        })
        .collect();
    let local_volumes = c.mounts.iter().filter(|m| m.driver == "local").count();
    // A BTreeMap: the names come sorted, as docker sorts them.
    let networks: Vec<&str> = c
        .network_settings
        .networks
        .keys()
        .map(String::as_str)
        .collect();
    #[allow(clippy::cast_precision_loss)]
    let size = {
        let rw = human_size_prec(c.size_rw.unwrap_or(0) as f64, 3);
        match c.size_root_fs {
            Some(root) if root > 0 => format!("{rw} (virtual {})", human_size_prec(root as f64, 3)),
            _ => rw,
        }
    };
    let id = if trunc {
        short_id(&c.id).to_string()
    } else {
        c.id.clone()
    };
    let fields = object(vec![
        ("Command", go_quote(&command)),
        ("CreatedAt", go_time_string(c.created)),
        ("ID", id),
        ("Image", image),
        ("Labels", labels),
        ("LocalVolumes", local_volumes.to_string()),
        ("Mounts", mounts.join(",")),
        ("Names", names.join(",")),
        ("Networks", networks.join(",")),
        ("Ports", ports(&c.ports)),
        ("RunningFor", since(c.created, now)),
        ("Size", size),
        ("State", c.state.clone()),
        ("Status", c.status.clone()),
    ]);
    // docker 28's `Platform` (the image manifest's platform, API 1.46 and later) is null from
    // a v1.41 daemon.
    let Json::Object(mut members) = fields else {
        return fields;
    };
    let at = members
        .iter()
        .position(|(k, _)| k.as_str() > "Platform")
        .unwrap_or(members.len());
    members.insert(at, ("Platform".into(), Json::Null));
    Json::Object(members)
}

/// docker's `DisplayablePorts` (without the grouping of consecutive ports into ranges).
fn ports(ps: &[PortSummary]) -> String {
    let mut out: Vec<String> = ps
        .iter()
        .map(|p| match p.public_port {
            Some(public) if public != 0 && !p.ip.is_empty() => {
                let ip = if p.ip.contains(':') {
                    format!("[{}]", p.ip)
                } else {
                    p.ip.clone()
                };
                format!("{ip}:{public}->{}/{}", p.private_port, p.kind)
            }
            _ => format!("{}/{}", p.private_port, p.kind),
        })
        .collect();
    out.sort();
    out.join(", ")
}

/// Go's `strconv.Quote` for the printable text of a command line.
pub(crate) fn go_quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for ch in s.chars() {
        match ch {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\t' => q.push_str("\\t"),
            '\r' => q.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                q.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_like_docker() {
        let c: ContainerSummary = serde_json::from_str(
            r#"{"Id":"0123456789abcdef0123","Names":["/web","/other/alias"],
            "Image":"sha256:abcdefabcdef0123","Command":"sh -c 'echo a long command line'",
            "Created":0,"Ports":[{"PrivatePort":80,"Type":"tcp"}],"Labels":{"a":"b"},
            "State":"running","Status":"Up 1 second","SizeRw":0}"#,
        )
        .unwrap();
        let r = row(&c, true, 5);
        assert_eq!(r.get("ID").unwrap().as_str(), Some("0123456789ab"));
        assert_eq!(r.get("Names").unwrap().as_str(), Some("web"));
        assert_eq!(r.get("Image").unwrap().as_str(), Some("abcdefabcdef"));
        assert_eq!(
            r.get("Command").unwrap().as_str(),
            Some("\"sh -c 'echo a long …\"")
        );
        assert_eq!(r.get("Ports").unwrap().as_str(), Some("80/tcp"));
        assert_eq!(r.get("Size").unwrap().as_str(), Some("0B"));
        let r = row(&c, false, 5);
        assert_eq!(r.get("Names").unwrap().as_str(), Some("web,other/alias"));
    }
}
