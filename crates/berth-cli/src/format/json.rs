//! JSON as docker's CLI handles it: an order-keeping value (templates see the daemon's keys in
//! the daemon's order), Go's compact encoding for `{{json ...}}`, and `json.Indent` for
//! `inspect` without `-f`, which re-indents the daemon's bytes without re-encoding them.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A JSON value whose objects keep their keys in document order.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    /// A number, kept as the text Go would print for it.
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
    /// A member of a typed Go struct tagged `omitempty`: reads as the value it holds, and is
    /// left out of the encoding when that value is empty (null, false, "", [] or {}).
    OmitEmpty(Box<Json>),
}

impl Json {
    /// Parses a document.
    pub fn parse(bytes: &[u8]) -> Result<Json, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self.inner() {
            Json::Object(members) => members
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.inner()),
            _ => None,
        }
    }

    /// The value itself, through an [`Json::OmitEmpty`] wrapper.
    pub fn inner(&self) -> &Json {
        match self {
            Json::OmitEmpty(v) => v.inner(),
            v => v,
        }
    }

    /// What Go's `omitempty` leaves out.
    pub fn is_empty_value(&self) -> bool {
        match self.inner() {
            Json::Null | Json::Bool(false) => true,
            Json::String(s) => s.is_empty(),
            Json::Array(a) => a.is_empty(),
            Json::Object(o) => o.is_empty(),
            _ => false,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// An integer member (`Size`, `Created`...), if it is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Json::Number(n) => n.parse().ok(),
            _ => None,
        }
    }

    /// The strings of an array of strings (others skipped); empty for anything else.
    pub fn strings(&self) -> Vec<&str> {
        match self {
            Json::Array(items) => items.iter().filter_map(Json::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// Go's `json.Marshal` (docker's `json` template function): `<`, `>` and `&` escaped as
    /// `\u003c`, `\u003e`, `\u0026`.
    pub fn to_go_json(&self) -> String {
        let mut out = String::new();
        self.write_compact(&mut out, true);
        out
    }

    /// Go's encoder with `SetEscapeHTML(false)`: `<`, `>` and `&` as they are.
    pub fn to_go_json_unescaped(&self) -> String {
        let mut out = String::new();
        self.write_compact(&mut out, false);
        out
    }

    fn write_compact(&self, out: &mut String, html: bool) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Number(n) => out.push_str(n),
            Json::String(s) => write_go_string(s, out, html),
            Json::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write_compact(out, html);
                }
                out.push(']');
            }
            Json::OmitEmpty(v) => v.write_compact(out, html),
            Json::Object(members) => {
                out.push('{');
                let kept = members
                    .iter()
                    .filter(|(_, v)| !matches!(v, Json::OmitEmpty(_)) || !v.is_empty_value());
                for (i, (k, v)) in kept.enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_go_string(k, out, html);
                    out.push(':');
                    v.write_compact(out, html);
                }
                out.push('}');
            }
        }
    }
}

/// A string as Go's encoder writes it: `\"`, `\\`, `\n`, `\r`, `\t`, other control
/// characters and `<`, `>`, `&` as `\u00XX`, and U+2028/U+2029 escaped.
fn write_go_string(s: &str, out: &mut String, html: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 || (html && matches!(c, '<' | '>' | '&')) => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element()? {
            items.push(v);
        }
        Ok(Json::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Json>()? {
            members.push((k, v));
        }
        Ok(Json::Object(members))
    }
}

/// Go's `json.Indent(dst, src, prefix "", indent)`: whitespace between tokens replaced by
/// newlines and `indent`, `": "` after keys, empty `{}`/`[]` kept on one line, string bytes
/// copied as they are.
pub fn indent(src: &[u8], indent: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(src.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    // An opening bracket whose newline is held until we know the container is not empty.
    let mut pending_open = false;
    let newline = |out: &mut Vec<u8>, depth: usize| {
        out.push(b'\n');
        for _ in 0..depth {
            out.extend_from_slice(indent.as_bytes());
        }
    };
    for &b in src {
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        if b.is_ascii_whitespace() {
            continue;
        }
        if pending_open {
            pending_open = false;
            if b == b'}' || b == b']' {
                depth = depth.saturating_sub(1);
                out.push(b);
                continue;
            }
            newline(&mut out, depth);
        }
        match b {
            b'"' => {
                in_string = true;
                out.push(b);
            }
            b'{' | b'[' => {
                out.push(b);
                depth += 1;
                pending_open = true;
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(b);
            }
            b',' => {
                out.push(b);
                newline(&mut out, depth);
            }
            b':' => out.extend_from_slice(b": "),
            _ => out.push(b),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_encodes_like_go() {
        let j = Json::parse(br#"{"b":1,"a":[true,null,"x<y&\u2028"],"c":{}}"#).unwrap();
        assert_eq!(
            j.to_go_json(),
            "{\"b\":1,\"a\":[true,null,\"x\\u003cy\\u0026\\u2028\"],\"c\":{}}"
        );
        assert_eq!(j.get("b").and_then(Json::as_i64), Some(1));
    }

    #[test]
    fn indent_like_go_json_indent() {
        let src = br#"[{"Id":"sha256:1","RepoTags":["a:b"],"Empty":[],"O":{},"S":"a\"{,}"}]"#;
        let want = "[\n    {\n        \"Id\": \"sha256:1\",\n        \"RepoTags\": [\n            \"a:b\"\n        ],\n        \"Empty\": [],\n        \"O\": {},\n        \"S\": \"a\\\"{,}\"\n    }\n]";
        assert_eq!(String::from_utf8(indent(src, "    ")).unwrap(), want);
    }
}
