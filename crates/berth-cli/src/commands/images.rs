//! `berth images` / `berth image ls`: `GET /images/json`, one row per repository and tag as
//! docker's formatter makes them (dangling images as `<none> <none>`, digest-only references
//! as `<none>` tags), in the daemon's order.

use std::io::Write;

use clap::Args;

use crate::client::{filters_json, query, Client};
use crate::error::CliError;
use crate::format::json::Json;
use crate::format::units::{human_size, table_size};
use crate::format::{object, short_id, List};
use berth_api_types::time::{go_time_string, now_unix, since};
use berth_oci::Reference;

/// List images
#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Filter output based on conditions provided (e.g. dangling=true, reference=busybox*)
    #[arg(short = 'f', long = "filter", value_name = "FILTER", value_parser = parse_filter)]
    pub filter: Vec<(String, String)>,
    /// Format output using a Go template ('table', 'table TEMPLATE', 'json', or 'TEMPLATE')
    #[arg(long)]
    pub format: Option<String>,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Only images matching REPOSITORY[:TAG]
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

/// `key=value` of `--filter`.
pub(crate) fn parse_filter(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.trim().to_lowercase(), v.to_string())),
        _ => Err(format!("bad format of filter (expected name=value): {s}")),
    }
}

const DEFAULT_TABLE: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
const DIGEST_TABLE: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

pub(crate) async fn run(
    client: &Client,
    args: &ImagesArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let mut filters = args.filter.clone();
    if let Some(r) = &args.reference {
        filters.push(("reference".into(), r.clone()));
    }
    let f = filters_json(&filters);
    let path = format!(
        "/images/json{}",
        query(&[("all", if args.all { "1" } else { "" }), ("filters", &f)])
    );
    let body = client.get(&path).await?;
    let images = Json::parse(&body).map_err(|source| CliError::Decode { path, source })?;
    let format = match (&args.format, args.quiet) {
        (None, true) => Some("{{.ID}}"),
        (Some(f), true) if f == "table" => Some("{{.ID}}"),
        (f, _) => f.as_deref(),
    };
    let list = List::new(
        format,
        if args.digests {
            DIGEST_TABLE
        } else {
            DEFAULT_TABLE
        },
    )?;
    // docker shows digest rows when asked to, or when the format prints them.
    let show_digests = args.digests || format.is_some_and(|f| f.contains("{{.Digest}}"));
    let now = now_unix();
    let mut rows = Vec::new();
    if let Json::Array(images) = &images {
        for image in images {
            for (repo, tag, digest) in repo_tags(image, show_digests) {
                rows.push(row(image, repo, tag, digest, !args.no_trunc, now));
            }
        }
    }
    out.write_all(list.render(&header(), &rows)?.as_bytes())?;
    Ok(())
}

fn header() -> Json {
    object(vec![
        ("Containers", "CONTAINERS".into()),
        ("CreatedAt", "CREATED AT".into()),
        ("CreatedSince", "CREATED".into()),
        ("Digest", "DIGEST".into()),
        ("ID", "IMAGE ID".into()),
        ("Repository", "REPOSITORY".into()),
        ("SharedSize", "SHARED SIZE".into()),
        ("Size", "SIZE".into()),
        ("Tag", "TAG".into()),
        ("UniqueSize", "UNIQUE SIZE".into()),
        ("VirtualSize", "VIRTUAL SIZE".into()),
    ])
}

