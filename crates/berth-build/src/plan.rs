//! The step planner: the stages a target needs, their dependency graph and the waves of
//! stages that can build in parallel ([`plan`]); then, for a stage and the configuration of
//! its base image, the typed steps with variables expanded as docker expands them at that
//! point, the configuration changes of each metadata instruction, and docker's history
//! `created_by` strings ([`Plan::resolve_stage`]).

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use crate::config::{
    go_health, go_list, go_quote_list, Empty, HealthConfig, ImageConfig, DEFAULT_PATH,
};
use crate::instruction::{Command, CopyArgs, Dockerfile, Health, Heredoc, Instruction, Kind};
use crate::lex::{process_word, ExpandError};
use crate::parser::{parse_instruction, ParseError};

/// The build arguments docker allows without an ARG (proxies); they reach RUN's environment
/// but not its history line unless declared.
pub const BUILTIN_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Why a build could not be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The Dockerfile has no FROM.
    #[error("Dockerfile has no FROM instruction: no build stage")]
    NoStage,
    /// An instruction other than ARG before the first FROM.
    #[error("Dockerfile:{line}: {keyword} before the first FROM: only ARG may come before FROM")]
    BeforeFrom {
        /// The line.
        line: usize,
        /// The instruction.
        keyword: String,
    },
    /// `--target` names no stage.
    #[error("failed to reach build target {0} in Dockerfile")]
    UnknownTarget(String),
    /// Two stages with one name.
    #[error("Dockerfile:{line}: duplicate name {name:?} for build stages")]
    DuplicateStage {
        /// The line.
        line: usize,
        /// The name.
        name: String,
    },
    /// A stage that depends on itself.
    #[error("Dockerfile:{line}: circular dependency detected on stage: {stage}")]
    Cycle {
        /// The line.
        line: usize,
        /// The stage.
        stage: String,
    },
    /// COPY --from=N with N not an earlier stage.
    #[error("Dockerfile:{line}: invalid from flag value {value}: refers to current or future build stage")]
    BadFromIndex {
        /// The line.
        line: usize,
        /// The value.
        value: String,
    },
    /// A word could not be expanded.
    #[error("Dockerfile:{line}: {keyword}: {source}")]
    Expand {
        /// The line.
        line: usize,
        /// The instruction.
        keyword: String,
        /// The expansion error.
        source: ExpandError,
    },
    /// A value that is wrong after expansion.
    #[error("Dockerfile:{line}: {message}")]
    Invalid {
        /// The line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A feature berth's builder refuses.
    #[error("Dockerfile:{line}: {message}")]
    Unsupported {
        /// The line.
        line: usize,
        /// What is refused and why.
        message: String,
    },
    /// An ONBUILD trigger of the base image that does not parse.
    #[error("ONBUILD trigger {trigger:?} of the base image: {source}")]
    Trigger {
        /// The trigger text.
        trigger: String,
        /// The parse error.
        source: ParseError,
    },
}

/// What a build is asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildOptions {
    /// `--build-arg KEY=VALUE`.
    pub build_args: BTreeMap<String, String>,
    /// `--target STAGE` (the last stage when `None`).
    pub target: Option<String>,
}

/// Where a stage starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// `FROM scratch`.
    Scratch,
    /// An image reference (meta ARGs expanded).
    Image(String),
    /// An earlier stage (its index in the Dockerfile).
    Stage(usize),
}

/// One stage the target needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Its index among the Dockerfile's stages (what `--from=N` counts).
    pub index: usize,
    /// `AS name`.
    pub name: Option<String>,
    /// The base.
    pub base: Base,
    /// `FROM --platform=` (meta ARGs expanded).
    pub platform: Option<String>,
    /// Stages this one needs (FROM and COPY --from), by index.
    pub depends_on: BTreeSet<usize>,
    /// Images used by COPY --from=image.
    pub copy_images: BTreeSet<String>,
    /// The FROM line.
    pub line: usize,
    /// The instructions after FROM.
    pub instructions: Vec<Instruction>,
}

/// The stages to build for one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The stages the target needs, in Dockerfile order (others are left out).
    pub stages: Vec<Stage>,
    /// The target's index.
    pub target: usize,
    /// Waves of stage indices: every stage of a wave depends only on earlier waves, so the
    /// stages of one wave can build in parallel.
    pub waves: Vec<Vec<usize>>,
    /// Build args no ARG of a built stage (or before FROM) declared: docker warns about them.
    pub unused_build_args: Vec<String>,
    meta_args: Vec<(String, Option<String>)>,
    build_args: BTreeMap<String, String>,
    escape: char,
}

/// The source of a COPY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyFrom {
    /// The build context.
    Context,
    /// Another stage's result.
    Stage(usize),
    /// An image.
    Image(String),
}

