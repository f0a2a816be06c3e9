//! What a pull reports as it goes, in dockerd's words; the API renders each event as one
//! line of docker's progress stream (`{"status":...,"id":...,"progressDetail":...}`).

/// One progress event of a pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullProgress {
    /// A line without a layer: `Pulling from library/busybox` (with the tag as `id`),
    /// `Digest: sha256:...`, `Status: Downloaded newer image for busybox:latest`.
    Status { id: Option<String>, status: String },
    /// A layer's state; `id` is the first 12 hex digits of its blob digest.
    Layer { id: String, status: LayerStatus },
}

/// The states of one layer, as dockerd names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerStatus {
    PullingFsLayer,
    AlreadyExists,
    Downloading { current: u64, total: u64 },
    VerifyingChecksum,
    DownloadComplete,
    Extracting { current: u64, total: u64 },
    PullComplete,
}

impl LayerStatus {
    /// dockerd's text for the state.
    pub fn text(&self) -> &'static str {
        match self {
            LayerStatus::PullingFsLayer => "Pulling fs layer",
            LayerStatus::AlreadyExists => "Already exists",
            LayerStatus::Downloading { .. } => "Downloading",
            LayerStatus::VerifyingChecksum => "Verifying Checksum",
            LayerStatus::DownloadComplete => "Download complete",
            LayerStatus::Extracting { .. } => "Extracting",
            LayerStatus::PullComplete => "Pull complete",
        }
    }

    /// `(current, total)` for the states with a progress bar.
    pub fn progress(&self) -> Option<(u64, u64)> {
        match *self {
            LayerStatus::Downloading { current, total }
            | LayerStatus::Extracting { current, total } => Some((current, total)),
            _ => None,
        }
    }
}

/// Where a pull sends its events. Sending never blocks the pull; events sent after the
/// receiver is gone are dropped (the pull still completes, as a pull started by a client that
/// went away leaves a complete image behind).
pub type ProgressSender = tokio::sync::mpsc::UnboundedSender<PullProgress>;

pub(crate) fn send(tx: Option<&ProgressSender>, event: PullProgress) {
    if let Some(tx) = tx {
        let _ = tx.send(event);
    }
}
