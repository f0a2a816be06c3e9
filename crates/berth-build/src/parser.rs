//! The Dockerfile parser: parser directives, comments, continuations, heredocs, flags and the
//! argument forms of each instruction, following the rules of moby's BuildKit
//! `frontend/dockerfile/parser` and `instructions` packages.

use std::fmt;

use crate::instruction::{
    Command, CopyArgs, Dockerfile, Health, Heredoc, Instruction, KeyValue, Kind, Note, RunFlags,
};
use crate::lex::{is_docker_space, process_word, split_whitespace_docker, split_words_raw, NoVars};

/// A Dockerfile that could not be parsed: where, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Dockerfile:{}:{}: {}",
            self.line, self.column, self.message
        )
    }
}

const KEYWORDS: &[&str] = &[
    "add",
    "arg",
    "cmd",
    "copy",
    "entrypoint",
    "env",
    "expose",
    "from",
    "healthcheck",
    "label",
    "maintainer",
    "onbuild",
    "run",
    "shell",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

/// Parses a Dockerfile's bytes.
pub fn parse(src: &[u8]) -> Result<Dockerfile, ParseError> {
    let src = src.strip_prefix(b"\xef\xbb\xbf").unwrap_or(src);
    let text = std::str::from_utf8(src).map_err(|e| {
        let valid = src.get(..e.valid_up_to()).unwrap_or_default();
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = valid.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
        ParseError {
            line,
            column,
            message: "the Dockerfile is not valid UTF-8".into(),
        }
    })?;
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut parser = Parser {
        lines,
        pos: 0,
        escape: '\\',
        notes: Vec::new(),
    };
    let syntax = parser.directives()?;
    let mut instructions = Vec::new();
    while let Some(logical) = parser.next_logical()? {
        let inst = parser.instruction(&logical, true)?;
        instructions.push(inst);
    }
    Ok(Dockerfile {
        escape: parser.escape,
        syntax,
        instructions,
        notes: parser.notes,
    })
}

/// Parses one instruction's text (an ONBUILD trigger stored in an image, for instance) with
/// the given escape character.
pub fn parse_instruction(text: &str, escape: char) -> Result<Instruction, ParseError> {
    let mut parser = Parser {
        lines: text.split('\n').collect(),
        pos: 0,
        escape,
        notes: Vec::new(),
    };
    let logical = parser.next_logical()?.ok_or_else(|| ParseError {
        line: 1,
        column: 1,
        message: "expected an instruction".into(),
    })?;
    parser.instruction(&logical, true)
}

/// A logical line: the physical pieces joined, with a map back to lines and columns.
struct Logical {
    text: String,
    /// (char offset in `text`, line, column of that char).
    pieces: Vec<(usize, usize, usize)>,
    first_line: usize,
    last_line: usize,
}

impl Logical {
    /// Line and column of a char offset in the logical text.
    fn at(&self, offset: usize) -> (usize, usize) {
        let mut best = (self.first_line, 1 + offset);
        for &(start, line, col) in &self.pieces {
            if start <= offset {
                best = (line, col + (offset - start));
            }
        }
        best
    }
}

struct Parser<'a> {
    lines: Vec<&'a str>,
    pos: usize,
    escape: char,
    notes: Vec<Note>,
}

fn is_comment(line: &str) -> bool {
    line.trim_start_matches(is_docker_space).starts_with('#')
}

fn is_blank(line: &str) -> bool {
    line.chars().all(char::is_whitespace)
}

/// `# key=value` at the top of the file.
fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.trim_start().strip_prefix('#')?;
    let (key, value) = rest.split_once('=')?;
    let key = key.trim();
    let mut chars = key.chars();
    let first = chars.next()?;
    if !first.is_ascii_alphabetic() || !chars.all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    Some((key.to_ascii_lowercase(), value.to_string()))
}

