//! Which runtimes the suite runs against.

/// Comma-separated runtime names to test (`berth`, `runc`); unset means `berth,runc`.
pub const RUNTIMES_ENV: &str = "BERTH_TEST_RUNTIMES";

/// The runtimes named by `BERTH_TEST_RUNTIMES` (default `["berth", "runc"]`).
pub fn selected_runtimes() -> Vec<String> {
    let raw = std::env::var(RUNTIMES_ENV).unwrap_or_else(|_| "berth,runc".to_string());
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Whether `name` is selected; records why not when it isn't (a `SKIP-DESELECTED` line, see
/// [`crate::prereq`]), so a test left out says so.
pub fn runtime_selected(name: &str) -> bool {
    let selected = selected_runtimes();
    let on = selected.iter().any(|s| s == name);
    if !on {
        crate::prereq::skip_deselected(&format!(
            "runtime `{name}` not in {RUNTIMES_ENV}={}",
            selected.join(",")
        ));
    }
    on
}