/// One source of a COPY or ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A path or glob (expanded), relative to the context or the `--from` root.
    Path(String),
    /// A URL (ADD).
    Url(String),
    /// A heredoc: the file's name and content (expanded unless the delimiter was quoted).
    Inline {
        /// The file name (the delimiter).
        name: String,
        /// The content.
        content: String,
    },
}

/// A filesystem step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepKind {
    /// RUN: run `argv` in a container of the stage so far.
    Run {
        /// The command line.
        argv: Vec<String>,
        /// The environment: the image's, then the build args ENV does not override.
        env: Vec<String>,
        /// `--network`.
        network: Option<String>,
        /// Files to mount read-only (mode 0755) for the step: a heredoc script with a
        /// shebang, as (path in the container, content).
        heredoc_files: Vec<(String, String)>,
    },
    /// COPY or ADD.
    Copy {
        /// ADD rather than COPY.
        add: bool,
        /// Where from.
        from: CopyFrom,
        /// What.
        sources: Vec<Source>,
        /// The destination as written (expanded): what history shows.
        dest: String,
        /// The destination made absolute against WORKDIR (a trailing `/` kept).
        dest_abs: String,
        /// `--chown` (expanded).
        chown: Option<String>,
        /// `--chmod`.
        chmod: Option<u32>,
        /// `--link`.
        link: bool,
        /// `--checksum` (ADD).
        checksum: Option<String>,
        /// `--keep-git-dir` (ADD).
        keep_git_dir: bool,
    },
    /// A change of the image configuration only.
    Config(ConfigChange),
}

/// What a metadata instruction changes in the image configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigChange {
    /// ENV pairs (expanded).
    Env(Vec<(String, String)>),
    /// ARG declarations (expanded defaults).
    Arg(Vec<(String, Option<String>)>),
    /// LABEL pairs (expanded).
    Label(Vec<(String, String)>),
    /// WORKDIR made absolute against the previous one (docker also creates it).
    Workdir(String),
    /// USER.
    User(String),
    /// EXPOSE, normalised to `port/proto`, sorted.
    Expose(Vec<String>),
    /// VOLUME paths.
    Volume(Vec<String>),
    /// CMD (shell form wrapped in the SHELL; empty for `CMD []`, which the image stores as
    /// null).
    Cmd(Vec<String>),
    /// ENTRYPOINT (shell form wrapped); `resets_cmd`: an inherited CMD is dropped because
    /// no CMD was set in this stage before it.
    Entrypoint {
        /// The new entrypoint (`None` for `ENTRYPOINT []`).
        entrypoint: Option<Vec<String>>,
        /// The CMD is reset.
        resets_cmd: bool,
    },
    /// SHELL.
    Shell(Vec<String>),
    /// STOPSIGNAL.
    StopSignal(String),
    /// HEALTHCHECK.
    Healthcheck(HealthConfig),
    /// ONBUILD: the trigger recorded in the image.
    OnBuild(String),
    /// MAINTAINER: the image's author.
    Maintainer(String),
}

/// One step of a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The Dockerfile line.
    pub line: usize,
    /// The instruction as written.
    pub original: String,
    /// What to do.
    pub kind: StepKind,
    /// The history `created_by`; for COPY/ADD the part before the inputs' checksum, see
    /// [`Step::created_by`].
    created_by: String,
    /// The shell in effect (for the COPY/ADD line).
    shell: Vec<String>,
    /// The configuration after this step.
    pub config: ImageConfig,
    /// The step comes from an ONBUILD trigger of the base.
    pub from_trigger: bool,
}

impl Step {
    /// docker's history `created_by`; `inputs` is the checksum of the copied files (docker's
    /// `file:<sha256>`, `dir:<sha256>` or `multi:<sha256>`), used only by COPY and ADD.
    pub fn created_by(&self, inputs: &str) -> String {
        match &self.kind {
            StepKind::Copy { add, dest, .. } => {
                let verb = if *add { "ADD" } else { "COPY" };
                format!("{} #(nop) {verb} {inputs} in {dest} ", self.shell.join(" "))
            }
            _ => self.created_by.clone(),
        }
    }

    /// Whether the step changes only the configuration (docker's `empty_layer`). WORKDIR
    /// creates its directory, so it is not empty.
    pub fn empty_layer(&self) -> bool {
        matches!(&self.kind, StepKind::Config(c) if !matches!(c, ConfigChange::Workdir(_)))
    }
}

/// A resolved stage: its steps and final configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedStage {
    /// The steps, ONBUILD triggers of the base first.
    pub steps: Vec<Step>,
    /// The configuration of the stage's image.
    pub config: ImageConfig,
    /// MAINTAINER, if set.
    pub author: Option<String>,
}

