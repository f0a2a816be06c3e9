//! `berth history`: `GET /images/{name}/history`, in `docker history`'s table (IMAGE, CREATED,
//! CREATED BY cut to 45 characters, SIZE, COMMENT) or `--format`.

use std::io::Write;

use clap::Args;

use crate::client::{name_path, Client};
use crate::error::CliError;
use crate::format::json::Json;
use crate::format::units::table_size;
use crate::format::{ellipsis, object, short_id, List};
use berth_api_types::time::{now_unix, rfc3339_secs as rfc3339, since};

/// Show the history of an image
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Format output using a Go template ('table', 'table TEMPLATE', 'json', or 'TEMPLATE')
    #[arg(long)]
    pub format: Option<String>,
    /// Print sizes and dates in human readable format (docker's `-H`; here `-H` is the host)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub human: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[arg(value_name = "IMAGE")]
    pub image: String,
}

const DEFAULT_TABLE: &str =
    "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";

pub(crate) async fn run(
    client: &Client,
    args: &HistoryArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let path = format!("/images/{}/history", name_path(&args.image));
    let body = client.get(&path).await?;
    let layers = Json::parse(&body).map_err(|source| CliError::Decode { path, source })?;
    let format = match (&args.format, args.quiet) {
        (None, true) => Some("{{.ID}}"),
        (f, _) => f.as_deref(),
    };
    let list = List::new(format, DEFAULT_TABLE)?;
    let now = now_unix();
    let trunc = !args.no_trunc;
    let mut rows = Vec::new();
    if let Json::Array(layers) = &layers {
        for l in layers {
            let s = |k: &str| l.get(k).and_then(Json::as_str).unwrap_or("").to_string();
            let n = |k: &str| l.get(k).and_then(Json::as_i64).unwrap_or(0);
            let id = s("Id");
            let created_by = s("CreatedBy").replace('\t', " ");
            rows.push(object(vec![
                ("Comment", s("Comment")),
                ("CreatedAt", rfc3339(n("Created"))),
                (
                    "CreatedBy",
                    if trunc {
                        ellipsis(&created_by, 45)
                    } else {
                        created_by
                    },
                ),
                (
                    "CreatedSince",
                    if args.human {
                        since(n("Created"), now)
                    } else {
                        rfc3339(n("Created"))
                    },
                ),
                ("ID", if trunc { short_id(&id).to_string() } else { id }),
                (
                    "Size",
                    if args.human {
                        table_size(n("Size"))
                    } else {
                        n("Size").to_string()
                    },
                ),
            ]));
        }
    }
    let header = object(vec![
        ("Comment", "COMMENT".into()),
        ("CreatedAt", "CREATED AT".into()),
        ("CreatedBy", "CREATED BY".into()),
        ("CreatedSince", "CREATED".into()),
        ("ID", "IMAGE".into()),
        ("Size", "SIZE".into()),
    ]);
    out.write_all(list.render(&header, &rows)?.as_bytes())?;
    Ok(())
}
