//! Property tests (issue 9): `--format` templates and the JSON the daemon answers are parsed by
//! the CLI: any template text parses or fails with a `TemplateError`, and any parsed template
//! runs on any JSON value or fails with one, without a panic. Case counts keep each property
//! to a few seconds.

#![allow(clippy::unwrap_used)]

use berth_cli::format::json::Json;
use berth_cli::format::template::Template;
use proptest::prelude::*;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Template text from the pieces Go templates are made of, in any order.
fn template_src() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "{{",
        "}}",
        "{{- ",
        " -}}",
        "{{-",
        "-}}",
        ".",
        ".A",
        ".B.C",
        ".Labels",
        ".é",
        " ",
        "|",
        "(",
        ")",
        "range",
        "if",
        "else",
        "end",
        "with",
        "json",
        "len",
        "index",
        "join",
        "split",
        "upper",
        "lower",
        "title",
        "println",
        "printf",
        "eq",
        "ne",
        "not",
        "and",
        "or",
        "\"%s\"",
        "\"%q\"",
        "\"%d %v\"",
        "\"%\"",
        "\"%!\"",
        "\"",
        "`",
        "`raw`",
        "\"a\\\"b\"",
        "1",
        "-1",
        "99999999999999999999",
        "0x10",
        "\u{202e}",
        "\u{0}",
        "x",
        "\n",
        "{",
        "}",
    ]);
    prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

/// Arbitrary JSON, with the keys the templates above name.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,8}".prop_map(Value::String),
    ];
    let key = prop::sample::select(vec!["A", "B", "C", "Labels", "é", "", "x"]);
    leaf.prop_recursive(3, 32, 5, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..5).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn templates_never_panic(src in prop_oneof![template_src(), ".{0,40}"], v in json_value()) {
        let dot = Json::parse(&serde_json::to_vec(&v).unwrap()).unwrap();
        if let Ok(t) = Template::parse(&src) {
            let _ = t.execute(&dot);
        }
    }

    #[test]
    fn plain_text_prints_as_is(s in "[^{]{0,40}") {
        let t = Template::parse(&s).unwrap();
        prop_assert_eq!(t.execute(&Json::parse(b"{}").unwrap()).unwrap(), s);
    }

    #[test]
    fn daemon_json_never_panics(data in prop::collection::vec(any::<u8>(), 0..128)) {
        let _ = Json::parse(&data);
    }
}