/// The cache key of a step: a pure function of the parent (image or previous step id), the
/// instruction's text (its `created_by`) and, for COPY/ADD, the checksum of its inputs.
pub fn cache_key(parent: &str, instruction: &str, inputs: Option<&str>) -> String {
    let mut h = Sha256::new();
    for part in [Some(parent), Some(instruction), inputs] {
        match part {
            Some(p) => {
                h.update(b"1");
                h.update((p.len() as u64).to_be_bytes());
                h.update(p.as_bytes());
            }
            None => h.update(b"0"),
        }
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

fn expand_err(line: usize, keyword: &str) -> impl Fn(ExpandError) -> PlanError + '_ {
    move |source| PlanError::Expand {
        line,
        keyword: keyword.to_string(),
        source,
    }
}

/// Plans the build of `options.target` (or the last stage).
pub fn plan(file: &Dockerfile, options: &BuildOptions) -> Result<Plan, PlanError> {
    let mut meta_args: Vec<(String, Option<String>)> = Vec::new();
    let mut raw_stages: Vec<(Instruction, Vec<Instruction>)> = Vec::new();
    for inst in &file.instructions {
        match (&inst.kind, raw_stages.last_mut()) {
            (Kind::From { .. }, _) => raw_stages.push((inst.clone(), Vec::new())),
            (Kind::Arg(args), None) => {
                for (k, v) in args {
                    let env = meta_env(&meta_args, &options.build_args);
                    let k =
                        process_word(k, &env, file.escape).map_err(expand_err(inst.line, "ARG"))?;
                    let v = match v {
                        Some(v) => Some(
                            process_word(v, &env, file.escape)
                                .map_err(expand_err(inst.line, "ARG"))?,
                        ),
                        None => None,
                    };
                    meta_args.push((k, v));
                }
            }
            (_, None) => {
                return Err(PlanError::BeforeFrom {
                    line: inst.line,
                    keyword: inst.kind.keyword().to_string(),
                })
            }
            (_, Some(stage)) => stage.1.push(inst.clone()),
        }
    }
    if raw_stages.is_empty() {
        return Err(PlanError::NoStage);
    }
    let meta = meta_env(&meta_args, &options.build_args);
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    let mut stages = Vec::new();
    for (index, (from, body)) in raw_stages.into_iter().enumerate() {
        let Kind::From {
            image,
            name,
            platform,
        } = &from.kind
        else {
            continue;
        };
        let image =
            process_word(image, &meta, file.escape).map_err(expand_err(from.line, "FROM"))?;
        let platform = match platform {
            Some(p) => {
                Some(process_word(p, &meta, file.escape).map_err(expand_err(from.line, "FROM"))?)
            }
            None => None,
        };
        let mut depends_on = BTreeSet::new();
        let base = if let Some(&i) = names.get(&image.to_ascii_lowercase()) {
            depends_on.insert(i);
            Base::Stage(i)
        } else if image == "scratch" {
            Base::Scratch
        } else if image.is_empty() {
            return Err(PlanError::Invalid {
                line: from.line,
                message: "base name (FROM) should not be blank".into(),
            });
        } else {
            Base::Image(image)
        };
        if let Some(n) = name {
            if names.insert(n.clone(), index).is_some() {
                return Err(PlanError::DuplicateStage {
                    line: from.line,
                    name: n.clone(),
                });
            }
        }
        stages.push(Stage {
            index,
            name: name.clone(),
            base,
            platform,
            depends_on,
            copy_images: BTreeSet::new(),
            line: from.line,
            instructions: body,
        });
    }
    // COPY --from edges: names anywhere (BuildKit), numbers only backwards.
    for (i, stage) in stages.iter_mut().enumerate() {
        let mut deps = BTreeSet::new();
        let mut images = BTreeSet::new();
        for inst in &stage.instructions {
            let Kind::Copy(CopyArgs {
                from: Some(from), ..
            }) = &inst.kind
            else {
                continue;
            };
            match resolve_from(from, i, &names, inst.line)? {
                CopyFrom::Stage(s) => {
                    deps.insert(s);
                }
                CopyFrom::Image(img) => {
                    images.insert(img);
                }
                CopyFrom::Context => {}
            }
        }
        if deps.contains(&i) {
            return Err(PlanError::Cycle {
                line: stage.line,
                stage: stage_label(stage),
            });
        }
        stage.depends_on.extend(deps);
        stage.copy_images = images;
    }
    let target = match &options.target {
        None => stages.len() - 1,
        Some(t) => *names
            .get(&t.to_ascii_lowercase())
            .ok_or_else(|| PlanError::UnknownTarget(t.clone()))?,
    };
    // The stages the target needs.
    let mut needed = BTreeSet::new();
    let mut todo = vec![target];
    while let Some(s) = todo.pop() {
        if needed.insert(s) {
            todo.extend(stages[s].depends_on.iter().copied());
        }
    }
    // Waves (a cycle shows as stages that never become ready).
    let mut level: BTreeMap<usize, usize> = BTreeMap::new();
    let mut remaining: BTreeSet<usize> = needed.clone();
    while !remaining.is_empty() {
        let ready: Vec<usize> = remaining
            .iter()
            .copied()
            .filter(|s| stages[*s].depends_on.iter().all(|d| level.contains_key(d)))
            .collect();
        if ready.is_empty() {
            let s = remaining.iter().next().copied().unwrap_or(target);
            return Err(PlanError::Cycle {
                line: stages[s].line,
                stage: stage_label(&stages[s]),
            });
        }
        for s in ready {
            let l = stages[s]
                .depends_on
                .iter()
                .map(|d| level.get(d).copied().unwrap_or(0) + 1)
                .max()
                .unwrap_or(0);
            level.insert(s, l);
            remaining.remove(&s);
        }
    }
    let depth = level.values().copied().max().unwrap_or(0);
    let mut waves = vec![Vec::new(); depth + 1];
    for (s, l) in &level {
        waves[*l].push(*s);
    }
    // Declared args.
    let mut declared: BTreeSet<String> = meta_args.iter().map(|(k, _)| k.clone()).collect();
    for s in &needed {
        for inst in &stages[*s].instructions {
            if let Kind::Arg(args) = &inst.kind {
                declared.extend(args.iter().map(|(k, _)| k.clone()));
            }
        }
    }
    let unused_build_args = options
        .build_args
        .keys()
        .filter(|k| !declared.contains(*k) && !BUILTIN_ARGS.contains(&k.as_str()))
        .cloned()
        .collect();
    let stages = stages
        .into_iter()
        .filter(|s| needed.contains(&s.index))
        .collect();
    Ok(Plan {
        stages,
        target,
        waves,
        unused_build_args,
        meta_args,
        build_args: options.build_args.clone(),
        escape: file.escape,
    })
}

fn stage_label(stage: &Stage) -> String {
    stage
        .name
        .clone()
        .unwrap_or_else(|| stage.index.to_string())
}

fn resolve_from(
    from: &str,
    current: usize,
    names: &BTreeMap<String, usize>,
    line: usize,
) -> Result<CopyFrom, PlanError> {
    if let Some(&i) = names.get(&from.to_ascii_lowercase()) {
        if i == current {
            return Err(PlanError::Cycle {
                line,
                stage: from.to_string(),
            });
        }
        return Ok(CopyFrom::Stage(i));
    }
    if !from.is_empty() && from.chars().all(|c| c.is_ascii_digit()) {
        return match from.parse::<usize>() {
            Ok(i) if i < current => Ok(CopyFrom::Stage(i)),
            _ => Err(PlanError::BadFromIndex {
                line,
                value: from.to_string(),
            }),
        };
    }
    Ok(CopyFrom::Image(from.to_string()))
}

/// The meta args as an expansion environment (build args override their defaults).
fn meta_env(
    meta: &[(String, Option<String>)],
    build_args: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in meta.iter().rev() {
        if let Some(b) = build_args.get(k) {
            out.push(format!("{k}={b}"));
        } else if let Some(v) = v {
            out.push(format!("{k}={v}"));
        }
    }
    out
}

/// The ARG state of one stage (docker's `BuildArgs`).
struct Args<'a> {
    allowed: Vec<(String, Option<String>)>,
    meta: &'a [(String, Option<String>)],
    options: &'a BTreeMap<String, String>,
}

