//! How docker prints things: Go templates (`template`), JSON as Go writes it (`json`), aligned
//! tables (`table`), sizes and times (`units`), and the progress stream (`progress`). `List`
//! ties them together for the `--format` of list verbs (`images`, `history`).

pub mod json;
pub mod progress;
pub mod table;
pub mod template;
pub mod units;

use json::Json;
use template::{Template, TemplateError};

/// A list verb's `--format`, prepared as docker's formatter prepares it.
#[derive(Debug)]
pub struct List {
    template: Template,
    table: bool,
}

impl List {
    /// `format` as the user gave it (`None` or `table` for `default_table`, `json` for one JSON
    /// object per line, `table ...` for an aligned table with a header, anything else as a
    /// template per row); `\t` and `\n` written as two characters are turned into tab and
    /// newline.
    pub fn new(format: Option<&str>, default_table: &str) -> Result<List, TemplateError> {
        let f = match format {
            None | Some("") | Some("table") => default_table,
            Some("json") => "{{json .}}",
            Some(f) => f,
        };
        let (table, body) = match f.strip_prefix("table") {
            Some(rest) => (true, rest),
            None => (false, f),
        };
        let body = body
            .trim_matches(' ')
            .replace("\\t", "\t")
            .replace("\\n", "\n");
        Ok(List {
            template: Template::parse(&body)?.escaping_html(),
            table,
        })
    }

    /// The output for `rows`; a table gets the header row, rendered from `header` (each field
    /// name mapped to its column title), even when there are no rows.
    pub fn render(&self, header: &Json, rows: &[Json]) -> Result<String, TemplateError> {
        let mut text = String::new();
        if self.table {
            text.push_str(&self.template.execute(header)?);
            text.push('\n');
        }
        for r in rows {
            text.push_str(&self.template.execute(r)?);
            text.push('\n');
        }
        Ok(if self.table {
            table::tabwrite(&text)
        } else {
            text
        })
    }
}

/// An object of string fields, keys sorted (Go marshals a formatter's fields that way).
pub fn object(fields: Vec<(&str, String)>) -> Json {
    let mut members: Vec<(String, Json)> = fields
        .into_iter()
        .map(|(k, v)| (k.to_string(), Json::String(v)))
        .collect();
    members.sort_by(|a, b| a.0.cmp(&b.0));
    Json::Object(members)
}

/// The 12-character short form of an id (`sha256:` dropped), docker's `TruncateID`.
pub fn short_id(id: &str) -> &str {
    let id = id.split_once(':').map_or(id, |(_, h)| h);
    id.get(..12).unwrap_or(id)
}

/// `s` cut to `max` characters with `…` at the end, docker's `Ellipsis` for ASCII text.
pub fn ellipsis(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max || max == 0 {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_json_lists() {
        let header = object(vec![
            ("Repository", "REPOSITORY".into()),
            ("Tag", "TAG".into()),
        ]);
        let rows = vec![object(vec![
            ("Repository", "busybox".into()),
            ("Tag", "<none>".into()),
        ])];
        let l = List::new(None, "table {{.Repository}}\t{{.Tag}}").unwrap();
        assert_eq!(
            l.render(&header, &rows).unwrap(),
            "REPOSITORY   TAG\nbusybox      <none>\n"
        );
        let l = List::new(Some("json"), "table").unwrap();
        assert_eq!(
            l.render(&header, &rows).unwrap(),
            "{\"Repository\":\"busybox\",\"Tag\":\"\\u003cnone\\u003e\"}\n"
        );
        let l = List::new(Some(r"table {{.Tag}}\t{{.Repository}}"), "").unwrap();
        assert_eq!(l.render(&header, &[]).unwrap(), "TAG       REPOSITORY\n");
        let l = List::new(Some("{{.Repository}}:{{.Tag}}"), "").unwrap();
        assert_eq!(l.render(&header, &rows).unwrap(), "busybox:<none>\n");
    }

    #[test]
    fn ids_and_ellipsis() {
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(short_id("<missing>"), "<missing>");
        assert_eq!(ellipsis("abcdef", 4), "abc…");
        assert_eq!(ellipsis("abc", 4), "abc");
    }
}
