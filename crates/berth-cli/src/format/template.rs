//! The part of Go's `text/template` that docker users write in `--format`/`-f`: text,
//! `{{.Field.Sub}}`, `{{.}}`, pipelines (`{{.X | json}}`), the functions `json`, `len`,
//! `index`, `join`, `split`, `upper`, `lower`, `title`, `println`, `printf` (`%s %v %d %q`),
//! `eq`, `ne`, `not`, `and`, `or`, and `{{range}}`, `{{if}}`, `{{with}}` / `{{else}}` /
//! `{{end}}`, with `{{-`/`-}}` trimming (no variables). Values print as Go's `%v` prints them
//! (`[a b]` for lists, `map[k:v]` for maps); docker's templates run on typed Go structs, so a
//! field that does not exist is an error, and a null list or map prints as Go prints a nil one.

use super::json::Json;

/// A template that failed to parse or to run, with Go's wording where it matters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template: {0}")]
pub struct TemplateError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, TemplateError> {
    Err(TemplateError(msg.into()))
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
    /// Whether `json` escapes `<`, `>` and `&` (see [`Template::escaping_html`]).
    escape_html: bool,
}

thread_local! {
    /// The running template's `escape_html`, for the `json` function deep in evaluation.
    static ESCAPE_HTML: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipeline),
    If(Pipeline, Vec<Node>, Vec<Node>),
    Range(Pipeline, Vec<Node>, Vec<Node>),
    With(Pipeline, Vec<Node>, Vec<Node>),
}

type Pipeline = Vec<Command>;

#[derive(Debug, Clone)]
struct Command {
    args: Vec<Arg>,
}

#[derive(Debug, Clone)]
enum Arg {
    /// `.A.B` (empty for `.`).
    Field(Vec<String>),
    Str(String),
    Int(i64),
    Func(String),
}

/// What a template action sees and produces.
#[derive(Debug, Clone)]
struct Val {
    json: Json,
    /// The field this came from, to print a null as Go prints that field's nil.
    field: Option<String>,
}

impl Val {
    fn new(json: Json) -> Val {
        Val { json, field: None }
    }
}

impl Template {
    /// Parses `src`.
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        let tokens = lex(src)?;
        let mut pos = 0;
        let (nodes, end) = parse_nodes(&tokens, &mut pos)?;
        if let Some(e) = end {
            return err(format!("unexpected {{{{{e}}}}}"));
        }
        Ok(Template {
            nodes,
            escape_html: false,
        })
    }

    /// docker's `json` function writes `<`, `>` and `&` as they are (an encoder with
    /// `SetEscapeHTML(false)`), except for the rows of list formatters (`images`, `ps`...),
    /// which marshal themselves with `json.Marshal` and so come escaped: those templates are
    /// made escaping with this.
    pub fn escaping_html(mut self) -> Template {
        self.escape_html = true;
        self
    }

    /// Runs the template on `dot`.
    pub fn execute(&self, dot: &Json) -> Result<String, TemplateError> {
        let mut out = String::new();
        ESCAPE_HTML.with(|e| e.set(self.escape_html));
        exec_nodes(&self.nodes, &Val::new(dot.inner().clone()), &mut out)?;
        Ok(out)
    }
}

enum Token {
    Text(String),
    Action(String),
}

fn lex(src: &str) -> Result<Vec<Token>, TemplateError> {
    let mut tokens = Vec::new();
    let mut rest = src;
    while let Some(start) = rest.find("{{") {
        let mut text = rest[..start].to_string();
        let after = &rest[start + 2..];
        let (trim_left, after) = match after.strip_prefix("- ") {
            Some(a) => (true, a),
            None => (false, after),
        };
        if trim_left {
            text.truncate(text.trim_end().len());
        }
        if !text.is_empty() {
            tokens.push(Token::Text(text));
        }
        let Some(end) = find_action_end(after) else {
            return err("unclosed action");
        };
        let mut inner = &after[..end];
        let mut tail = &after[end + 2..];
        if let Some(i) = inner.strip_suffix(" -") {
            inner = i;
            tail = tail.trim_start();
        }
        tokens.push(Token::Action(inner.trim().to_string()));
        rest = tail;
    }
    if !rest.is_empty() {
        tokens.push(Token::Text(rest.to_string()));
    }
    Ok(tokens)
}

