//! The Dockerfile language as docker's builder reads it, `.dockerignore`, and the build step
//! planner: pure code (no I/O besides the bytes it is given, no root, no async), so every
//! rule is unit-tested. The execution of the steps (containers, layers, the cache store) is
//! elsewhere; this crate says *what* to run.
//!
//! What it covers:
//! - [`parse`]: parser directives at the top (`# escape=` with `\` or `` ` ``; `# syntax=` and
//!   `# check=` recorded and ignored with a [`Note`]), comments, line continuations (with
//!   comments and empty lines inside them skipped, as docker does), heredocs for RUN, COPY
//!   and ADD (`<<EOF`, `<<-EOF`, quoted delimiters that turn expansion off, several per
//!   instruction), JSON (exec) and shell forms, flags, and the instructions FROM, RUN, COPY,
//!   ADD, ENV (`ENV k v` and `ENV k=v ...`), ARG, LABEL, WORKDIR, USER, EXPOSE, VOLUME, CMD,
//!   ENTRYPOINT, SHELL, STOPSIGNAL, HEALTHCHECK (with NONE), ONBUILD and MAINTAINER. Errors
//!   ([`ParseError`]) name the line and column: `Dockerfile:3:1: unknown instruction: RUNN`.
//! - [`process_word`]: docker's quoting, escapes and `$VAR`, `${VAR}`, `${VAR:-x}`,
//!   `${VAR-x}`, `${VAR:+x}`, `${VAR+x}`, `${VAR:?x}`, `${VAR?x}`.
//! - [`Ignore`]: `.dockerignore` with moby's patternmatcher rules.
//! - [`plan`] and [`Plan::resolve_stage`]: the stages a target needs (and only those), their
//!   dependencies (FROM stage, COPY --from), waves of stages that can build in parallel, and
//!   per stage the typed [`Step`]s with variables expanded where docker expands them
//!   (ENV, ARG, LABEL, WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL, COPY/ADD sources, dest
//!   and `--chown`; not COPY `--from`, as in docker's legacy builder; not RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK or ONBUILD, which
//!   the shell or a later build reads), docker's ARG/ENV scoping (ARG before FROM only in
//!   FROM lines unless redeclared, `--build-arg` over defaults, ENV over ARG, proxy
//!   builtins), the image configuration after each step (ENTRYPOINT resetting an inherited
//!   CMD, WORKDIR relative to the previous one, SHELL for shell forms, ONBUILD triggers
//!   recorded and a base image's triggers run first), and docker 20.10's history
//!   `created_by` strings (`/bin/sh -c #(nop)  ENV a=b`, `|1 V=1 /bin/sh -c make`).
//! - [`cache_key`]: a step's cache key from its parent, its text and its inputs' checksum.
//!
//! What it refuses: unknown instructions and flags (errors, as docker's), `RUN --mount` and
//! `RUN --security` (BuildKit-only: [`PlanError::Unsupported`]), BuildKit's pattern operators
//! in expansions (`${VAR#p}`, `${VAR%p}`, `${VAR/a/b}`), and instructions other than ARG
//! before the first FROM.
//!
//! Where it differs from docker's legacy builder on purpose: COPY `--from` may name a later
//! stage (as BuildKit allows), never the stage itself; heredocs and `--chmod`/`--link` are
//! read (BuildKit's syntax; the legacy builder of dockerd 20.10 refuses them).

mod config;
mod ignore;
mod instruction;
mod lex;
mod parser;
mod plan;

pub use config::{default_shell, Empty, HealthConfig, ImageConfig, DEFAULT_PATH};
pub use ignore::Ignore;
pub use instruction::{
    Command, CopyArgs, Dockerfile, Health, Heredoc, Instruction, KeyValue, Kind, Note, RunFlags,
};
pub use lex::{process_word, ExpandError, NoVars, Vars};
pub use parser::{parse, parse_instruction, ParseError};
pub use plan::{
    cache_key, plan, Base, BuildOptions, ConfigChange, CopyFrom, Plan, PlanError, ResolvedStage,
    Source, Stage, Step, StepKind, BUILTIN_ARGS,
};
