//! The Dockerfile instructions `docker import --change` and `docker commit --change` apply to an
//! image's config: `CMD`, `ENTRYPOINT`, `ENV`, `EXPOSE`, `LABEL`, `ONBUILD`, `STOPSIGNAL`,
//! `USER`, `VOLUME` and `WORKDIR` (dockerd's list; anything else is refused in its words).
//! The config is docker's `Config` object as JSON, so every key dockerd writes is kept.

use serde_json::{json, Map, Value};

use crate::error::EngineError;

/// docker's empty container `Config`, every key as dockerd 20.10 writes it.
pub(crate) fn empty_config() -> Map<String, Value> {
    let v = json!({
        "Hostname": "", "Domainname": "", "User": "",
        "AttachStdin": false, "AttachStdout": false, "AttachStderr": false,
        "Tty": false, "OpenStdin": false, "StdinOnce": false,
        "Env": null, "Cmd": null, "Image": "", "Volumes": null, "WorkingDir": "",
        "Entrypoint": null, "OnBuild": null, "Labels": null,
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn bad(msg: String) -> EngineError {
    EngineError::InvalidParameter(msg)
}

/// `["a", "b"]` (JSON form) or the shell form, which runs under `/bin/sh -c`.
fn command(rest: &str) -> Vec<String> {
    if let Ok(v) = serde_json::from_str::<Vec<String>>(rest) {
        return v;
    }
    vec!["/bin/sh".into(), "-c".into(), rest.into()]
}

/// Splits `k=v k2="v 2"` into pairs (quotes and backslashes as the Dockerfile parser reads
/// them).
fn key_values(rest: &str, what: &str) -> Result<Vec<(String, String)>, EngineError> {
    let words = shell_words(rest);
    if words.is_empty() {
        return Err(bad(format!("{what} requires at least one argument")));
    }
    // The old `ENV key value` form: one pair, the rest of the line is the value.
    if !words[0].contains('=') {
        let mut it = rest.trim().splitn(2, char::is_whitespace);
        let k = it.next().unwrap_or("").to_owned();
        let v = it.next().map(str::trim).unwrap_or("");
        if v.is_empty() {
            return Err(bad(format!("{what} must have two arguments")));
        }
        return Ok(vec![(k, unquote(v))]);
    }
    words
        .iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(bad(format!(
                "Syntax error - can't find = in {w:?}. Must be of the form: name=value"
            ))),
        })
        .collect()
}

fn unquote(s: &str) -> String {
    shell_words(s).join(" ")
}

/// Words split on unquoted whitespace, with quotes removed and `\` escapes applied.
fn shell_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => cur.push(c),
            (_, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            (_, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

fn set_map_entry(config: &mut Map<String, Value>, key: &str, k: String, v: Value) {
    let entry = config.entry(key).or_insert(Value::Null);
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    if let Value::Object(m) = entry {
        m.insert(k, v);
    }
}

/// Applies each change (one Dockerfile instruction per string; a string may hold several
/// lines) to `config`.
pub(crate) fn apply(
    config: &mut Map<String, Value>,
    changes: &[String],
) -> Result<(), EngineError> {
    for change in changes {
        for line in change.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (word, rest) = match line.split_once(char::is_whitespace) {
                Some((w, r)) => (w, r.trim()),
                None => (line, ""),
            };
            let instruction = word.to_ascii_uppercase();
            match instruction.as_str() {
                "CMD" => {
                    config.insert("Cmd".into(), json!(command(rest)));
                }
                "ENTRYPOINT" => {
                    // As the builder: a new entrypoint drops the command.
                    config.insert("Entrypoint".into(), json!(command(rest)));
                    config.insert("Cmd".into(), Value::Null);
                }
                "ENV" => {
                    let mut env: Vec<String> = config
                        .get("Env")
                        .and_then(|v| serde_json::from_value(v.clone()).ok())
                        .unwrap_or_default();
                    for (k, v) in key_values(rest, "ENV")? {
                        env.retain(|e| e.split_once('=').map_or(e.as_str(), |(n, _)| n) != k);
                        env.push(format!("{k}={v}"));
                    }
                    config.insert("Env".into(), json!(env));
                }
                "LABEL" => {
                    for (k, v) in key_values(rest, "LABEL")? {
                        set_map_entry(config, "Labels", k, json!(v));
                    }
                }
                "EXPOSE" => {
                    let ports = shell_words(rest);
                    if ports.is_empty() {
                        return Err(bad("EXPOSE requires at least one argument".into()));
                    }
                    for p in ports {
                        let p = if p.contains('/') {
                            p
                        } else {
                            format!("{p}/tcp")
                        };
                        set_map_entry(config, "ExposedPorts", p, json!({}));
                    }
                }
                "VOLUME" => {
                    let vols = serde_json::from_str::<Vec<String>>(rest)
                        .unwrap_or_else(|_| shell_words(rest));
                    if vols.is_empty() {
                        return Err(bad("VOLUME requires at least one argument".into()));
                    }
                    for v in vols {
                        set_map_entry(config, "Volumes", v, json!({}));
                    }
                }
                "WORKDIR" => {
                    let dir = unquote(rest);
                    if dir.is_empty() {
                        return Err(bad("WORKDIR requires exactly one argument".into()));
                    }
                    let old = config
                        .get("WorkingDir")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned();
                    let new = if dir.starts_with('/') || old.is_empty() {
                        dir
                    } else {
                        format!("{}/{dir}", old.trim_end_matches('/'))
                    };
                    let new = if new.starts_with('/') {
                        new
                    } else {
                        format!("/{new}")
                    };
                    config.insert("WorkingDir".into(), json!(new));
                }
                "USER" => {
                    let user = unquote(rest);
                    if user.is_empty() {
                        return Err(bad("USER requires exactly one argument".into()));
                    }
                    config.insert("User".into(), json!(user));
                }
                "STOPSIGNAL" => {
                    config.insert("StopSignal".into(), json!(unquote(rest)));
                }
                "ONBUILD" => {
                    let mut on: Vec<String> = config
                        .get("OnBuild")
                        .and_then(|v| serde_json::from_value(v.clone()).ok())
                        .unwrap_or_default();
                    on.push(rest.to_owned());
                    config.insert("OnBuild".into(), json!(on));
                }
                // dockerd names the instruction in lower case.
                _ => {
                    return Err(bad(format!(
                        "{} is not a valid change command",
                        instruction.to_ascii_lowercase()
                    )))
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(changes: &[&str]) -> Map<String, Value> {
        let mut c = empty_config();
        apply(
            &mut c,
            &changes.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
        .unwrap();
        c
    }

    #[test]
    fn instructions_as_dockerfile() {
        let c = applied(&[
            r#"CMD ["sh", "-c", "echo hi"]"#,
            "ENV A=b C=\"d e\"",
            "ENV F g h",
            "WORKDIR /srv",
            "WORKDIR app",
            "USER 1000:1000",
            "EXPOSE 80 53/udp",
            "LABEL a=b \"c d\"=e",
            "VOLUME /data /logs",
        ]);
        assert_eq!(c["Cmd"], json!(["sh", "-c", "echo hi"]));
        assert_eq!(c["Env"], json!(["A=b", "C=d e", "F=g h"]));
        assert_eq!(c["WorkingDir"], "/srv/app");
        assert_eq!(c["User"], "1000:1000");
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(c["Labels"], json!({"a": "b", "c d": "e"}));
        assert_eq!(c["Volumes"], json!({"/data": {}, "/logs": {}}));
        let c = applied(&["CMD echo hi", "ENTRYPOINT [\"/bin/x\"]"]);
        assert_eq!(c["Entrypoint"], json!(["/bin/x"]));
        assert_eq!(c["Cmd"], Value::Null);
        let c = applied(&["CMD echo $HOME"]);
        assert_eq!(c["Cmd"], json!(["/bin/sh", "-c", "echo $HOME"]));
    }

    #[test]
    fn unknown_instructions_are_refused_in_dockerds_words() {
        let mut c = empty_config();
        let e = apply(&mut c, &["RUN true".into()]).unwrap_err();
        assert_eq!(e.to_string(), "run is not a valid change command");
        assert!(apply(&mut c, &["ENV".into()]).is_err());
    }
}