impl Parser<'_> {
    fn err(&self, line: usize, column: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            line,
            column,
            message: message.into(),
        }
    }

    /// Reads the parser directives at the top; returns `# syntax=`.
    fn directives(&mut self) -> Result<Option<String>, ParseError> {
        let mut syntax = None;
        let mut seen: Vec<String> = Vec::new();
        while let Some(line) = self.lines.get(self.pos).copied() {
            let Some((key, value)) = directive(line) else {
                break;
            };
            let lineno = self.pos + 1;
            if seen.contains(&key) {
                return Err(self.err(
                    lineno,
                    1,
                    format!("only one {key} parser directive can be used"),
                ));
            }
            seen.push(key.clone());
            match key.as_str() {
                "escape" => {
                    self.escape = match value.as_str() {
                        "\\" => '\\',
                        "`" => '`',
                        _ => {
                            return Err(self.err(
                                lineno,
                                1,
                                format!("invalid escape token '{value}' does not match ` or \\"),
                            ))
                        }
                    }
                }
                "syntax" => {
                    self.notes.push(Note {
                        line: lineno,
                        message: format!(
                            "syntax directive {value:?} ignored: berth's builder reads the Dockerfile itself"
                        ),
                    });
                    syntax = Some(value);
                }
                "check" => self.notes.push(Note {
                    line: lineno,
                    message: format!(
                        "check directive {value:?} ignored: berth runs no build checks"
                    ),
                }),
                _ => {
                    // An unknown directive is a comment, and ends the directives.
                    self.pos += 1;
                    break;
                }
            }
            self.pos += 1;
        }
        Ok(syntax)
    }

    /// Strips a trailing escape (and the blanks after it): the line continues.
    fn continuation<'s>(&self, line: &'s str) -> (&'s str, bool) {
        let trimmed = line.trim_end_matches([' ', '\t']);
        match trimmed.strip_suffix(self.escape) {
            Some(rest) => (rest, true),
            None => (line, false),
        }
    }

    /// The next logical line, skipping comments and blank lines.
    fn next_logical(&mut self) -> Result<Option<Logical>, ParseError> {
        loop {
            let Some(line) = self.lines.get(self.pos).copied() else {
                return Ok(None);
            };
            if is_blank(line) || is_comment(line) {
                self.pos += 1;
                continue;
            }
            let first_line = self.pos + 1;
            let mut logical = Logical {
                text: String::new(),
                pieces: Vec::new(),
                first_line,
                last_line: first_line,
            };
            let mut current = line;
            loop {
                let (content, more) = self.continuation(current);
                logical
                    .pieces
                    .push((logical.text.chars().count(), self.pos + 1, 1));
                logical.last_line = self.pos + 1;
                logical.text.push_str(content);
                self.pos += 1;
                if !more {
                    break;
                }
                // Comments and empty lines inside a continuation are skipped.
                let mut next = None;
                while let Some(l) = self.lines.get(self.pos).copied() {
                    if is_comment(l) {
                        self.pos += 1;
                        continue;
                    }
                    if is_blank(l) {
                        self.notes.push(Note {
                            line: self.pos + 1,
                            message: "empty continuation line".into(),
                        });
                        self.pos += 1;
                        continue;
                    }
                    next = Some(l);
                    break;
                }
                match next {
                    Some(l) => current = l,
                    None => break,
                }
            }
            return Ok(Some(logical));
        }
    }

    /// Reads the bodies of the heredocs named in an instruction line.
    fn heredocs(&mut self, logical: &mut Logical) -> Result<Vec<Heredoc>, ParseError> {
        let mut docs = Vec::new();
        for word in split_words_raw(&logical.text, self.escape) {
            let Some(mut doc) = heredoc_marker(&word, self.escape) else {
                continue;
            };
            let mut body = String::new();
            loop {
                let Some(line) = self.lines.get(self.pos).copied() else {
                    return Err(self.err(
                        logical.first_line,
                        1,
                        format!(
                            "unterminated heredoc {}: no line {:?} before the end",
                            doc.marker, doc.name
                        ),
                    ));
                };
                self.pos += 1;
                logical.last_line = self.pos;
                let line = if doc.chomp {
                    line.trim_start_matches('\t')
                } else {
                    line
                };
                if line == doc.name {
                    break;
                }
                body.push_str(line);
                body.push('\n');
            }
            doc.body = body;
            docs.push(doc);
        }
        Ok(docs)
    }

    fn instruction(
        &mut self,
        logical: &Logical,
        allow_heredocs: bool,
    ) -> Result<Instruction, ParseError> {
        let text = logical.text.as_str();
        let lead = text.chars().take_while(|c| c.is_whitespace()).count();
        let trimmed = text.trim();
        let (word, rest) = match trimmed.find(is_docker_space) {
            Some(i) => (
                trimmed.get(..i).unwrap_or_default(),
                trimmed
                    .get(i..)
                    .unwrap_or_default()
                    .trim_start_matches(is_docker_space),
            ),
            None => (trimmed, ""),
        };
        let (kw_line, kw_col) = logical.at(lead);
        let cmd = word.to_ascii_lowercase();
        if !KEYWORDS.contains(&cmd.as_str()) {
            return Err(self.err(kw_line, kw_col, format!("unknown instruction: {word}")));
        }
        let rest_offset = trimmed.chars().count() - rest.chars().count() + lead;
        let (flags, args) = extract_flags(rest);
        let args_offset = rest_offset + rest.chars().count() - args.chars().count();
        let ctx = Ctx {
            keyword: word.to_ascii_uppercase(),
            escape: self.escape,
            line: kw_line,
            column: kw_col,
            logical,
            args_offset,
        };
        let mut logical_owned = Logical {
            text: logical.text.clone(),
            pieces: logical.pieces.clone(),
            first_line: logical.first_line,
            last_line: logical.last_line,
        };
        let heredocs = if allow_heredocs && matches!(cmd.as_str(), "run" | "copy" | "add") {
            self.heredocs(&mut logical_owned)?
        } else {
            Vec::new()
        };
        let mut flags = Flags::new(flags, &ctx);
        let kind = match cmd.as_str() {
            "from" => {
                let platform = flags.string("platform")?;
                flags.done()?;
                let words = split_whitespace_docker(args);
                match words.as_slice() {
                    [image] => Kind::From {
                        image: image.clone(),
                        name: None,
                        platform,
                    },
                    [image, as_, name] if as_.eq_ignore_ascii_case("as") => {
                        let name = name.to_ascii_lowercase();
                        if !valid_stage_name(&name) {
                            return Err(ctx.at_args(format!(
                                "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                            )));
                        }
                        Kind::From {
                            image: image.clone(),
                            name: Some(name),
                            platform,
                        }
                    }
                    _ => return Err(ctx.here("FROM requires either one or three arguments")),
                }
            }
            "run" => {
                let mut run = RunFlags {
                    mounts: flags.strings("mount"),
                    ..RunFlags::default()
                };
                run.network = flags.string("network")?;
                run.security = flags.string("security")?;
                flags.done()?;
                let command = maybe_json(args, &ctx)?;
                if command == Command::Shell(String::new()) {
                    return Err(ctx.here("RUN requires at least one argument"));
                }
                Kind::Run {
                    command,
                    heredocs,
                    flags: run,
                }
            }
            "copy" | "add" => {
                let mut a = CopyArgs::default();
                if cmd == "copy" {
                    a.from = flags.string("from")?;
                } else {
                    a.checksum = flags.string("checksum")?;
                    a.keep_git_dir = flags.bool("keep-git-dir")?;
                }
                a.chown = flags.string("chown")?;
                a.chmod = flags.string("chmod")?;
                a.link = flags.bool("link")?;
                flags.done()?;
                let (mut words, json) = match json_strings(args, &ctx)? {
                    Some(w) => (w, true),
                    None => (split_whitespace_docker(args), false),
                };
                if words.len() < 2 {
                    return Err(ctx.here(format!(
                        "{} requires at least two arguments, but only one was provided. Destination could not be determined",
                        ctx.keyword
                    )));
                }
                a.dest = words.pop().unwrap_or_default();
                a.sources = words;
                a.json = json;
                a.heredocs = heredocs;
                if a.chmod.as_deref().is_some_and(|m| !valid_chmod(m)) {
                    return Err(ctx.flag_error(
                        "chmod",
                        format!(
                            "invalid chmod parameter: {:?}: expected an octal mode",
                            a.chmod.clone().unwrap_or_default()
                        ),
                    ));
                }
                if cmd == "copy" {
                    Kind::Copy(a)
                } else {
                    Kind::Add(a)
                }
            }
            "env" | "label" => {
                flags.done()?;
                let pairs = name_values(args, &ctx)?;
                if cmd == "env" {
                    Kind::Env(pairs)
                } else {
                    Kind::Label(pairs)
                }
            }
            "arg" => {
                flags.done()?;
                let words = split_words_raw(args, self.escape);
                if words.is_empty() {
                    return Err(ctx.here("ARG requires at least one argument"));
                }
                let mut out = Vec::new();
                for w in words {
                    match w.split_once('=') {
                        Some(("", _)) => return Err(ctx.at_args("ARG names can not be blank")),
                        Some((k, v)) => out.push((k.to_string(), Some(v.to_string()))),
                        None => out.push((w, None)),
                    }
                }
                Kind::Arg(out)
            }
            "workdir" | "user" | "stopsignal" | "maintainer" => {
                flags.done()?;
                if args.is_empty() {
                    return Err(ctx.here(format!("{} requires exactly one argument", ctx.keyword)));
                }
                let s = args.to_string();
                match cmd.as_str() {
                    "workdir" => Kind::Workdir(s),
                    "user" => Kind::User(s),
                    "stopsignal" => Kind::StopSignal(s),
                    _ => Kind::Maintainer(s),
                }
            }
            "expose" => {
                flags.done()?;
                let ports = split_whitespace_docker(args);
                if ports.is_empty() {
                    return Err(ctx.here("EXPOSE requires at least one argument"));
                }
                Kind::Expose(ports)
            }
            "volume" => {
                flags.done()?;
                let (paths, json) = match json_strings(args, &ctx)? {
                    Some(w) => (w, true),
                    None => (split_whitespace_docker(args), false),
                };
                if paths.is_empty() {
                    return Err(ctx.here("VOLUME requires at least one argument"));
                }
                if paths.iter().any(|p| p.trim().is_empty()) {
                    return Err(ctx.at_args("VOLUME specified can not be an empty string"));
                }
                Kind::Volume { paths, json }
            }
            "cmd" | "entrypoint" => {
                flags.done()?;
                let command = maybe_json(args, &ctx)?;
                if cmd == "cmd" {
                    Kind::Cmd(command)
                } else {
                    Kind::Entrypoint(command)
                }
            }
            "shell" => {
                flags.done()?;
                match json_strings(args, &ctx)? {
                    Some(w) if !w.is_empty() => Kind::Shell(w),
                    Some(_) => return Err(ctx.here("SHELL requires at least one argument")),
                    None => {
                        return Err(ctx.at_args(
                            "SHELL requires the arguments to be in JSON form, e.g. SHELL [\"/bin/sh\", \"-c\"]",
                        ))
                    }
                }
            }
            "healthcheck" => self.healthcheck(args, &ctx, &mut flags)?,
            "onbuild" => {
                flags.done()?;
                if args.is_empty() {
                    return Err(ctx.here("ONBUILD requires at least one argument"));
                }
                let sub = Logical {
                    text: args.to_string(),
                    pieces: vec![(
                        0,
                        ctx.logical.at(args_offset).0,
                        ctx.logical.at(args_offset).1,
                    )],
                    first_line: logical.first_line,
                    last_line: logical.last_line,
                };
                let first = split_whitespace_docker(args)
                    .first()
                    .map(|w| w.to_ascii_uppercase())
                    .unwrap_or_default();
                match first.as_str() {
                    "ONBUILD" => {
                        return Err(
                            ctx.at_args("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
                        )
                    }
                    "FROM" | "MAINTAINER" => {
                        return Err(
                            ctx.at_args(format!("{first} isn't allowed as an ONBUILD trigger"))
                        )
                    }
                    _ => {}
                }
                let trigger = self.instruction(&sub, false)?;
                Kind::Onbuild {
                    expression: args.to_string(),
                    trigger: Box::new(trigger),
                }
            }
            _ => return Err(ctx.here(format!("unknown instruction: {word}"))),
        };
        Ok(Instruction {
            line: logical.first_line,
            end_line: logical_owned.last_line,
            original: logical.text.clone(),
            kind,
        })
    }

    fn healthcheck(
        &self,
        args: &str,
        ctx: &Ctx<'_>,
        flags: &mut Flags<'_>,
    ) -> Result<Kind, ParseError> {
        let (typ, rest) = match args.find(char::is_whitespace) {
            Some(i) => (
                args.get(..i).unwrap_or_default(),
                args.get(i..).unwrap_or_default().trim_start(),
            ),
            None => (args, ""),
        };
        if typ.is_empty() {
            return Err(ctx.here("HEALTHCHECK requires at least one argument"));
        }
        match typ.to_ascii_uppercase().as_str() {
            "NONE" => {
                if !rest.is_empty() {
                    return Err(ctx.at_args("HEALTHCHECK NONE takes no arguments"));
                }
                flags.done()?;
                Ok(Kind::Healthcheck(Health::None))
            }
            "CMD" => {
                let mut written = Vec::new();
                let mut duration = |flags: &mut Flags<'_>, name: &str| -> Result<i64, ParseError> {
                    let Some(v) = flags.string(name)? else {
                        return Ok(0);
                    };
                    written.push((name.to_string(), v.clone()));
                    if v.is_empty() {
                        return Ok(0);
                    }
                    let d = parse_go_duration(&v).ok_or_else(|| {
                        ctx.flag_error(name, format!("time: invalid duration {v:?}"))
                    })?;
                    if d < 1_000_000 {
                        return Err(ctx.flag_error(
                            name,
                            format!("Interval {name:?} cannot be less than 1ms"),
                        ));
                    }
                    Ok(d)
                };
                let interval = duration(flags, "interval")?;
                let timeout = duration(flags, "timeout")?;
                let start_period = duration(flags, "start-period")?;
                let start_interval = duration(flags, "start-interval")?;
                let mut retries = 0;
                if let Some(v) = flags.string("retries")? {
                    written.push(("retries".to_string(), v.clone()));
                    if !v.is_empty() {
                        retries = v.parse::<i32>().map_err(|_| {
                            ctx.flag_error(
                                "retries",
                                format!("strconv.ParseInt: parsing {v:?}: invalid syntax"),
                            )
                        })?;
                        if retries < 1 {
                            return Err(ctx.flag_error(
                                "retries",
                                format!("--retries must be at least 1 (not {retries})"),
                            ));
                        }
                    }
                }
                flags.done()?;
                let command = maybe_json(rest, ctx)?;
                if command == Command::Shell(String::new()) || command == Command::Exec(Vec::new())
                {
                    return Err(ctx.here("Missing command after HEALTHCHECK CMD"));
                }
                Ok(Kind::Healthcheck(Health::Cmd {
                    command,
                    interval,
                    timeout,
                    start_period,
                    start_interval,
                    retries: i64::from(retries),
                    flags: written,
                }))
            }
            _ => Err(ctx.at_args(format!("Unknown type {typ:?} in HEALTHCHECK (try CMD)"))),
        }
    }
}

/// The context of one instruction, for error positions.
struct Ctx<'a> {
    keyword: String,
    escape: char,
    line: usize,
    column: usize,
    logical: &'a Logical,
    args_offset: usize,
}

impl Ctx<'_> {
    fn here(&self, message: impl Into<String>) -> ParseError {
        ParseError {
            line: self.line,
            column: self.column,
            message: message.into(),
        }
    }

    fn at_args(&self, message: impl Into<String>) -> ParseError {
        let (line, column) = self.logical.at(self.args_offset);
        ParseError {
            line,
            column,
            message: message.into(),
        }
    }

    fn flag_error(&self, name: &str, message: impl Into<String>) -> ParseError {
        let needle = format!("--{name}");
        let (line, column) = match self.logical.text.find(&needle) {
            Some(byte) => {
                let chars = self
                    .logical
                    .text
                    .get(..byte)
                    .unwrap_or_default()
                    .chars()
                    .count();
                self.logical.at(chars)
            }
            None => (self.line, self.column),
        };
        ParseError {
            line,
            column,
            message: message.into(),
        }
    }
}

