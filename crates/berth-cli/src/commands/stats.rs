//! `berth stats`: `GET /containers/{id}/stats` for each container (the running ones when none
//! is named), shown as docker's table: CPU % from the delta to the previous sample, memory
//! without the page cache, network and block I/O, pids. With `--no-stream` one sample
//! (`stream=0`, for which the daemon takes two a second apart); without, a live view redrawn
//! in place every second until interrupted.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args;

use crate::client::{percent_encode, query, Client};
use crate::error::CliError;
use crate::format::json::Json;
use crate::format::units::{bytes_size, human_size_prec};
use crate::format::{object, short_id, List};

/// Display a live stream of container(s) resource usage statistics
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Format output using a Go template ('table', 'table TEMPLATE', 'json', or 'TEMPLATE')
    #[arg(long)]
    pub format: Option<String>,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    #[arg(value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

const DEFAULT_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

pub(crate) async fn run(
    client: &Client,
    args: &StatsArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let names: Vec<String> = if args.containers.is_empty() {
        let path = format!(
            "/containers/json{}",
            query(&[("all", if args.all { "1" } else { "" })])
        );
        let body = client.get(&path).await?;
        let list = Json::parse(&body).map_err(|source| CliError::Decode { path, source })?;
        match list {
            Json::Array(cs) => cs
                .iter()
                // docker names listed containers by their short id (`.Container`).
                .filter_map(|c| {
                    c.get("Id")
                        .and_then(Json::as_str)
                        .map(|id| short_id(id).to_string())
                })
                .collect(),
            _ => Vec::new(),
        }
    } else {
        args.containers.clone()
    };
    let list = List::new(args.format.as_deref(), DEFAULT_TABLE)?;
    if args.no_stream {
        let mut rows = Vec::new();
        let mut errors = Vec::new();
        for name in &names {
            let path = format!(
                "/containers/{}/stats{}",
                percent_encode(name),
                query(&[("stream", "0")])
            );
            match client.get(&path).await {
                Ok(body) => {
                    let s = Json::parse(&body).map_err(|source| CliError::Decode {
                        path: path.clone(),
                        source,
                    })?;
                    rows.push(row(name, &s, !args.no_trunc));
                }
                Err(e @ CliError::Daemon { .. }) => errors.push(e.to_string()),
                Err(e) => return Err(e),
            }
        }
        out.write_all(list.render(&header(), &rows)?.as_bytes())?;
        return if errors.is_empty() {
            Ok(())
        } else {
            Err(CliError::Several(errors))
        };
    }
    // The live view: one streaming request per container, the latest sample of each kept.
    let latest: Arc<Mutex<BTreeMap<usize, Json>>> = Arc::default();
    for (i, name) in names.iter().enumerate() {
        let client = client.clone();
        let name = name.clone();
        let latest = latest.clone();
        let trunc = !args.no_trunc;
        tokio::spawn(async move {
            let path = format!(
                "/containers/{}/stats{}",
                percent_encode(&name),
                query(&[("stream", "1")])
            );
            let Ok(mut resp) = client
                .send(hyper::Method::GET, &path, &[], crate::client::empty())
                .await
            else {
                return;
            };
            let mut buf = Vec::new();
            while let Ok(Some(chunk)) = resp.chunk().await {
                buf.extend_from_slice(&chunk);
                while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=nl).collect();
                    if let Ok(s) = Json::parse(&line) {
                        if let Ok(mut l) = latest.lock() {
                            l.insert(i, row(&name, &s, trunc));
                        }
                    }
                }
            }
        });
    }
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rows: Vec<Json> = latest
            .lock()
            .map(|l| l.values().cloned().collect())
            .unwrap_or_default();
        // Clear the screen and home the cursor, as docker redraws.
        out.write_all(b"\x1b[2J\x1b[H")?;
        out.write_all(list.render(&header(), &rows)?.as_bytes())?;
        out.flush()?;
    }
}

fn header() -> Json {
    object(vec![
        ("BlockIO", "BLOCK I/O".into()),
        ("CPUPerc", "CPU %".into()),
        ("Container", "CONTAINER".into()),
        ("ID", "CONTAINER ID".into()),
        ("MemPerc", "MEM %".into()),
        ("MemUsage", "MEM USAGE / LIMIT".into()),
        ("Name", "NAME".into()),
        ("NetIO", "NET I/O".into()),
        ("PIDs", "PIDS".into()),
    ])
}

fn num(v: Option<&Json>) -> f64 {
    v.and_then(|n| match n {
        Json::Number(s) => s.parse::<f64>().ok(),
        _ => None,
    })
    .unwrap_or(0.0)
}