impl Args<'_> {
    /// The value of an allowed arg: the build arg, else its default, else the meta arg's.
    fn value(&self, key: &str, default: Option<&String>) -> Option<String> {
        if let Some(v) = self.options.get(key) {
            return Some(v.clone());
        }
        match default {
            Some(d) => Some(d.clone()),
            None => self
                .meta
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .and_then(|(k, v)| self.options.get(k).cloned().or_else(|| v.clone())),
        }
    }

    /// Allowed args with a value that the image's environment does not set: `KEY=value`,
    /// sorted, with whether each is an undeclared builtin.
    fn filter_allowed(&self, env: &[String]) -> Vec<(String, bool)> {
        let env_keys: BTreeSet<&str> = env
            .iter()
            .map(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k))
            .collect();
        let mut out: BTreeMap<String, (String, bool)> = BTreeMap::new();
        for (k, d) in &self.allowed {
            if env_keys.contains(k.as_str()) {
                continue;
            }
            if let Some(v) = self.value(k, d.as_ref()) {
                out.insert(k.clone(), (format!("{k}={v}"), false));
            }
        }
        for b in BUILTIN_ARGS {
            if out.contains_key(*b) || env_keys.contains(b) {
                continue;
            }
            if let Some(v) = self.options.get(*b) {
                out.insert((*b).to_string(), (format!("{b}={v}"), true));
            }
        }
        out.into_values().collect()
    }

    fn declare(&mut self, key: String, default: Option<String>) {
        match self.allowed.iter_mut().find(|(k, _)| *k == key) {
            Some(e) => e.1 = default,
            None => self.allowed.push((key, default)),
        }
    }
}