/// The flags of an instruction, taken one by one; `done` refuses any left.
struct Flags<'a> {
    items: Vec<(String, Option<String>, bool)>,
    ctx: &'a Ctx<'a>,
}

impl<'a> Flags<'a> {
    fn new(words: Vec<String>, ctx: &'a Ctx<'a>) -> Flags<'a> {
        let items = words
            .into_iter()
            .map(|w| {
                let body = w.strip_prefix("--").unwrap_or(&w).to_string();
                match body.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string()), false),
                    None => (body, None, false),
                }
            })
            .collect();
        Flags { items, ctx }
    }

    fn take(&mut self, name: &str) -> Result<Option<Option<String>>, ParseError> {
        let mut found = None;
        for item in self.items.iter_mut().filter(|i| i.0 == name) {
            if found.is_some() {
                return Err(self
                    .ctx
                    .flag_error(name, format!("Duplicate flag specified: {name}")));
            }
            item.2 = true;
            found = Some(item.1.clone());
        }
        Ok(found)
    }

    fn string(&mut self, name: &str) -> Result<Option<String>, ParseError> {
        match self.take(name)? {
            None => Ok(None),
            Some(Some(v)) => Ok(Some(v)),
            Some(None) => Err(self
                .ctx
                .flag_error(name, format!("Missing a value on flag: --{name}"))),
        }
    }

    fn strings(&mut self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        for item in self.items.iter_mut().filter(|i| i.0 == name) {
            item.2 = true;
            out.push(item.1.clone().unwrap_or_default());
        }
        out
    }

    fn bool(&mut self, name: &str) -> Result<bool, ParseError> {
        match self.take(name)? {
            None => Ok(false),
            Some(None) => Ok(true),
            Some(Some(v)) => match v.to_ascii_lowercase().as_str() {
                "true" | "" => Ok(true),
                "false" => Ok(false),
                _ => Err(self.ctx.flag_error(
                    name,
                    format!("expecting boolean value for flag {name}, not: {v}"),
                )),
            },
        }
    }

    fn done(&self) -> Result<(), ParseError> {
        if let Some(item) = self.items.iter().find(|i| !i.2) {
            return Err(self
                .ctx
                .flag_error(&item.0, format!("Unknown flag: {}", item.0)));
        }
        Ok(())
    }
}