/// One sample as docker's stats formatter shows it; `name` is the container as the user
/// named it (`.Container`).
fn row(name: &str, s: &Json, trunc: bool) -> Json {
    let path = |keys: &[&str]| {
        let mut v = Some(s);
        for k in keys {
            v = v.and_then(|x| x.get(k));
        }
        v
    };
    let id = path(&["id"])
        .and_then(Json::as_str)
        .unwrap_or("")
        .to_string();
    let cname = path(&["name"])
        .and_then(Json::as_str)
        .unwrap_or("")
        .trim_start_matches('/')
        .to_string();
    // CPU: the share of the system's time used since the previous sample, times the CPUs.
    let cpu_delta = num(path(&["cpu_stats", "cpu_usage", "total_usage"]))
        - num(path(&["precpu_stats", "cpu_usage", "total_usage"]));
    let sys_delta = num(path(&["cpu_stats", "system_cpu_usage"]))
        - num(path(&["precpu_stats", "system_cpu_usage"]));
    let mut online = num(path(&["cpu_stats", "online_cpus"]));
    if online == 0.0 {
        if let Some(Json::Array(per)) = path(&["cpu_stats", "cpu_usage", "percpu_usage"]) {
            #[allow(clippy::cast_precision_loss)]
            {
                online = per.len() as f64;
            }
        }
    }
    let cpu = if sys_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / sys_delta * online * 100.0
    } else {
        0.0
    };
    // Memory without the page cache (cgroup v1 total_inactive_file, v2 inactive_file).
    let usage = num(path(&["memory_stats", "usage"]));
    let cache = [
        path(&["memory_stats", "stats", "total_inactive_file"]),
        path(&["memory_stats", "stats", "inactive_file"]),
    ]
    .into_iter()
    .flatten()
    .map(|v| num(Some(v)))
    .find(|&c| c < usage)
    .unwrap_or(0.0);
    let mem = usage - cache;
    let limit = num(path(&["memory_stats", "limit"]));
    let mem_perc = if limit > 0.0 {
        mem / limit * 100.0
    } else {
        0.0
    };
    let (mut rx, mut tx) = (0.0, 0.0);
    if let Some(Json::Object(nets)) = path(&["networks"]) {
        for (_, n) in nets {
            rx += num(n.get("rx_bytes"));
            tx += num(n.get("tx_bytes"));
        }
    }
    let (mut read, mut write) = (0.0, 0.0);
    if let Some(Json::Array(ios)) = path(&["blkio_stats", "io_service_bytes_recursive"]) {
        for io in ios {
            match io
                .get("op")
                .and_then(Json::as_str)
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("read") => read += num(io.get("value")),
                Some("write") => write += num(io.get("value")),
                _ => {}
            }
        }
    }
    let pids = num(path(&["pids_stats", "current"]));
    object(vec![
        (
            "BlockIO",
            format!(
                "{} / {}",
                human_size_prec(read, 3),
                human_size_prec(write, 3)
            ),
        ),
        ("CPUPerc", format!("{cpu:.2}%")),
        ("Container", name.to_string()),
        (
            "ID",
            if trunc {
                short_id(&id).to_string()
            } else {
                id.clone()
            },
        ),
        ("MemPerc", format!("{mem_perc:.2}%")),
        (
            "MemUsage",
            format!("{} / {}", bytes_size(mem), bytes_size(limit)),
        ),
        ("Name", if cname.is_empty() { "--".into() } else { cname }),
        (
            "NetIO",
            format!("{} / {}", human_size_prec(rx, 3), human_size_prec(tx, 3)),
        ),
        ("PIDs", format!("{pids}")),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_as_docker_shows_it() {
        let s = Json::parse(br#"{"id":"0123456789abcdef","name":"/web",
            "cpu_stats":{"cpu_usage":{"total_usage":300},"system_cpu_usage":2000,"online_cpus":2},
            "precpu_stats":{"cpu_usage":{"total_usage":100},"system_cpu_usage":1000},
            "memory_stats":{"usage":2097152,"limit":1073741824,"stats":{"inactive_file":1048576}},
            "blkio_stats":{"io_service_bytes_recursive":[{"op":"Read","value":4096},{"op":"write","value":1000}]},
            "pids_stats":{"current":3}}"#).unwrap();
        let r = row("web", &s, true);
        let f = |k: &str| r.get(k).and_then(Json::as_str).unwrap().to_string();
        assert_eq!(f("CPUPerc"), "40.00%");
        assert_eq!(f("MemUsage"), "1MiB / 1GiB");
        assert_eq!(f("MemPerc"), "0.10%");
        assert_eq!(f("NetIO"), "0B / 0B");
        assert_eq!(f("BlockIO"), "4.1kB / 1kB");
        assert_eq!(f("PIDs"), "3");
        assert_eq!(f("Name"), "web");
        assert_eq!(f("ID"), "0123456789ab");
    }
}
