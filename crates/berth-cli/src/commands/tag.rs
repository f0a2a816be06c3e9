//! `berth tag SOURCE TARGET`: `POST /images/{source}/tag?repo=..&tag=..`, the target
//! normalised as docker does (`latest` when it has no tag; a digest is refused).

use clap::Args;

use crate::client::{empty, name_path, query, Client};
use crate::error::CliError;

/// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
#[derive(Debug, Args)]
pub struct TagArgs {
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    pub source: String,
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    pub target: String,
}

pub(crate) async fn run(client: &Client, args: &TagArgs) -> Result<(), CliError> {
    let target = CliError::parse_reference(&args.target)?;
    if target.digest().is_some() {
        return Err(CliError::Usage(
            "refusing to create a tag with a digest reference".into(),
        ));
    }
    let target = target.with_default_tag();
    let repo = target.familiar_name();
    let tag = target.tag().unwrap_or_default().to_owned();
    let path = format!(
        "/images/{}/tag{}",
        name_path(&args.source),
        query(&[("repo", &repo), ("tag", &tag)])
    );
    client
        .send(hyper::Method::POST, &path, &[], empty())
        .await?
        .bytes()
        .await?;
    Ok(())
}
