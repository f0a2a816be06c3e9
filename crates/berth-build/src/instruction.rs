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
    if !v.is_empty() && !v.chars().any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\')) {
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

fn write_command(f: &mut fmt::Formatter<'_>, command: &Command) -> fmt::Result {
    match command {
        Command::Exec(args) => write!(f, " {}", json_array(args)),
        Command::Shell(s) if s.is_empty() => Ok(()),
        Command::Shell(s) => write!(f, " {s}"),
    }
}

fn write_heredocs(f: &mut fmt::Formatter<'_>, heredocs: &[Heredoc]) -> fmt::Result {
    for h in heredocs {
        write!(f, "\n{}{}", h.body, h.name)?;
    }
    Ok(())
}

fn write_copy(f: &mut fmt::Formatter<'_>, a: &CopyArgs) -> fmt::Result {
    if let Some(v) = &a.from {
        write!(f, " --from={}", flag_value(v))?;
    }
    if let Some(v) = &a.chown {
        write!(f, " --chown={}", flag_value(v))?;
    }
    if let Some(v) = &a.chmod {
        write!(f, " --chmod={}", flag_value(v))?;
    }
    if a.link {
        write!(f, " --link")?;
    }
    if let Some(v) = &a.checksum {
        write!(f, " --checksum={}", flag_value(v))?;
    }
    if a.keep_git_dir {
        write!(f, " --keep-git-dir")?;
    }
    let mut all = a.sources.clone();
    all.push(a.dest.clone());
    if a.json {
        write!(f, " {}", json_array(&all))?;
    } else {
        for w in &all {
            write!(f, " {w}")?;
        }
    }
    write_heredocs(f, &a.heredocs)
}

fn write_pairs(f: &mut fmt::Formatter<'_>, pairs: &[KeyValue]) -> fmt::Result {
    for p in pairs {
        if p.legacy {
            write!(f, " {} {}", p.key, p.value)?;
        } else {
            write!(f, " {}={}", p.key, p.value)?;
        }
    }
    Ok(())
}

impl fmt::Display for Kind {
    /// The instruction as Dockerfile text with `\` as the escape character (heredoc bodies
    /// and their delimiters on the lines that follow).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())?;
        match self {
            Kind::From {
                image,
                name,
                platform,
            } => {
                if let Some(p) = platform {
                    write!(f, " --platform={}", flag_value(p))?;
                }
                write!(f, " {image}")?;
                if let Some(n) = name {
                    write!(f, " AS {n}")?;
                }
                Ok(())
            }
            Kind::Run {
                command,
                heredocs,
                flags,
            } => {
                for m in &flags.mounts {
                    write!(f, " --mount={}", flag_value(m))?;
                }
                if let Some(n) = &flags.network {
                    write!(f, " --network={}", flag_value(n))?;
                }
                if let Some(s) = &flags.security {
                    write!(f, " --security={}", flag_value(s))?;
                }
                write_command(f, command)?;
                write_heredocs(f, heredocs)
            }
            Kind::Copy(a) | Kind::Add(a) => write_copy(f, a),
            Kind::Env(p) | Kind::Label(p) => write_pairs(f, p),
            Kind::Arg(args) => {
                for (k, v) in args {
                    match v {
                        Some(v) => write!(f, " {k}={v}")?,
                        None => write!(f, " {k}")?,
                    }
                }
                Ok(())
            }
            Kind::Workdir(s) | Kind::User(s) | Kind::StopSignal(s) | Kind::Maintainer(s) => {
                write!(f, " {s}")
            }
            Kind::Expose(ports) => {
                for p in ports {
                    write!(f, " {p}")?;
                }
                Ok(())
            }
            Kind::Volume { paths, json } => {
                if *json {
                    write!(f, " {}", json_array(paths))
                } else {
                    for p in paths {
                        write!(f, " {p}")?;
                    }
                    Ok(())
                }
            }
            Kind::Cmd(c) | Kind::Entrypoint(c) => write_command(f, c),
            Kind::Shell(args) => write!(f, " {}", json_array(args)),
            Kind::Healthcheck(Health::None) => write!(f, " NONE"),
            Kind::Healthcheck(Health::Cmd { command, flags, .. }) => {
                for (k, v) in flags {
                    write!(f, " --{k}={}", flag_value(v))?;
                }
                write!(f, " CMD")?;
                write_command(f, command)
            }
            Kind::Onbuild { trigger, .. } => write!(f, " {}", trigger.kind),
        }
    }
}

impl fmt::Display for Instruction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind.fmt(f)
    }
}