/// The offset of the `}}` closing an action, skipping quoted strings.
fn find_action_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if b.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Parses nodes until `{{end}}` or `{{else}}` (returned) or the end of input.
fn parse_nodes(
    tokens: &[Token],
    pos: &mut usize,
) -> Result<(Vec<Node>, Option<String>), TemplateError> {
    let mut nodes = Vec::new();
    while let Some(t) = tokens.get(*pos) {
        *pos += 1;
        match t {
            Token::Text(s) => nodes.push(Node::Text(s.clone())),
            Token::Action(a) => {
                let (word, rest) = a.split_once(' ').unwrap_or((a.as_str(), ""));
                match word {
                    "end" | "else" => return Ok((nodes, Some(word.to_string()))),
                    "if" | "range" | "with" => {
                        let pipe = parse_pipeline(rest)?;
                        let (body, end) = parse_nodes(tokens, pos)?;
                        let alt = match end.as_deref() {
                            Some("end") => Vec::new(),
                            Some("else") => match parse_nodes(tokens, pos)? {
                                (alt, Some(e)) if e == "end" => alt,
                                _ => return err(format!("missing {{{{end}}}} for {word}")),
                            },
                            _ => {
                                return err(format!(
                                    "unexpected EOF: missing {{{{end}}}} for {word}"
                                ))
                            }
                        };
                        nodes.push(match word {
                            "if" => Node::If(pipe, body, alt),
                            "with" => Node::With(pipe, body, alt),
                            _ => Node::Range(pipe, body, alt),
                        });
                    }
                    _ if a.starts_with("/*") => {}
                    _ => nodes.push(Node::Action(parse_pipeline(a)?)),
                }
            }
        }
    }
    Ok((nodes, None))
}

fn parse_pipeline(src: &str) -> Result<Pipeline, TemplateError> {
    let words = split_words(src)?;
    let mut pipe = Vec::new();
    let mut cmd = Command { args: Vec::new() };
    for w in words {
        if w == "|" {
            if cmd.args.is_empty() {
                return err("missing command before |");
            }
            pipe.push(std::mem::replace(&mut cmd, Command { args: Vec::new() }));
            continue;
        }
        cmd.args.push(parse_arg(&w)?);
    }
    if cmd.args.is_empty() {
        return err("missing value for command");
    }
    pipe.push(cmd);
    Ok(pipe)
}

fn parse_arg(w: &str) -> Result<Arg, TemplateError> {
    if w == "." {
        return Ok(Arg::Field(Vec::new()));
    }
    if let Some(path) = w.strip_prefix('.') {
        return Ok(Arg::Field(path.split('.').map(str::to_string).collect()));
    }
    if let Some(s) = w.strip_prefix('"') {
        return unquote(s).map(Arg::Str);
    }
    if let Some(s) = w.strip_prefix('`') {
        return Ok(Arg::Str(s.trim_end_matches('`').to_string()));
    }
    if let Ok(n) = w.parse::<i64>() {
        return Ok(Arg::Int(n));
    }
    if w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Ok(Arg::Func(w.to_string()));
    }
    err(format!("bad token {w:?}"))
}

fn unquote(s: &str) -> Result<String, TemplateError> {
    let Some(body) = s.strip_suffix('"') else {
        return err("unterminated quoted string");
    };
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(c) => out.push(c),
            None => return err("bad escape"),
        }
    }
    Ok(out)
}