impl Plan {
    /// The planned stage with Dockerfile index `index`.
    pub fn stage(&self, index: usize) -> Option<&Stage> {
        self.stages.iter().find(|s| s.index == index)
    }

    /// Resolves the stage with Dockerfile index `index`, starting from `base` (the base
    /// image's configuration, the resolved configuration of the base stage, or the default
    /// for `FROM scratch`). ONBUILD triggers of `base` run first.
    pub fn resolve_stage(
        &self,
        index: usize,
        base: &ImageConfig,
    ) -> Result<ResolvedStage, PlanError> {
        let stage = self
            .stage(index)
            .ok_or(PlanError::UnknownTarget(index.to_string()))?;
        let names: BTreeMap<String, usize> = self
            .stages
            .iter()
            .filter_map(|s| s.name.clone().map(|n| (n, s.index)))
            .collect();
        let mut config = base.clone();
        // The base's triggers run first and are not inherited (dockerd leaves OnBuild null).
        let triggers = config.on_build.take().unwrap_or_default();
        if !config
            .env_list()
            .iter()
            .any(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == "PATH")
        {
            config
                .env
                .get_or_insert_with(Vec::new)
                .push(DEFAULT_PATH.to_string());
        }
        let mut instructions = Vec::new();
        for t in &triggers {
            let inst = parse_instruction(t, '\\').map_err(|source| PlanError::Trigger {
                trigger: t.clone(),
                source,
            })?;
            instructions.push((inst, true));
        }
        instructions.extend(stage.instructions.iter().cloned().map(|i| (i, false)));
        let mut state = StageState {
            config,
            args: Args {
                allowed: Vec::new(),
                meta: &self.meta_args,
                options: &self.build_args,
            },
            cmd_set: false,
            author: None,
            escape: self.escape,
        };
        let mut steps = Vec::new();
        for (inst, from_trigger) in instructions {
            let step = state.step(&inst, stage.index, &names)?;
            steps.push(Step {
                from_trigger,
                ..step
            });
        }
        Ok(ResolvedStage {
            steps,
            config: state.config,
            author: state.author,
        })
    }

    /// Resolves every planned stage in order: stages start from their base stage's result,
    /// and `image_config` gives the configuration of each base image (`None`: unknown, use
    /// an empty configuration). Returns (stage index, result) pairs.
    pub fn resolve_all(
        &self,
        image_config: &dyn Fn(&str) -> Option<ImageConfig>,
    ) -> Result<Vec<(usize, ResolvedStage)>, PlanError> {
        let mut done: BTreeMap<usize, ResolvedStage> = BTreeMap::new();
        for stage in &self.stages {
            let base = match &stage.base {
                Base::Scratch => ImageConfig::default(),
                Base::Image(r) => image_config(r).unwrap_or_default(),
                Base::Stage(i) => done.get(i).map(|r| r.config.clone()).unwrap_or_default(),
            };
            let r = self.resolve_stage(stage.index, &base)?;
            done.insert(stage.index, r);
        }
        Ok(done.into_iter().collect())
    }
}

struct StageState<'a> {
    config: ImageConfig,
    args: Args<'a>,
    cmd_set: bool,
    author: Option<String>,
    escape: char,
}

