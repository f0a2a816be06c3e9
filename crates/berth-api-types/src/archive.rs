//! The shapes of the archive endpoints' answers that the image types do not have.

use serde::{Deserialize, Serialize};

/// A line of text in a JSON stream: `{"stream":"Loaded image: busybox:latest\n"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamMessage {
    pub stream: String,
}