/// Splits an action into words: quoted strings stay whole, `|` stands alone.
fn split_words(src: &str) -> Result<Vec<String>, TemplateError> {
    let mut words = Vec::new();
    let mut chars = src.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '|' {
            chars.next();
            words.push("|".into());
        } else if c == '"' || c == '`' {
            let mut w = String::new();
            w.push(c);
            chars.next();
            let mut closed = false;
            while let Some(d) = chars.next() {
                w.push(d);
                if d == '\\' && c == '"' {
                    if let Some(e) = chars.next() {
                        w.push(e);
                    }
                } else if d == c {
                    closed = true;
                    break;
                }
            }
            if !closed {
                return err("unterminated quoted string");
            }
            words.push(w);
        } else {
            let mut w = String::new();
            while let Some(&d) = chars.peek() {
                if d.is_whitespace() || d == '|' {
                    break;
                }
                w.push(d);
                chars.next();
            }
            words.push(w);
        }
    }
    Ok(words)
}

fn exec_nodes(nodes: &[Node], dot: &Val, out: &mut String) -> Result<(), TemplateError> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => out.push_str(&print(&eval_pipeline(p, dot)?)),
            Node::If(p, body, alt) => {
                let v = eval_pipeline(p, dot)?;
                exec_nodes(if truthy(&v.json) { body } else { alt }, dot, out)?;
            }
            Node::With(p, body, alt) => {
                let v = eval_pipeline(p, dot)?;
                if truthy(&v.json) {
                    exec_nodes(body, &v, out)?;
                } else {
                    exec_nodes(alt, dot, out)?;
                }
            }
            Node::Range(p, body, alt) => {
                let v = eval_pipeline(p, dot)?;
                let items: Vec<Json> = match v.json {
                    Json::Array(items) => items,
                    Json::Object(mut members) => {
                        members.sort_by(|a, b| a.0.cmp(&b.0));
                        members
                            .into_iter()
                            .map(|(_, v)| v.inner().clone())
                            .collect()
                    }
                    Json::Null => Vec::new(),
                    other => {
                        return err(format!(
                            "range can't iterate over {}",
                            print(&Val::new(other))
                        ))
                    }
                };
                if items.is_empty() {
                    exec_nodes(alt, dot, out)?;
                }
                for item in items {
                    exec_nodes(body, &Val::new(item), out)?;
                }
            }
        }
    }
    Ok(())
}

fn truthy(j: &Json) -> bool {
    match j {
        Json::Null => false,
        Json::Bool(b) => *b,
        Json::Number(n) => n.parse::<f64>().is_ok_and(|f| f != 0.0),
        Json::String(s) => !s.is_empty(),
        Json::Array(a) => !a.is_empty(),
        Json::Object(o) => !o.is_empty(),
        Json::OmitEmpty(v) => truthy(v),
    }
}

fn eval_pipeline(p: &Pipeline, dot: &Val) -> Result<Val, TemplateError> {
    let mut piped: Option<Val> = None;
    for cmd in p {
        piped = Some(eval_command(cmd, dot, piped)?);
    }
    piped.ok_or_else(|| TemplateError("empty pipeline".into()))
}

fn eval_command(cmd: &Command, dot: &Val, piped: Option<Val>) -> Result<Val, TemplateError> {
    let Some((first, rest)) = cmd.args.split_first() else {
        return err("empty command");
    };
    let Arg::Func(name) = first else {
        if !rest.is_empty() || piped.is_some() {
            return err("can't give argument to non-function");
        }
        return eval_arg(first, dot);
    };
    let mut args = rest
        .iter()
        .map(|a| eval_arg(a, dot))
        .collect::<Result<Vec<_>, _>>()?;
    args.extend(piped);
    call(name, args)
}

