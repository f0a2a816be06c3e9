//! The parsed Dockerfile: one typed [`Instruction`] per logical line, its arguments kept as
//! written (quotes, escapes and `$VAR` unexpanded: the planner expands them where docker
//! does). [`std::fmt::Display`] prints an instruction back as Dockerfile text that parses to
//! the same instruction.

use std::fmt;

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The escape character (`\` unless `# escape=` says otherwise).
    pub escape: char,
    /// The `# syntax=` directive, if any (recorded; berth's builder is the only frontend).
    pub syntax: Option<String>,
    /// The instructions in order.
    pub instructions: Vec<Instruction>,
    /// Things accepted but not acted on (ignored directives, empty continuation lines).
    pub notes: Vec<Note>,
}

/// A remark about the Dockerfile that is not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The 1-based line it is about.
    pub line: usize,
    /// What was noticed.
    pub message: String,
}

/// One instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// The 1-based line where the instruction starts.
    pub line: usize,
    /// The 1-based line where it ends (continuations and heredocs included).
    pub end_line: usize,
    /// The logical line as written, continuations joined (docker's `Original`).
    pub original: String,
    /// What the instruction is.
    pub kind: Kind,
}

/// A command in exec (JSON) or shell form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `["prog", "arg"]`: run as given.
    Exec(Vec<String>),
    /// `prog arg`: given to the shell as one string.
    Shell(String),
}

/// A here-document of RUN, COPY or ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word, unquoted.
    pub name: String,
    /// The marker as written in the line (`<<EOF`, `<<-"EOF"`, `3<<EOF`).
    pub marker: String,
    /// False when the delimiter was quoted: then the body is not expanded.
    pub expand: bool,
    /// `<<-`: leading tabs were removed from the body and the delimiter line.
    pub chomp: bool,
    /// The body, every line ending with `\n` (leading tabs already removed for `<<-`).
    pub body: String,
}

/// RUN's flags.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunFlags {
    /// `--mount=...` values (parsed, refused by the planner).
    pub mounts: Vec<String>,
    /// `--network=default|none|host`.
    pub network: Option<String>,
    /// `--security=...` (refused by the planner).
    pub security: Option<String>,
}

/// COPY's and ADD's arguments.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopyArgs {
    /// `--from=stage|index|image` (COPY only).
    pub from: Option<String>,
    /// `--chown=user[:group]`.
    pub chown: Option<String>,
    /// `--chmod=mode`.
    pub chmod: Option<String>,
    /// `--link` (accepted: berth always builds the layer from the copied files alone).
    pub link: bool,
    /// `--checksum=` (ADD only).
    pub checksum: Option<String>,
    /// `--keep-git-dir` (ADD only).
    pub keep_git_dir: bool,
    /// Sources as written (unexpanded); a heredoc source is its marker.
    pub sources: Vec<String>,
    /// The destination as written.
    pub dest: String,
    /// The arguments were a JSON array.
    pub json: bool,
    /// Heredocs of the line, in order.
    pub heredocs: Vec<Heredoc>,
}

/// A `HEALTHCHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// `HEALTHCHECK NONE`: disable any inherited check.
    None,
    /// `HEALTHCHECK [flags] CMD command`.
    Cmd {
        /// The check.
        command: Command,
        /// `--interval` in nanoseconds (0: inherit the default).
        interval: i64,
        /// `--timeout` in nanoseconds.
        timeout: i64,
        /// `--start-period` in nanoseconds.
        start_period: i64,
        /// `--start-interval` in nanoseconds (docker 25+; dockerd 20.10 ignores it).
        start_interval: i64,
        /// `--retries` (0: default).
        retries: i64,
        /// The flags as written, for printing back.
        flags: Vec<(String, String)>,
    },
}

