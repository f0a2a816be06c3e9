//! `ps`: the container's pids as JSON, or ps(1) output filtered to them.

use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::cli::ListFormat;

pub fn print(pids: &[i32], format: ListFormat, ps_args: &[String]) -> Result<()> {
    if format == ListFormat::Json {
        println!("{}", serde_json::to_string(pids)?);
        return Ok(());
    }
    let args: Vec<String> = if ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        ps_args.to_vec()
    };
    let out = Command::new("ps").args(&args).output().context("run ps")?;
    if !out.status.success() {
        bail!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let pid_col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .context("couldn't find PID field in ps output")?;
    println!("{header}");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(pid_col)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            println!("{line}");
        }
    }
    Ok(())
}
