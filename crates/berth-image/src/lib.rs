//! berth's image store (placeholder doc, replaced below).
pub mod config;
pub mod content;
pub mod digest;
pub mod error;
pub mod manifest;
pub mod metadata;
pub mod platform;
pub mod reference;
