//! Go's `text/tabwriter` as docker's formatter sets it up (`minwidth 10, tabwidth 1,
//! padding 3, ' '`): tab-terminated cells are padded to their column's width; the text after a
//! line's last tab is written as it is.

/// Aligns the tab-separated `text` (lines ending in `\n`).
pub fn tabwrite(text: &str) -> String {
    tabwrite_min(text, 10)
}

/// As [`tabwrite`] with another minimum cell width (`top` uses 20).
pub fn tabwrite_min(text: &str, min_width: usize) -> String {
    const PADDING: usize = 3;
    let lines: Vec<Vec<&str>> = text
        .split_inclusive('\n')
        .map(|l| l.split('\t').collect())
        .collect();
    let mut widths: Vec<usize> = Vec::new();
    for cells in &lines {
        // Every cell but the last is tab-terminated.
        for (j, cell) in cells.iter().take(cells.len().saturating_sub(1)).enumerate() {
            let w = (cell.chars().count() + PADDING).max(min_width);
            if widths.len() <= j {
                widths.push(w);
            } else if widths[j] < w {
                widths[j] = w;
            }
        }
    }
    let mut out = String::with_capacity(text.len() * 2);
    for cells in &lines {
        let last = cells.len().saturating_sub(1);
        for (j, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if j < last {
                let pad = widths[j].saturating_sub(cell.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_like_go_tabwriter() {
        let t = "REPOSITORY\tTAG\tIMAGE ID\n\
                 busybox\tlatest\t0123456789ab\n";
        assert_eq!(
            tabwrite(t),
            "REPOSITORY   TAG       IMAGE ID\nbusybox      latest    0123456789ab\n"
        );
    }
}
