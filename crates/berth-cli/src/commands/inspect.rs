//! `berth image inspect`: `GET /images/{name}/json` for each name; without `-f` the daemon's
//! documents in one JSON array indented as docker indents it (the daemon's bytes, re-indented),
//! with `-f` the template once per image. Names that fail are reported after the others.
//!
//! docker runs `-f` templates on its typed `ImageInspect`, whose `Config` is an OCI image
//! config (docker 25 and later): only the OCI fields, in the OCI order, empty ones omitted.
//! [`typed_view`] gives templates that same `Config`, so `{{json .Config}}` prints what docker
//! prints.

use std::io::Write;

use clap::Args;

use crate::client::{name_path, Client};
use crate::error::CliError;
use crate::format::json::{indent, Json};
use crate::format::template::Template;

/// Display detailed information on one or more images
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a Go template ('json' for the JSON array)
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

pub(crate) async fn run(
    client: &Client,
    args: &InspectArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let template = match args.format.as_deref() {
        None | Some("") | Some("json") => None,
        Some(f) => Some(Template::parse(
            &f.replace("\\t", "\t").replace("\\n", "\n"),
        )?),
    };
    let mut raws = Vec::new();
    let mut errors = Vec::new();
    for name in &args.images {
        match client
            .get(&format!("/images/{}/json", name_path(name)))
            .await
        {
            Ok(raw) => raws.push(raw),
            Err(CliError::Daemon { message, .. }) => {
                errors.push(format!("Error response from daemon: {message}"))
            }
            Err(e) => return Err(e),
        }
    }
    match template {
        None => {
            if raws.is_empty() {
                out.write_all(b"[]\n")?;
            } else {
                let mut all = b"[".to_vec();
                for (i, r) in raws.iter().enumerate() {
                    if i > 0 {
                        all.push(b',');
                    }
                    all.extend_from_slice(r.trim_ascii());
                }
                all.push(b']');
                out.write_all(&indent(&all, "    "))?;
                out.write_all(b"\n")?;
            }
        }
        Some(t) => {
            for r in &raws {
                let doc = Json::parse(r).map_err(|source| CliError::Decode {
                    path: "/images/{name}/json".into(),
                    source,
                })?;
                out.write_all(t.execute(&typed_view(doc))?.as_bytes())?;
                out.write_all(b"\n")?;
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::Several(errors))
    }
}

/// The OCI image config fields, in the order docker's `DockerOCIImageConfig` marshals them.
const OCI_CONFIG_FIELDS: [&str; 13] = [
    "User",
    "ExposedPorts",
    "Env",
    "Entrypoint",
    "Cmd",
    "Volumes",
    "WorkingDir",
    "Labels",
    "StopSignal",
    "ArgsEscaped",
    "Healthcheck",
    "OnBuild",
    "Shell",
];

/// The document as docker's typed struct shows it to templates: `Config` reduced to the OCI
/// image config, each field `omitempty`.
pub(crate) fn typed_view(doc: Json) -> Json {
    let Json::Object(members) = doc else {
        return doc;
    };
    Json::Object(
        members
            .into_iter()
            .map(|(k, v)| {
                if k != "Config" || !matches!(v, Json::Object(_)) {
                    return (k, v);
                }
                let cfg = OCI_CONFIG_FIELDS
                    .iter()
                    .map(|f| {
                        let x = v.get(f).cloned().unwrap_or(Json::Null);
                        ((*f).to_string(), Json::OmitEmpty(Box::new(x)))
                    })
                    .collect();
                (k, Json::Object(cfg))
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_as_docker_types_it() {
        let doc = Json::parse(br#"{"Id":"x","Config":{"Hostname":"","Tty":false,"Env":null,"Cmd":["sh"],"Labels":{},"User":"u","ArgsEscaped":true}}"#).unwrap();
        assert_eq!(
            typed_view(doc).to_go_json(),
            r#"{"Id":"x","Config":{"User":"u","Cmd":["sh"],"ArgsEscaped":true}}"#
        );
    }
}
