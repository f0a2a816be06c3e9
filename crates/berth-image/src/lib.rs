//! berth's image store (placeholder doc, replaced below).
pub mod content;
pub mod digest;
pub mod error;
pub mod reference;