fn eval_arg(a: &Arg, dot: &Val) -> Result<Val, TemplateError> {
    match a {
        Arg::Str(s) => Ok(Val::new(Json::String(s.clone()))),
        Arg::Int(n) => Ok(Val::new(Json::Number(n.to_string()))),
        Arg::Func(f) => call(f, Vec::new()),
        Arg::Field(path) => {
            let mut v = dot.clone();
            for name in path {
                v = match &v.json {
                    Json::Object(_) => match v.json.get(name) {
                        Some(j) => Val {
                            json: j.inner().clone(),
                            field: Some(name.clone()),
                        },
                        None => {
                            return err(format!(
                                "executing at <.{}>: can't evaluate field {name}",
                                path.join(".")
                            ))
                        }
                    },
                    Json::Null => {
                        return err(format!(
                            "executing at <.{}>: nil pointer evaluating .{name}",
                            path.join(".")
                        ))
                    }
                    _ => {
                        return err(format!(
                            "executing at <.{}>: can't evaluate field {name} in a non-struct value",
                            path.join(".")
                        ))
                    }
                };
            }
            Ok(v)
        }
    }
}

fn arity(name: &str, args: &[Val], n: usize) -> Result<(), TemplateError> {
    if args.len() == n {
        Ok(())
    } else {
        err(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        ))
    }
}