/// The instruction and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `FROM [--platform=P] image [AS name]`.
    From {
        /// The image (or stage) name as written.
        image: String,
        /// The stage name, lowercased.
        name: Option<String>,
        /// `--platform`.
        platform: Option<String>,
    },
    /// `RUN`.
    Run {
        /// The command.
        command: Command,
        /// Heredocs of the line.
        heredocs: Vec<Heredoc>,
        /// Flags.
        flags: RunFlags,
    },
    /// `COPY`.
    Copy(CopyArgs),
    /// `ADD`.
    Add(CopyArgs),
    /// `ENV`: pairs as written.
    Env(Vec<KeyValue>),
    /// `ARG name[=default] ...`.
    Arg(Vec<(String, Option<String>)>),
    /// `LABEL`: pairs as written.
    Label(Vec<KeyValue>),
    /// `WORKDIR path`.
    Workdir(String),
    /// `USER user[:group]`.
    User(String),
    /// `EXPOSE port[/proto] ...`.
    Expose(Vec<String>),
    /// `VOLUME`: the paths (from JSON or whitespace separated).
    Volume {
        /// The paths.
        paths: Vec<String>,
        /// Written as a JSON array.
        json: bool,
    },
    /// `CMD`.
    Cmd(Command),
    /// `ENTRYPOINT`.
    Entrypoint(Command),
    /// `SHELL ["exe", "arg"]` (JSON only).
    Shell(Vec<String>),
    /// `STOPSIGNAL signal`.
    StopSignal(String),
    /// `HEALTHCHECK`.
    Healthcheck(Health),
    /// `ONBUILD instruction`: the trigger's text and its parse.
    Onbuild {
        /// The text after `ONBUILD` (docker's `Expression`), stored in the image.
        expression: String,
        /// The trigger instruction.
        trigger: Box<Instruction>,
    },
    /// `MAINTAINER name` (deprecated, still accepted).
    Maintainer(String),
}

/// An ENV or LABEL pair, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key, unexpanded.
    pub key: String,
    /// The value, unexpanded.
    pub value: String,
    /// Written in the old `ENV key value` form (one pair, the value is the rest of the line).
    pub legacy: bool,
}

impl Kind {
    /// The instruction's keyword in upper case.
    pub fn keyword(&self) -> &'static str {
        match self {
            Kind::From { .. } => "FROM",
            Kind::Run { .. } => "RUN",
            Kind::Copy(_) => "COPY",
            Kind::Add(_) => "ADD",
            Kind::Env(_) => "ENV",
            Kind::Arg(_) => "ARG",
            Kind::Label(_) => "LABEL",
            Kind::Workdir(_) => "WORKDIR",
            Kind::User(_) => "USER",
            Kind::Expose(_) => "EXPOSE",
            Kind::Volume { .. } => "VOLUME",
            Kind::Cmd(_) => "CMD",
            Kind::Entrypoint(_) => "ENTRYPOINT",
            Kind::Shell(_) => "SHELL",
            Kind::StopSignal(_) => "STOPSIGNAL",
            Kind::Healthcheck(_) => "HEALTHCHECK",
            Kind::Onbuild { .. } => "ONBUILD",
            Kind::Maintainer(_) => "MAINTAINER",
        }
    }
}

/// A JSON array of strings, as docker reads it back.
pub(crate) fn json_array(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".to_string())
}

