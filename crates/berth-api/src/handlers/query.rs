//! Query strings and the parameters dockerd reads from them: strings, booleans (`1`, `true`,
//! `True`...; anything else but empty and `0`/`false` is true, as Go's `httputils.BoolValue`),
//! and the `filters` JSON in both of docker's forms (`{"k":{"v":true}}` and `{"k":["v"]}`).

use std::collections::HashMap;

use crate::error::ApiError;

/// A request's query parameters, decoded.
#[derive(Debug, Default)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub(crate) fn parse(query: Option<&str>) -> Query {
        Query {
            pairs: form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        }
    }

    /// The last value of `key` (Go's `r.Form.Get` takes the first; docker sends one).
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `key` as a string, empty when absent.
    pub(crate) fn string(&self, key: &str) -> String {
        self.get(key).unwrap_or("").to_owned()
    }

    /// `key` as dockerd's `BoolValue` reads it.
    pub(crate) fn bool(&self, key: &str) -> bool {
        let v = self.get(key).unwrap_or("").trim().to_ascii_lowercase();
        !(v.is_empty() || v == "0" || v == "false" || v == "no" || v == "off" || v == "none")
    }

    /// The `filters` parameter as a map from filter name to values.
    pub(crate) fn filters(&self) -> Result<HashMap<String, Vec<String>>, ApiError> {
        let raw = self.get("filters").unwrap_or("").trim();
        if raw.is_empty() {
            return Ok(HashMap::new());
        }
        let bad = |e: String| ApiError::InvalidParameter(format!("invalid filter: {e}"));
        let value: serde_json::Value = serde_json::from_str(raw).map_err(|e| bad(e.to_string()))?;
        let obj = value
            .as_object()
            .ok_or_else(|| bad("not a JSON object".into()))?;
        let mut out = HashMap::new();
        for (k, v) in obj {
            let values: Vec<String> = match v {
                serde_json::Value::Object(m) => m
                    .iter()
                    .filter(|(_, on)| on.as_bool().unwrap_or(false))
                    .map(|(s, _)| s.clone())
                    .collect(),
                serde_json::Value::Array(a) => a
                    .iter()
                    .map(|x| x.as_str().map(str::to_owned).ok_or_else(|| bad(k.clone())))
                    .collect::<Result<_, _>>()?,
                _ => return Err(bad(k.clone())),
            };
            out.insert(k.clone(), values);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_values_and_both_filter_forms() {
        let q = Query::parse(Some(
            "fromImage=127.0.0.1%3A5000%2Fx&tag=v1&force=1&noprune=0",
        ));
        assert_eq!(q.get("fromImage"), Some("127.0.0.1:5000/x"));
        assert!(q.bool("force"));
        assert!(!q.bool("noprune"));
        assert!(!q.bool("absent"));
        let q = Query::parse(Some(
            "filters=%7B%22dangling%22%3A%7B%22true%22%3Atrue%7D%2C%22reference%22%3A%5B%22b*%22%5D%7D",
        ));
        let f = q.filters().unwrap();
        assert_eq!(f["dangling"], ["true"]);
        assert_eq!(f["reference"], ["b*"]);
        assert!(Query::parse(Some("filters=nope")).filters().is_err());
    }
}
