//! `berth inspect`, `container inspect` and `image inspect`: `GET /containers/{name}/json`
//! or `/images/{name}/json` for each name (`inspect` tries a container, then an image);
//! for images: `GET /images/{name}/json` for each name; without `-f` the daemon's
//! documents in one JSON array indented as docker indents it (the daemon's bytes, re-indented),
//! with `-f` the template once per image. Names that fail are reported after the others.
//!
//! docker runs `-f` templates on its typed `ImageInspect`, whose `Config` is an OCI image
//! config (docker 25 and later): only the OCI fields, in the OCI order, empty ones omitted.
//! [`typed_view`] gives templates that same `Config`, so `{{json .Config}}` prints what docker
//! prints.

use std::io::Write;

use clap::Args;

use crate::client::{name_path, percent_encode, Client};
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

/// Return low-level information on Docker objects
#[derive(Debug, Args)]
pub struct ObjectInspectArgs {
    /// Format output using a Go template ('json' for the JSON array)
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short = 's', long)]
    pub size: bool,
    /// Only inspect objects of this type (container or image)
    #[arg(long = "type")]
    pub kind: Option<String>,
    #[arg(required = true, value_name = "NAME|ID")]
    pub names: Vec<String>,
}

/// Display detailed information on one or more containers
#[derive(Debug, Args)]
pub struct ContainerInspectArgs {
    /// Format output using a Go template ('json' for the JSON array)
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Display total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// The kinds of object `inspect` looks names up as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Container,
    Image,
}

pub(crate) async fn run(
    client: &Client,
    args: &InspectArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    inspect(
        client,
        &args.images,
        &[Kind::Image],
        false,
        args.format.as_deref(),
        out,
    )
    .await
}

pub(crate) async fn run_container(
    client: &Client,
    args: &ContainerInspectArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    inspect(
        client,
        &args.containers,
        &[Kind::Container],
        args.size,
        args.format.as_deref(),
        out,
    )
    .await
}

pub(crate) async fn run_object(
    client: &Client,
    args: &ObjectInspectArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let kinds: &[Kind] = match args.kind.as_deref() {
        None | Some("") => &[Kind::Container, Kind::Image],
        Some("container") => &[Kind::Container],
        Some("image") => &[Kind::Image],
        Some(other) => {
            return Err(CliError::Usage(format!(
                "\"{other}\" is not a valid value for --type"
            )))
        }
    };
    inspect(
        client,
        &args.names,
        kinds,
        args.size,
        args.format.as_deref(),
        out,
    )
    .await
}

/// Looks each name up as each kind in turn; prints the documents (or the template per
/// document), then the names that were found as none of them.
async fn inspect(
    client: &Client,
    names: &[String],
    kinds: &[Kind],
    size: bool,
    format: Option<&str>,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let template = match format {
        None | Some("") | Some("json") => None,
        Some(f) => Some(Template::parse(
            &f.replace("\\t", "\t").replace("\\n", "\n"),
        )?),
    };
    let mut raws = Vec::new();
    let mut errors = Vec::new();
    for name in names {
        let mut found = None;
        let mut last_error = None;
        for kind in kinds {
            let path = match kind {
                Kind::Container => format!(
                    "/containers/{}/json{}",
                    percent_encode(name),
                    crate::client::query(&[("size", if size { "1" } else { "" })])
                ),
                Kind::Image => format!("/images/{}/json", name_path(name)),
            };
            match client.get(&path).await {
                Ok(raw) => {
                    found = Some((*kind, raw));
                    break;
                }
                Err(CliError::Daemon { message, .. }) => last_error = Some(message),
                Err(e) => return Err(e),
            }
        }
        match (found, last_error) {
            (Some(f), _) => raws.push(f),
            (None, _) if kinds.len() > 1 => errors.push(format!("Error: No such object: {name}")),
            (None, m) => errors.push(format!(
                "Error response from daemon: {}",
                m.unwrap_or_default()
            )),
        }
    }
    match template {
        None => {
            if raws.is_empty() {
                out.write_all(b"[]\n")?;
            } else {
                let mut all = b"[".to_vec();
                for (i, (_, r)) in raws.iter().enumerate() {
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
            for (kind, r) in &raws {
                let doc = Json::parse(r).map_err(|source| CliError::Decode {
                    path: "inspect".into(),
                    source,
                })?;
                let doc = if *kind == Kind::Image {
                    typed_view(doc)
                } else {
                    doc
                };
                out.write_all(t.execute(&doc)?.as_bytes())?;
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