/// Splits leading `--flag[=value]` words off an instruction's arguments (quotes and `\`
/// escapes inside a flag word are resolved; `--` alone ends the flags).
pub(crate) fn extract_flags(line: &str) -> (Vec<String>, &str) {
    let mut words = Vec::new();
    let mut rest = line;
    loop {
        let trimmed = rest.trim_start();
        if !trimmed.starts_with("--") {
            return (words, trimmed);
        }
        let mut word = String::new();
        let mut blank_ok = false;
        let mut quote: Option<char> = None;
        let mut chars = trimmed.char_indices().peekable();
        let mut end = trimmed.len();
        while let Some((i, ch)) = chars.next() {
            if let Some(q) = quote {
                if ch == q {
                    quote = None;
                } else if ch == '\\' {
                    match chars.next() {
                        Some((_, n)) => word.push(n),
                        None => quote = None,
                    }
                } else {
                    word.push(ch);
                }
                continue;
            }
            if ch.is_whitespace() {
                end = i;
                break;
            }
            if ch == '\'' || ch == '"' {
                quote = Some(ch);
                blank_ok = true;
                continue;
            }
            if ch == '\\' {
                if let Some((_, n)) = chars.next() {
                    word.push(n);
                }
                continue;
            }
            word.push(ch);
        }
        let after = trimmed.get(end..).unwrap_or_default();
        if word == "--" {
            return (words, after.trim_start());
        }
        if blank_ok || !word.is_empty() {
            words.push(word);
        }
        rest = after;
    }
}

fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

fn valid_chmod(mode: &str) -> bool {
    !mode.is_empty() && mode.len() <= 4 && mode.chars().all(|c| ('0'..='7').contains(&c))
}

/// A JSON array of strings, when `args` is one; `None` when it is not JSON at all.
fn json_strings(args: &str, ctx: &Ctx<'_>) -> Result<Option<Vec<String>>, ParseError> {
    let t = args.trim();
    if !t.starts_with('[') {
        return Ok(None);
    }
    match serde_json::from_str::<Vec<serde_json::Value>>(t) {
        Ok(values) => {
            let mut out = Vec::new();
            for v in values {
                match v {
                    serde_json::Value::String(s) => out.push(s),
                    _ => return Err(ctx.at_args("dockerfile JSON array must be of strings")),
                }
            }
            Ok(Some(out))
        }
        Err(_) => Ok(None),
    }
}

/// docker's `parseMaybeJSON`: exec form for a JSON array of strings, shell form otherwise.
fn maybe_json(args: &str, ctx: &Ctx<'_>) -> Result<Command, ParseError> {
    Ok(match json_strings(args, ctx)? {
        Some(v) => Command::Exec(v),
        None => Command::Shell(args.to_string()),
    })
}

/// ENV's and LABEL's `k=v k2=v2` or the old `k v` form.
fn name_values(args: &str, ctx: &Ctx<'_>) -> Result<Vec<KeyValue>, ParseError> {
    let words = split_words_raw(args, ctx.escape);
    let kw = &ctx.keyword;
    let Some(first) = words.first() else {
        return Err(ctx.here(format!("{kw} requires at least one argument")));
    };
    if !first.contains('=') {
        let parts: Vec<&str> = args.splitn(2, is_docker_space).collect();
        let (Some(k), Some(v)) = (parts.first(), parts.get(1)) else {
            return Err(ctx.at_args(format!("{kw} must have two arguments")));
        };
        let v = v.trim_start_matches(is_docker_space);
        if v.is_empty() {
            return Err(ctx.at_args(format!("{kw} must have two arguments")));
        }
        return Ok(vec![KeyValue {
            key: (*k).to_string(),
            value: v.to_string(),
            legacy: true,
        }]);
    }
    let mut out = Vec::new();
    for w in words {
        let Some((k, v)) = w.split_once('=') else {
            return Err(ctx.at_args(format!(
                "Syntax error - can't find = in {w:?}. Must be of the form: name=value"
            )));
        };
        if k.is_empty() {
            return Err(ctx.at_args(format!("{kw} names can not be blank")));
        }
        out.push(KeyValue {
            key: k.to_string(),
            value: v.to_string(),
            legacy: false,
        });
    }
    Ok(out)
}