/// The (repository, tag, digest) rows of one image, as docker's `imageFormatTaggedAndDigest`.
fn repo_tags(image: &Json, show_digests: bool) -> Vec<(String, String, String)> {
    let none = || "<none>".to_string();
    let tags: Vec<&str> = image.get("RepoTags").map(Json::strings).unwrap_or_default();
    let digests: Vec<&str> = image
        .get("RepoDigests")
        .map(Json::strings)
        .unwrap_or_default();
    let dangling = (tags.is_empty() || tags == ["<none>:<none>"])
        && (digests.is_empty() || digests == ["<none>@<none>"]);
    if dangling {
        return vec![(none(), none(), none())];
    }
    // Keep first-seen order (docker iterates a Go map, in no fixed order).
    let mut by_repo: Vec<(String, Vec<String>, Vec<String>)> = Vec::new();
    fn entry(by_repo: &mut Vec<(String, Vec<String>, Vec<String>)>, repo: String) -> usize {
        match by_repo.iter().position(|(r, _, _)| *r == repo) {
            Some(i) => i,
            None => {
                by_repo.push((repo, Vec::new(), Vec::new()));
                by_repo.len() - 1
            }
        }
    }
    for t in tags {
        if let Ok(r) = Reference::parse_normalized(t) {
            if let (Some(tag), None) = (r.tag(), r.digest()) {
                let i = entry(&mut by_repo, r.familiar_name());
                by_repo[i].1.push(tag.to_owned());
            }
        }
    }
    for d in digests {
        if let Ok(r) = Reference::parse_normalized(d) {
            if let Some(dg) = r.digest() {
                let i = entry(&mut by_repo, r.familiar_name());
                by_repo[i].2.push(dg.to_string());
            }
        }
    }
    let mut rows = Vec::new();
    for (repo, tags, digests) in &by_repo {
        if !tags.is_empty() {
            for tag in tags {
                if !show_digests || digests.is_empty() {
                    rows.push((repo.clone(), tag.clone(), none()));
                } else {
                    for d in digests {
                        rows.push((repo.clone(), tag.clone(), d.clone()));
                    }
                }
            }
        }
    }
    for (repo, tags, digests) in &by_repo {
        if tags.is_empty() {
            if show_digests {
                for d in digests {
                    rows.push((repo.clone(), none(), d.clone()));
                }
            } else {
                rows.push((repo.clone(), none(), String::new()));
            }
        }
    }
    rows
}

fn row(image: &Json, repo: String, tag: String, digest: String, trunc: bool, now: i64) -> Json {
    let num = |k: &str| image.get(k).and_then(Json::as_i64).unwrap_or(0);
    let id = image.get("Id").and_then(Json::as_str).unwrap_or("");
    let n_a = |k: &str, f: &dyn Fn(i64) -> String| match image.get(k).and_then(Json::as_i64) {
        Some(-1) | None => "N/A".to_string(),
        Some(v) => f(v),
    };
    object(vec![
        ("Containers", n_a("Containers", &|v| v.to_string())),
        ("CreatedAt", go_time_string(num("Created"))),
        ("CreatedSince", since(num("Created"), now)),
        ("Digest", digest),
        (
            "ID",
            if trunc {
                short_id(id).to_string()
            } else {
                id.to_string()
            },
        ),
        ("Repository", repo),
        ("SharedSize", n_a("SharedSize", &table_size)),
        ("Size", table_size(num("Size"))),
        ("Tag", tag),
        ("UniqueSize", n_a("UniqueSize", &table_size)),
        (
            "VirtualSize",
            human_size(
                image
                    .get("VirtualSize")
                    .and_then(Json::as_i64)
                    .unwrap_or(num("Size")),
            ),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_like_docker() {
        let img = Json::parse(br#"{"RepoTags":["busybox:latest","busybox:1","127.0.0.1:5000/bb:x"],
            "RepoDigests":["busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","other@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"]}"#).unwrap();
        let rows = repo_tags(&img, false);
        assert_eq!(
            rows,
            vec![
                ("busybox".into(), "latest".into(), "<none>".into()),
                ("busybox".into(), "1".into(), "<none>".into()),
                ("127.0.0.1:5000/bb".into(), "x".into(), "<none>".into()),
                ("other".into(), "<none>".into(), String::new()),
            ]
        );
        let rows = repo_tags(&img, true);
        assert!(rows[0].2.starts_with("sha256:"));
        assert_eq!(rows[3].1, "<none>");
        let dangling =
            Json::parse(br#"{"RepoTags":["<none>:<none>"],"RepoDigests":["<none>@<none>"]}"#)
                .unwrap();
        assert_eq!(
            repo_tags(&dangling, false),
            vec![("<none>".into(), "<none>".into(), "<none>".into())]
        );
    }
}