/// A flag value as the flag reader reads it back: quoted when it holds whitespace, quotes or
/// backslashes.
pub(crate) fn flag_value(v: &str) -> String {
    if !v.is_empty()
        && !v
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\'))
    {
        return v.to_string();
    }
    let mut out = String::from("\"");
    for c in v.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

impl Kind {
    /// The flags as Dockerfile text (each with a leading space).
    fn flags_text(&self) -> String {
        let mut out = String::new();
        let mut flag = |name: &str, v: &Option<String>| {
            if let Some(v) = v {
                out.push_str(&format!(" --{name}={}", flag_value(v)));
            }
        };
        match self {
            Kind::From { platform, .. } => flag("platform", platform),
            Kind::Run { flags, .. } => {
                for m in &flags.mounts {
                    flag("mount", &Some(m.clone()));
                }
                flag("network", &flags.network);
                flag("security", &flags.security);
            }
            Kind::Copy(a) | Kind::Add(a) => {
                flag("from", &a.from);
                flag("chown", &a.chown);
                flag("chmod", &a.chmod);
                if a.link {
                    flag("link", &Some("true".to_string()));
                }
                flag("checksum", &a.checksum);
                if a.keep_git_dir {
                    flag("keep-git-dir", &Some("true".to_string()));
                }
            }
            Kind::Healthcheck(Health::Cmd { flags, .. }) => {
                for (k, v) in flags {
                    flag(k, &Some(v.clone()));
                }
            }
            _ => {}
        }
        out
    }

    /// The arguments as Dockerfile text (the first line only: heredoc bodies follow).
    fn args_text(&self) -> String {
        let command = |c: &Command| match c {
            Command::Exec(args) => json_array(args),
            Command::Shell(s) => s.clone(),
        };
        let pairs = |p: &[KeyValue]| {
            p.iter()
                .map(|p| {
                    if p.legacy {
                        format!("{} {}", p.key, p.value)
                    } else {
                        format!("{}={}", p.key, p.value)
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        match self {
            Kind::From { image, name, .. } => match name {
                Some(n) => format!("{image} AS {n}"),
                None => image.clone(),
            },
            Kind::Run { command: c, .. } | Kind::Cmd(c) | Kind::Entrypoint(c) => command(c),
            Kind::Copy(a) | Kind::Add(a) => {
                let mut all = a.sources.clone();
                all.push(a.dest.clone());
                if a.json {
                    json_array(&all)
                } else {
                    all.join(" ")
                }
            }
            Kind::Env(p) | Kind::Label(p) => pairs(p),
            Kind::Arg(args) => args
                .iter()
                .map(|(k, v)| match v {
                    Some(v) => format!("{k}={v}"),
                    None => k.clone(),
                })
                .collect::<Vec<_>>()
                .join(" "),
            Kind::Workdir(s) | Kind::User(s) | Kind::StopSignal(s) | Kind::Maintainer(s) => {
                s.clone()
            }
            Kind::Expose(ports) => ports.join(" "),
            Kind::Volume { paths, json } => {
                if *json {
                    json_array(paths)
                } else {
                    paths.join(" ")
                }
            }
            Kind::Shell(args) => json_array(args),
            Kind::Healthcheck(Health::None) => "NONE".to_string(),
            Kind::Healthcheck(Health::Cmd { command: c, .. }) => {
                let c = command(c);
                if c.is_empty() {
                    "CMD".to_string()
                } else {
                    format!("CMD {c}")
                }
            }
            Kind::Onbuild { expression, .. } => expression.clone(),
        }
    }

    fn heredocs(&self) -> &[Heredoc] {
        match self {
            Kind::Run { heredocs, .. } => heredocs,
            Kind::Copy(a) | Kind::Add(a) => &a.heredocs,
            _ => &[],
        }
    }
}

impl fmt::Display for Kind {
    /// The instruction as Dockerfile text with `\` as the escape character (heredoc bodies
    /// and their delimiters on the lines that follow).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())?;
        f.write_str(&self.flags_text())?;
        let args = self.args_text();
        if args.starts_with("--") {
            // Arguments that look like flags come after `--`.
            f.write_str(" --")?;
        }
        if !args.is_empty() {
            write!(f, " {args}")?;
        }
        if args.ends_with('\\') {
            // A line ending in the escape continues: docker strips one, so write one more
            // (this reads back the same at the end of a file, the only place such a value
            // can come from).
            f.write_str("\\")?;
        }
        for h in self.heredocs() {
            write!(f, "\n{}{}", h.body, h.name)?;
        }
        Ok(())
    }
}

impl fmt::Display for Instruction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind.fmt(f)
    }
}