impl StageState<'_> {
    fn expansion_env(&self) -> Vec<String> {
        let mut env = self.config.env_list().to_vec();
        env.extend(
            self.args
                .filter_allowed(self.config.env_list())
                .into_iter()
                .map(|(e, _)| e),
        );
        env
    }

    fn nop(&self, text: &str) -> String {
        format!(
            "{} #(nop)  {text}",
            self.config.shell_or_default().join(" ")
        )
    }

    /// docker 20.10's `resolveCmdLine`: empty stays empty, the shell form is wrapped.
    fn with_shell(&self, command: &Command) -> Vec<String> {
        match command {
            Command::Exec(v) => v.clone(),
            Command::Shell(s) if s.is_empty() => Vec::new(),
            Command::Shell(s) => {
                let mut v = self.config.shell_or_default();
                v.push(s.clone());
                v
            }
        }
    }

    fn step(
        &mut self,
        inst: &Instruction,
        current: usize,
        names: &BTreeMap<String, usize>,
    ) -> Result<Step, PlanError> {
        let line = inst.line;
        let kw = inst.kind.keyword();
        let env = self.expansion_env();
        let escape = self.escape;
        let x = |w: &str| process_word(w, &env, escape).map_err(expand_err(line, kw));
        let invalid = |message: String| PlanError::Invalid { line, message };
        let (kind, created_by) = match &inst.kind {
            Kind::From { .. } => {
                return Err(invalid("FROM inside a stage".into()));
            }
            Kind::Run {
                command,
                heredocs,
                flags,
            } => {
                if !flags.mounts.is_empty() {
                    return Err(PlanError::Unsupported {
                        line,
                        message: "RUN --mount is not supported by berth's builder (it builds as docker's legacy builder does)".into(),
                    });
                }
                if flags.security.is_some() {
                    return Err(PlanError::Unsupported {
                        line,
                        message: "RUN --security is not supported by berth's builder".into(),
                    });
                }
                if let Some(n) = &flags.network {
                    if !matches!(n.as_str(), "default" | "none" | "host") {
                        return Err(invalid(format!(
                            "unsupported network mode {n:?}: default, none or host"
                        )));
                    }
                }
                let (argv, heredoc_files) = self.run_argv(command, heredocs);
                let allowed = self.args.filter_allowed(self.config.env_list());
                let mut run_env = self.config.env_list().to_vec();
                run_env.extend(allowed.iter().map(|(e, _)| e.clone()));
                let mut save = argv.clone();
                if !allowed.is_empty() {
                    let listed: Vec<String> = allowed
                        .iter()
                        .filter(|(_, builtin)| !builtin)
                        .map(|(e, _)| e.clone())
                        .collect();
                    let mut v = vec![format!("|{}", listed.len())];
                    v.extend(listed);
                    v.extend(save);
                    save = v;
                }
                (
                    StepKind::Run {
                        argv,
                        env: run_env,
                        network: flags.network.clone(),
                        heredoc_files,
                    },
                    save.join(" "),
                )
            }
            Kind::Copy(a) | Kind::Add(a) => {
                let add = matches!(inst.kind, Kind::Add(_));
                let from = match &a.from {
                    None => CopyFrom::Context,
                    // Not expanded: docker's legacy builder takes it as written.
                    Some(f) => resolve_from(f, current, names, line)?,
                };
                let mut sources = Vec::new();
                for s in &a.sources {
                    if let Some(h) = a.heredocs.iter().find(|h| h.marker == *s) {
                        let content = if h.expand {
                            x(&h.body)?
                        } else {
                            h.body.clone()
                        };
                        sources.push(Source::Inline {
                            name: h.name.clone(),
                            content,
                        });
                        continue;
                    }
                    let p = x(s)?;
                    if add && (p.starts_with("http://") || p.starts_with("https://")) {
                        sources.push(Source::Url(p));
                    } else {
                        sources.push(Source::Path(p));
                    }
                }
                let dest = x(&a.dest)?;
                let dest_abs = if dest.starts_with('/') {
                    dest.clone()
                } else {
                    let mut d = clean(&format!("/{}/{}", self.config.working_dir, dest));
                    if dest.ends_with('/') && !d.ends_with('/') {
                        d.push('/');
                    }
                    d
                };
                let chown = match &a.chown {
                    Some(c) => Some(x(c)?),
                    None => None,
                };
                let chmod = match &a.chmod {
                    Some(m) => Some(
                        u32::from_str_radix(m, 8)
                            .map_err(|_| invalid(format!("invalid chmod {m:?}")))?,
                    ),
                    None => None,
                };
                (
                    StepKind::Copy {
                        add,
                        from,
                        sources,
                        dest,
                        dest_abs,
                        chown,
                        chmod,
                        link: a.link,
                        checksum: a.checksum.clone(),
                        keep_git_dir: a.keep_git_dir,
                    },
                    String::new(),
                )
            }
            Kind::Env(pairs) => {
                let mut out = Vec::new();
                for p in pairs {
                    let k = x(&p.key)?;
                    if k.is_empty() {
                        return Err(invalid("ENV names can not be blank".into()));
                    }
                    out.push((k, x(&p.value)?));
                }
                let text = out
                    .iter()
                    .map(|(k, v)| format!(" {k}={v}"))
                    .collect::<String>();
                for (k, v) in &out {
                    self.config.set_env(k, v);
                }
                (
                    StepKind::Config(ConfigChange::Env(out)),
                    self.nop(&format!("ENV{text}")),
                )
            }
            Kind::Arg(args) => {
                let mut out = Vec::new();
                for (k, v) in args {
                    let k = x(k)?;
                    let v = match v {
                        Some(v) => Some(x(v)?),
                        None => None,
                    };
                    out.push((k, v));
                }
                let text = out
                    .iter()
                    .map(|(k, v)| match v {
                        Some(v) => format!("{k}={v}"),
                        None => k.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join(" ");
                for (k, v) in &out {
                    self.args.declare(k.clone(), v.clone());
                }
                (
                    StepKind::Config(ConfigChange::Arg(out)),
                    self.nop(&format!("ARG {text}")),
                )
            }
            Kind::Label(pairs) => {
                let mut out = Vec::new();
                for p in pairs {
                    let k = x(&p.key)?;
                    if k.is_empty() {
                        return Err(invalid("LABEL names can not be blank".into()));
                    }
                    out.push((k, x(&p.value)?));
                }
                let text = out
                    .iter()
                    .map(|(k, v)| format!(" {k}={v}"))
                    .collect::<String>();
                let labels = self.config.labels.get_or_insert_with(BTreeMap::new);
                for (k, v) in &out {
                    labels.insert(k.clone(), v.clone());
                }
                (
                    StepKind::Config(ConfigChange::Label(out)),
                    self.nop(&format!("LABEL{text}")),
                )
            }
            Kind::Workdir(w) => {
                let w = x(w)?;
                if w.is_empty() {
                    return Err(invalid("cannot normalize nothing".into()));
                }
                let dir = if w.starts_with('/') {
                    clean(&w)
                } else {
                    clean(&format!("/{}/{}", self.config.working_dir, w))
                };
                self.config.working_dir = dir.clone();
                let created = format!(
                    "{} #(nop) WORKDIR {dir}",
                    self.config.shell_or_default().join(" ")
                );
                (StepKind::Config(ConfigChange::Workdir(dir)), created)
            }
            Kind::User(u) => {
                let u = x(u)?;
                self.config.user = u.clone();
                let c = self.nop(&format!("USER {u}"));
                (StepKind::Config(ConfigChange::User(u)), c)
            }
            Kind::Expose(ports) => {
                // docker splits expanded words again (`EXPOSE $PORTS`), and its history
                // lists the words sorted as strings.
                let mut words = Vec::new();
                for p in ports {
                    words.extend(x(p)?.split_whitespace().map(str::to_string));
                }
                words.sort();
                let mut list = BTreeSet::new();
                for w in &words {
                    list.extend(parse_port_spec(w).map_err(&invalid)?);
                }
                let list: Vec<String> = list.into_iter().collect();
                let set = self.config.exposed_ports.get_or_insert_with(BTreeMap::new);
                for p in &list {
                    set.insert(p.clone(), Empty {});
                }
                let c = self.nop(&format!("EXPOSE {}", words.join(" ")));
                (StepKind::Config(ConfigChange::Expose(list)), c)
            }
            Kind::Volume { paths, .. } => {
                let mut out = Vec::new();
                for p in paths {
                    let v = x(p)?;
                    let t = v.trim();
                    if t.is_empty() {
                        return Err(invalid(
                            "VOLUME specified can not be an empty string".into(),
                        ));
                    }
                    out.push(v);
                }
                let vols = self.config.volumes.get_or_insert_with(BTreeMap::new);
                for v in &out {
                    vols.insert(v.trim().to_string(), Empty {});
                }
                let c = self.nop(&format!("VOLUME {}", go_list(&out)));
                (StepKind::Config(ConfigChange::Volume(out)), c)
            }
            Kind::Cmd(command) => {
                let cmd = self.with_shell(command);
                // An empty command is stored as null, as dockerd's image shows it.
                self.config.cmd = (!cmd.is_empty()).then(|| cmd.clone());
                if !matches!(command, Command::Shell(s) if s.is_empty())
                    && !matches!(command, Command::Exec(v) if v.is_empty())
                {
                    self.cmd_set = true;
                }
                let c = self.nop(&format!("CMD {}", go_quote_list(&cmd)));
                (StepKind::Config(ConfigChange::Cmd(cmd)), c)
            }
            Kind::Entrypoint(command) => {
                let ep = Some(self.with_shell(command)).filter(|e| !e.is_empty());
                self.config.entrypoint = ep.clone();
                let resets_cmd = !self.cmd_set;
                if resets_cmd {
                    self.config.cmd = None;
                }
                let c = self.nop(&format!(
                    "ENTRYPOINT {}",
                    go_quote_list(ep.as_deref().unwrap_or_default())
                ));
                (
                    StepKind::Config(ConfigChange::Entrypoint {
                        entrypoint: ep,
                        resets_cmd,
                    }),
                    c,
                )
            }
            Kind::Shell(s) => {
                self.config.shell = Some(s.clone());
                let c = self.nop(&format!("SHELL {}", go_list(s)));
                (StepKind::Config(ConfigChange::Shell(s.clone())), c)
            }
            Kind::StopSignal(s) => {
                let s = x(s)?;
                if !valid_signal(&s) {
                    return Err(invalid(format!("Invalid signal: {s}")));
                }
                self.config.stop_signal = Some(s.clone());
                let c = self.nop(&format!("STOPSIGNAL {s}"));
                (StepKind::Config(ConfigChange::StopSignal(s)), c)
            }
            Kind::Healthcheck(h) => {
                let hc = match h {
                    Health::None => HealthConfig {
                        test: vec!["NONE".into()],
                        ..HealthConfig::default()
                    },
                    Health::Cmd {
                        command,
                        interval,
                        timeout,
                        start_period,
                        start_interval,
                        retries,
                        ..
                    } => {
                        let test = match command {
                            Command::Exec(v) => {
                                let mut t = vec!["CMD".to_string()];
                                t.extend(v.iter().cloned());
                                t
                            }
                            Command::Shell(s) => vec!["CMD-SHELL".to_string(), s.clone()],
                        };
                        HealthConfig {
                            test,
                            interval: *interval,
                            timeout: *timeout,
                            start_period: *start_period,
                            start_interval: *start_interval,
                            retries: *retries,
                        }
                    }
                };
                let c = self.nop(&format!("HEALTHCHECK {}", go_health(&hc)));
                // dockerd merges the step's config with the image so far when it creates the
                // step's container, and the builder's healthcheck is shared with it: zero
                // fields take the previous check's values (NONE keeps its timings).
                let mut merged = hc.clone();
                if let Some(prev) = &self.config.healthcheck {
                    if merged.test.is_empty() {
                        merged.test = prev.test.clone();
                    }
                    for (field, old) in [
                        (&mut merged.interval, prev.interval),
                        (&mut merged.timeout, prev.timeout),
                        (&mut merged.start_period, prev.start_period),
                        (&mut merged.retries, prev.retries),
                    ] {
                        if *field == 0 {
                            *field = old;
                        }
                    }
                }
                self.config.healthcheck = Some(merged);
                (StepKind::Config(ConfigChange::Healthcheck(hc)), c)
            }
            Kind::Onbuild { expression, .. } => {
                self.config
                    .on_build
                    .get_or_insert_with(Vec::new)
                    .push(expression.clone());
                let c = self.nop(&format!("ONBUILD {expression}"));
                (
                    StepKind::Config(ConfigChange::OnBuild(expression.clone())),
                    c,
                )
            }
            Kind::Maintainer(m) => {
                self.author = Some(m.clone());
                let c = self.nop(&format!("MAINTAINER {m}"));
                (StepKind::Config(ConfigChange::Maintainer(m.clone())), c)
            }
        };
        Ok(Step {
            line,
            original: inst.original.clone(),
            kind,
            created_by,
            shell: self.config.shell_or_default(),
            config: self.config.clone(),
            from_trigger: false,
        })
    }

    /// RUN's argv, as BuildKit makes it: exec form as is; a lone heredoc as the shell's
    /// script (or, with a shebang, a file the shell runs); otherwise the shell gets the line
    /// followed by the heredocs as written, for the shell to read.
    fn run_argv(
        &self,
        command: &Command,
        heredocs: &[Heredoc],
    ) -> (Vec<String>, Vec<(String, String)>) {
        let shell = self.config.shell_or_default();
        match command {
            Command::Exec(v) => (v.clone(), Vec::new()),
            Command::Shell(s) if heredocs.is_empty() => {
                let mut v = shell;
                v.push(s.clone());
                (v, Vec::new())
            }
            Command::Shell(s) => {
                if let [h] = heredocs {
                    if s.trim() == h.marker {
                        let mut v = shell;
                        if h.body.starts_with("#!") {
                            // A script with a shebang: BuildKit mounts it (mode 0755) under
                            // /dev/pipes and has the shell run it.
                            let path = format!("/dev/pipes/{}", h.name);
                            v.push(path.clone());
                            return (v, vec![(path, h.body.clone())]);
                        }
                        v.push(h.body.clone());
                        return (v, Vec::new());
                    }
                }
                let mut script = s.clone();
                for h in heredocs {
                    script.push('\n');
                    script.push_str(&h.body);
                    script.push_str(&h.name);
                }
                let mut v = shell;
                v.push(script);
                (v, Vec::new())
            }
        }
    }
}

/// Go's `path.Clean` of an absolute path.
pub fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// docker's `nat.ParsePortSpecs` for EXPOSE: `port`, `port/proto`, `from-to[/proto]`.
fn parse_port_spec(spec: &str) -> Result<Vec<String>, String> {
    let (port, proto) = match spec.rsplit_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    // An ip:hostport:containerport spec exposes the container port.
    let port = port.rsplit(':').next().unwrap_or(port);
    let parse = |s: &str| -> Result<u16, String> {
        s.parse::<u16>()
            .map_err(|_| format!("invalid containerPort: {s}"))
    };
    let (start, end) = match port.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => {
            let p = parse(port)?;
            (p, p)
        }
    };
    if end < start {
        return Err(format!(
            "invalid range specified for container port: {port}"
        ));
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

const SIGNALS: &[&str] = &[
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL",
    "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP",
    "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "RTMIN", "RTMAX",
];

/// docker's `signal.ParseSignal`: a number, or a name with or without `SIG`.
fn valid_signal(s: &str) -> bool {
    if let Ok(n) = s.parse::<u32>() {
        return n > 0 && n <= 64;
    }
    let name = s.strip_prefix("SIG").unwrap_or(s);
    if SIGNALS.contains(&name) {
        return true;
    }
    for base in ["RTMIN+", "RTMAX-"] {
        if let Some(n) = name.strip_prefix(base) {
            return n.parse::<u32>().is_ok_and(|n| (1..=15).contains(&n));
        }
    }
    false
}
