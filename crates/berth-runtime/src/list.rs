//! `list`: runc's table (Go tabwriter: min width 12, padding 3) or JSON.

use std::io::Write;

use anyhow::Result;
use berth_container::StateReport;

use crate::cli::ListFormat;

/// Lays out rows like Go's text/tabwriter with minwidth 12, padding 3.
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; cols];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count() + 3).max(12);
        }
    }
    let mut out = String::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < row.len() {
                out.push_str(&" ".repeat(widths[i] - cell.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

pub fn print(states: &[StateReport], format: ListFormat, quiet: bool) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    if quiet {
        for s in states {
            writeln!(stdout, "{}", s.id)?;
        }
        return Ok(());
    }
    match format {
        ListFormat::Json => {
            if states.is_empty() {
                writeln!(stdout, "null")?;
            } else {
                writeln!(stdout, "{}", serde_json::to_string(states)?)?;
            }
        }
        ListFormat::Table => {
            let mut rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
                .map(String::from)
                .to_vec()];
            for s in states {
                rows.push(vec![
                    s.id.clone(),
                    s.pid.to_string(),
                    s.status.to_string(),
                    s.bundle.display().to_string(),
                    s.created.clone(),
                    s.owner.clone(),
                ]);
            }
            write!(stdout, "{}", table(&rows))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::table;

    #[test]
    fn header_matches_runc() {
        let rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
            .map(String::from)
            .to_vec()];
        assert_eq!(
            table(&rows),
            "ID          PID         STATUS      BUNDLE      CREATED     OWNER\n"
        );
    }

    #[test]
    fn long_cells_get_three_spaces() {
        let rows = vec![vec![
            "a-very-long-container-id".to_string(),
            "1".to_string(),
        ]];
        assert_eq!(table(&rows), "a-very-long-container-id   1\n");
    }
}