/// A heredoc marker word (`<<EOF`, `<<-EOF`, `<<"EOF"`, `2<<EOF`).
fn heredoc_marker(word: &str, escape: char) -> Option<Heredoc> {
    let digits = word.chars().take_while(char::is_ascii_digit).count();
    let after = word.get(digits..)?.strip_prefix("<<")?;
    let (chomp, rest) = match after.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, after),
    };
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    let name = process_word(rest, &NoVars, escape).ok()?;
    if name.is_empty() || name.chars().any(char::is_whitespace) {
        return None;
    }
    let quoted = rest.contains(['\'', '"']);
    Some(Heredoc {
        name,
        marker: word.to_string(),
        expand: !quoted,
        chomp,
        body: String::new(),
    })
}

/// Go's `time.ParseDuration`, in nanoseconds.
pub(crate) fn parse_go_duration(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .count();
        if num_len == 0 {
            return None;
        }
        let num: f64 = rest.get(..num_len)?.parse().ok()?;
        rest = rest.get(num_len..)?;
        let unit_len = rest
            .chars()
            .take_while(|c| !(c.is_ascii_digit() || *c == '.'))
            .map(char::len_utf8)
            .sum::<usize>();
        let unit = rest.get(..unit_len)?;
        rest = rest.get(unit_len..)?;
        let scale = match unit {
            "ns" => 1.0,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += num * scale;
    }
    if total > 9.2e18 {
        return None;
    }
    #[allow(clippy::cast_possible_truncation)]
    let n = total.round() as i64;
    Some(if neg { -n } else { n })
}
