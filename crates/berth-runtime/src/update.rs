//! `update` and `events`: runc's flags turned into an OCI `linux.resources`
//! object, and runc's event JSON (`{"type":"stats","id":...,"data":...}`).

use std::io::Read;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use berth_cgroups::OomEvent;
use berth_container::{container, Store};
use oci_spec::runtime::LinuxResources;
use serde_json::{json, Map, Value};

use crate::cli::UpdateArgs;

/// Parses a byte size as runc does (`1024`, `50m`, `2g`, `-1`).
pub fn parse_bytes(s: &str) -> Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num.parse().with_context(|| format!("invalid size {s:?}"))?;
    if n < 0.0 {
        bail!("invalid size {s:?}");
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    Ok((n * mult as f64) as i64)
}

/// The resources an `update` invocation asks for.
pub fn resources(a: &UpdateArgs) -> Result<LinuxResources> {
    if let Some(path) = &a.resources {
        let mut text = String::new();
        if path.as_os_str() == "-" {
            std::io::stdin()
                .read_to_string(&mut text)
                .context("read resources from stdin")?;
        } else {
            text = std::fs::read_to_string(path)
                .with_context(|| format!("read {}", path.display()))?;
        }
        return serde_json::from_str(&text).context("parse resources JSON");
    }
    let mut memory = Map::new();
    let put = |m: &mut Map<String, Value>, k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.to_string(), v);
        }
    };
    put(
        &mut memory,
        "limit",
        a.memory
            .as_deref()
            .map(parse_bytes)
            .transpose()?
            .map(Value::from),
    );
    put(
        &mut memory,
        "reservation",
        a.memory_reservation
            .as_deref()
            .map(parse_bytes)
            .transpose()?
            .map(Value::from),
    );
    put(
        &mut memory,
        "swap",
        a.memory_swap
            .as_deref()
            .map(parse_bytes)
            .transpose()?
            .map(Value::from),
    );
    let mut cpu = Map::new();
    put(&mut cpu, "shares", a.cpu_shares.map(Value::from));
    put(&mut cpu, "quota", a.cpu_quota.map(Value::from));
    put(&mut cpu, "period", a.cpu_period.map(Value::from));
    put(&mut cpu, "realtimePeriod", a.cpu_rt_period.map(Value::from));
    put(
        &mut cpu,
        "realtimeRuntime",
        a.cpu_rt_runtime.map(Value::from),
    );
    put(&mut cpu, "cpus", a.cpuset_cpus.clone().map(Value::from));
    put(&mut cpu, "mems", a.cpuset_mems.clone().map(Value::from));
    let mut r = Map::new();
    if !memory.is_empty() {
        r.insert("memory".into(), Value::Object(memory));
    }
    if !cpu.is_empty() {
        r.insert("cpu".into(), Value::Object(cpu));
    }
    if let Some(p) = a.pids_limit {
        r.insert("pids".into(), json!({ "limit": p }));
    }
    if let Some(w) = a.blkio_weight {
        r.insert("blockIO".into(), json!({ "weight": w }));
    }
    serde_json::from_value(Value::Object(r)).context("build resources")
}

pub fn update(store: &Store, a: &UpdateArgs) -> Result<()> {
    container::update(store, &a.id, &resources(a)?)?;
    Ok(())
}

fn parse_interval(s: &str) -> Result<Duration> {
    let t = s.trim();
    let (num, unit) = t
        .find(|c: char| c.is_ascii_alphabetic())
        .map_or((t, "s"), |i| t.split_at(i));
    let n: f64 = num
        .parse()
        .with_context(|| format!("invalid interval {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => bail!("invalid interval {s:?} (use ms, s or m)"),
    };
    if secs <= 0.0 {
        bail!("interval must be greater than 0");
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `events`: one stats event with `--stats`; else, as runc, a stats event
/// every interval and an `oom` event whenever the OOM killer runs in the
/// container's memory cgroup, until the container stops.
pub fn events(store: &Store, id: &str, once: bool, interval: &str) -> Result<()> {
    let every = parse_interval(interval)?;
    if once {
        let stats = container::stats(store, id)?;
        println!("{}", json!({ "type": "stats", "id": id, "data": stats }));
        return Ok(());
    }
    // Without a memory controller the stream still carries stats.
    let mut oom = container::watch_oom(store, id).ok();
    // As runc's ticker: the first stats event comes one interval in.
    let mut next = Instant::now() + every;
    loop {
        let now = Instant::now();
        if now >= next {
            let Ok(stats) = container::stats(store, id) else {
                // The container went away: the stream ends.
                return Ok(());
            };
            println!("{}", json!({ "type": "stats", "id": id, "data": stats }));
            next = now + every;
            continue;
        }
        let left = next - now;
        match oom.as_mut().map(|w| w.wait(left)) {
            None => std::thread::sleep(left),
            Some(Ok(OomEvent::Oom(_))) => println!("{}", json!({ "type": "oom", "id": id })),
            Some(Ok(OomEvent::Timeout)) => {}
            Some(Ok(OomEvent::Gone) | Err(_)) => oom = None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_runc() {
        assert_eq!(parse_bytes("1024").ok(), Some(1024));
        assert_eq!(parse_bytes("50m").ok(), Some(50 << 20));
        assert_eq!(parse_bytes("1G").ok(), Some(1 << 30));
        assert_eq!(parse_bytes("-1").ok(), Some(-1));
        assert!(parse_bytes("lots").is_err());
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("5s").ok(), Some(Duration::from_secs(5)));
        assert_eq!(
            parse_interval("500ms").ok(),
            Some(Duration::from_millis(500))
        );
        assert!(parse_interval("0s").is_err());
    }
}