fn call(name: &str, args: Vec<Val>) -> Result<Val, TemplateError> {
    let s = |v: &Val| print(v);
    match name {
        "json" => {
            arity(name, &args, 1)?;
            let text = if ESCAPE_HTML.with(std::cell::Cell::get) {
                args[0].json.to_go_json()
            } else {
                args[0].json.to_go_json_unescaped()
            };
            Ok(Val::new(Json::String(text)))
        }
        "len" => {
            arity(name, &args, 1)?;
            let n = match &args[0].json {
                Json::Array(a) => a.len(),
                Json::Object(o) => o.len(),
                Json::String(s) => s.len(),
                Json::Null => 0,
                _ => return err("error calling len: len of type not supported"),
            };
            Ok(Val::new(Json::Number(n.to_string())))
        }
        "index" => {
            let Some((first, keys)) = args.split_first() else {
                return err("wrong number of args for index");
            };
            let mut v = first.json.clone();
            for k in keys {
                v = match (&v, &k.json) {
                    (Json::OmitEmpty(inner), _) => index_one(inner, &k.json)?,
                    (Json::Array(a), Json::Number(n)) => {
                        let i: usize = n.parse().map_err(|_| {
                            TemplateError(format!("error calling index: bad index {n}"))
                        })?;
                        match a.get(i) {
                            Some(x) => x.clone(),
                            None => {
                                return err(format!("error calling index: index out of range: {i}"))
                            }
                        }
                    }
                    (Json::Object(_), Json::String(key)) => {
                        v.get(key).cloned().unwrap_or(Json::Null)
                    }
                    (Json::Null, _) => Json::Null,
                    _ => return err("error calling index: cannot index this value"),
                };
            }
            Ok(Val::new(v))
        }
        "join" => {
            arity(name, &args, 2)?;
            let parts: Vec<String> = match &args[0].json {
                Json::Array(a) => a.iter().map(|x| print(&Val::new(x.clone()))).collect(),
                Json::Null => Vec::new(),
                _ => return err("error calling join: not a list"),
            };
            Ok(Val::new(Json::String(parts.join(&s(&args[1])))))
        }
        "split" => {
            arity(name, &args, 2)?;
            let (text, sep) = (s(&args[0]), s(&args[1]));
            Ok(Val::new(Json::Array(
                text.split(sep.as_str())
                    .map(|p| Json::String(p.into()))
                    .collect(),
            )))
        }
        "upper" | "lower" | "title" => {
            arity(name, &args, 1)?;
            let t = s(&args[0]);
            let r = match name {
                "upper" => t.to_uppercase(),
                "lower" => t.to_lowercase(),
                _ => title(&t),
            };
            Ok(Val::new(Json::String(r)))
        }
        "eq" => {
            if args.len() < 2 {
                return err("wrong number of args for eq: want at least 2");
            }
            let first = args[0].json.inner();
            let r = args[1..].iter().any(|a| a.json.inner() == first);
            Ok(Val::new(Json::Bool(r)))
        }
        "ne" => {
            arity(name, &args, 2)?;
            Ok(Val::new(Json::Bool(
                args[0].json.inner() != args[1].json.inner(),
            )))
        }
        "not" => {
            arity(name, &args, 1)?;
            Ok(Val::new(Json::Bool(!truthy(&args[0].json))))
        }
        "and" | "or" => {
            let want = name == "or";
            let mut last = None;
            for a in args {
                let stop = truthy(&a.json) == want;
                last = Some(a);
                if stop {
                    break;
                }
            }
            last.ok_or_else(|| TemplateError(format!("wrong number of args for {name}")))
        }
        "printf" => {
            let Some((f, rest)) = args.split_first() else {
                return err("wrong number of args for printf");
            };
            Ok(Val::new(Json::String(printf(&print(f), rest))))
        }
        "println" => {
            let parts: Vec<String> = args.iter().map(print).collect();
            Ok(Val::new(Json::String(parts.join(" ") + "\n")))
        }
        _ => err(format!("function {name:?} not defined")),
    }
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%s`, `%v`, `%d`, `%q`, `%%`.
fn printf(format: &str, args: &[Val]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(verb @ ('s' | 'v' | 'd' | 'q')) => match args.next() {
                Some(a) if verb == 'q' => out.push_str(&Json::String(print(a)).to_go_json()),
                Some(a) => out.push_str(&print(a)),
                None => out.push_str(&format!("%!{verb}(MISSING)")),
            },
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push_str("%!(NOVERB)"),
        }
    }
    out
}

/// `index` of an unwrapped value by one key.
fn index_one(v: &Json, k: &Json) -> Result<Json, TemplateError> {
    match (v.inner(), k) {
        (Json::Array(a), Json::Number(n)) => {
            let i: usize = n
                .parse()
                .map_err(|_| TemplateError(format!("error calling index: bad index {n}")))?;
            a.get(i).map(|x| x.inner().clone()).ok_or_else(|| {
                TemplateError(format!("error calling index: index out of range: {i}"))
            })
        }
        (Json::Object(_), Json::String(key)) => Ok(v.get(key).cloned().unwrap_or(Json::Null)),
        (Json::Null, _) => Ok(Json::Null),
        _ => err("error calling index: cannot index this value"),
    }
}

fn title(s: &str) -> String {
    let mut out = String::new();
    let mut start = true;
    for c in s.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric();
    }
    out
}

/// Go's `%v` of the value (`[a b]`, `map[k:v]`), a null printed as that field's nil.
fn print(v: &Val) -> String {
    match &v.json {
        Json::Null => match v.field.as_deref() {
            Some("Labels" | "Volumes" | "ExposedPorts" | "Options" | "Data") => "map[]".into(),
            Some("Healthcheck" | "Metadata") => "<nil>".into(),
            Some(_) => "[]".into(),
            None => "<no value>".into(),
        },
        j => print_json(j),
    }
}

fn print_json(j: &Json) -> String {
    match j {
        Json::Null => "<nil>".into(),
        Json::OmitEmpty(v) => print_json(v),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.clone(),
        Json::String(s) => s.clone(),
        Json::Array(items) => {
            let parts: Vec<String> = items.iter().map(print_json).collect();
            format!("[{}]", parts.join(" "))
        }
        Json::Object(members) => {
            let mut sorted: Vec<&(String, Json)> = members.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            let parts: Vec<String> = sorted
                .iter()
                .map(|(k, v)| format!("{k}:{}", print_json(v)))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(t: &str, doc: &str) -> Result<String, TemplateError> {
        Template::parse(t)?.execute(&Json::parse(doc.as_bytes()).unwrap())
    }

    const IMG: &str = r#"{"Id":"sha256:abc","RepoTags":["busybox:latest","b:1"],"Size":1234,
        "Config":{"Cmd":["sh","-c","echo hi"],"Entrypoint":null,"Labels":null,"Env":["A=1"]},
        "RootFS":{"Type":"layers","Layers":["sha256:1","sha256:2"]}}"#;

    #[test]
    fn fields_and_functions() {
        assert_eq!(run("{{.Config.Cmd}}", IMG).unwrap(), "[sh -c echo hi]");
        assert_eq!(run("{{len .RootFS.Layers}}", IMG).unwrap(), "2");
        assert_eq!(run("{{index .RepoTags 0}}", IMG).unwrap(), "busybox:latest");
        assert_eq!(run("{{.Size}} {{.Id}}", IMG).unwrap(), "1234 sha256:abc");
        assert_eq!(
            run("{{json .Config}}", IMG).unwrap(),
            r#"{"Cmd":["sh","-c","echo hi"],"Entrypoint":null,"Labels":null,"Env":["A=1"]}"#
        );
        assert_eq!(
            run("{{.Config.Entrypoint}} {{.Config.Labels}}", IMG).unwrap(),
            "[] map[]"
        );
        assert_eq!(
            run("{{.RootFS | json}}", IMG).unwrap(),
            r#"{"Type":"layers","Layers":["sha256:1","sha256:2"]}"#
        );
        assert_eq!(
            run(r#"{{join .RepoTags ","}}"#, IMG).unwrap(),
            "busybox:latest,b:1"
        );
        assert_eq!(run("{{upper .RootFS.Type}}", IMG).unwrap(), "LAYERS");
    }

    #[test]
    fn control_and_trim() {
        assert_eq!(
            run("{{range .RepoTags}}<{{.}}>{{end}}", IMG).unwrap(),
            "<busybox:latest><b:1>"
        );
        assert_eq!(
            run("{{if .Config.Labels}}y{{else}}n{{end}}", IMG).unwrap(),
            "n"
        );
        assert_eq!(run("a  {{- .Size -}}  b", IMG).unwrap(), "a1234b");
        assert_eq!(
            run("{{range .Config.Entrypoint}}x{{else}}none{{end}}", IMG).unwrap(),
            "none"
        );
    }

    #[test]
    fn comparisons_printf_with() {
        assert_eq!(
            run(r#"{{if eq .RootFS.Type "layers"}}y{{end}}"#, IMG).unwrap(),
            "y"
        );
        assert_eq!(
            run(r#"{{if ne .Size 1234}}y{{else}}n{{end}}"#, IMG).unwrap(),
            "n"
        );
        assert_eq!(run("{{not .Config.Labels}}", IMG).unwrap(), "true");
        assert_eq!(run("{{or .Config.Labels .Size}}", IMG).unwrap(), "1234");
        assert_eq!(
            run(r#"{{printf "%s=%d %q %%" .Id .Size .RootFS.Type}}"#, IMG).unwrap(),
            r#"sha256:abc=1234 "layers" %"#
        );
        assert_eq!(
            run("{{with .RootFS}}{{.Type}}{{end}}", IMG).unwrap(),
            "layers"
        );
        assert_eq!(
            run("{{with .Config.Labels}}x{{else}}none{{end}}", IMG).unwrap(),
            "none"
        );
    }

    #[test]
    fn errors() {
        assert!(run("{{.Nope}}", IMG)
            .unwrap_err()
            .0
            .contains("can't evaluate field Nope"));
        assert!(run("{{.Size", IMG).is_err());
        assert!(run("{{nofunc .}}", IMG).is_err());
        assert!(run("{{if .Size}}", IMG).is_err());
        assert!(run("{{index .RepoTags 5}}", IMG).is_err());
    }
}
