//! The parser, one Dockerfile snippet per rule.

#![allow(clippy::unwrap_used)]

use berth_build::{parse, Command, Dockerfile, Health, Instruction, KeyValue, Kind, ParseError};

fn ok(src: &str) -> Dockerfile {
    parse(src.as_bytes()).unwrap_or_else(|e| panic!("{src:?}: {e}"))
}

fn one(src: &str) -> Instruction {
    let f = ok(src);
    assert_eq!(f.instructions.len(), 1, "{src:?}: {:?}", f.instructions);
    f.instructions.into_iter().next().unwrap()
}

fn err(src: &str) -> ParseError {
    match parse(src.as_bytes()) {
        Ok(f) => panic!("{src:?} parsed: {f:?}"),
        Err(e) => e,
    }
}

/// The kind without the positions of an ONBUILD trigger.
fn norm(kind: Kind) -> Kind {
    match kind {
        Kind::Onbuild {
            expression,
            mut trigger,
        } => {
            trigger.line = 0;
            trigger.end_line = 0;
            Kind::Onbuild {
                expression,
                trigger,
            }
        }
        k => k,
    }
}

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: v.into(),
        legacy: false,
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn from_forms() {
    let i = one("FROM busybox");
    assert_eq!(
        i.kind,
        Kind::From {
            image: "busybox".into(),
            name: None,
            platform: None
        }
    );
    let i = one("from --platform=linux/amd64 alpine:3.19 As Builder");
    assert_eq!(
        i.kind,
        Kind::From {
            image: "alpine:3.19".into(),
            name: Some("builder".into()),
            platform: Some("linux/amd64".into())
        }
    );
    assert_eq!(one("FROM scratch").kind.keyword(), "FROM");
    let e = err("FROM a b");
    assert_eq!(
        e.to_string(),
        "Dockerfile:1:1: FROM requires either one or three arguments"
    );
    let e = err("FROM a AS 1st");
    assert!(e.message.contains("invalid name for build stage"), "{e}");
    assert_eq!((e.line, e.column), (1, 6));
    let e = err("FROM --nope=1 a");
    assert_eq!(e.to_string(), "Dockerfile:1:6: Unknown flag: nope");
}

#[test]
fn unknown_instruction_names_line_and_column() {
    let e = err("FROM a\n\n  RUNN echo\n");
    assert_eq!(e.to_string(), "Dockerfile:3:3: unknown instruction: RUNN");
    let e = err("FROM a\nRUN x \\\n  y\nFOO bar");
    assert_eq!((e.line, e.column), (4, 1));
}

#[test]
fn run_shell_and_exec() {
    let i = one("RUN echo $HOME && ls");
    assert!(
        matches!(&i.kind, Kind::Run { command: Command::Shell(s), .. } if s == "echo $HOME && ls")
    );
    let i = one(r#"RUN ["echo", "a b"]"#);
    assert!(
        matches!(&i.kind, Kind::Run { command: Command::Exec(v), .. } if *v == strings(&["echo", "a b"]))
    );
    // Not JSON: the shell form, brackets and all.
    let i = one("RUN [echo, hi]");
    assert!(matches!(&i.kind, Kind::Run { command: Command::Shell(s), .. } if s == "[echo, hi]"));
    let e = err(r#"RUN ["a", 1]"#);
    assert!(e.message.contains("must be of strings"), "{e}");
    let e = err("RUN");
    assert_eq!(e.message, "RUN requires at least one argument");
    let i = one("RUN --network=none --mount=type=cache,target=/c true");
    match &i.kind {
        Kind::Run { flags, .. } => {
            assert_eq!(flags.network.as_deref(), Some("none"));
            assert_eq!(flags.mounts, strings(&["type=cache,target=/c"]));
        }
        k => panic!("{k:?}"),
    }
}

#[test]
fn continuations_comments_and_empty_lines() {
    let f = ok("FROM a\nRUN echo a \\\n  # a comment inside\n\n    b \\\n\tc\n# trailing\n");
    let i = &f.instructions[1];
    assert!(
        matches!(&i.kind, Kind::Run { command: Command::Shell(s), .. } if s == "echo a     b \tc")
    );
    assert_eq!((i.line, i.end_line), (2, 6));
    assert!(f
        .notes
        .iter()
        .any(|n| n.message == "empty continuation line" && n.line == 4));
    // A continuation at the end of the file.
    let i = one("RUN echo \\");
    assert!(matches!(&i.kind, Kind::Run { command: Command::Shell(s), .. } if s == "echo"));
    // An escaped escape at the very end keeps one.
    let i = one("RUN echo \\\\");
    assert!(matches!(&i.kind, Kind::Run { command: Command::Shell(s), .. } if s == "echo \\"));
    assert_eq!(one(&i.to_string()).kind, i.kind);
    // Trailing blanks after the escape still continue the line.
    let i = one("RUN a \\  \nb");
    assert!(matches!(&i.kind, Kind::Run { command: Command::Shell(s), .. } if s == "a b"));
    // CRLF line ends.
    let f = ok("FROM a\r\nRUN x \\\r\n y\r\n");
    assert!(
        matches!(&f.instructions[1].kind, Kind::Run { command: Command::Shell(s), .. } if s == "x  y")
    );
}

#[test]
fn directives() {
    let f = ok(
        "# syntax=docker/dockerfile:1\n# escape=`\n# check=skip=all\nFROM a\nRUN dir c:\\ `\n  x",
    );
    assert_eq!(f.escape, '`');
    assert_eq!(f.syntax.as_deref(), Some("docker/dockerfile:1"));
    assert_eq!(f.notes.len(), 2, "{:?}", f.notes);
    assert!(
        matches!(&f.instructions[1].kind, Kind::Run { command: Command::Shell(s), .. } if s == "dir c:\\   x")
    );
    // After a comment, a blank line or an instruction, directives are comments.
    let f = ok("# hello\n# escape=`\nFROM a\nRUN x \\\ny");
    assert_eq!(f.escape, '\\');
    assert_eq!(f.instructions.len(), 2);
    let e = err("# escape=x\nFROM a");
    assert!(e.message.contains("invalid escape token"), "{e}");
    let e = err("# escape=`\n# escape=\\\nFROM a");
    assert_eq!(
        e.to_string(),
        "Dockerfile:2:1: only one escape parser directive can be used"
    );
    // Directive keys are case-insensitive, spaces allowed.
    assert_eq!(ok("#  ESCAPE = `\nFROM a").escape, '`');
}

#[test]
fn backtick_escape_keeps_backslashes() {
    let f = ok("# escape=`\nFROM a\nCOPY C:\\src C:\\dst\\\nENV P=C:\\x `\n  Q=1");
    match &f.instructions[1].kind {
        Kind::Copy(a) => {
            assert_eq!(a.sources, strings(&["C:\\src"]));
            assert_eq!(a.dest, "C:\\dst\\");
        }
        k => panic!("{k:?}"),
    }
    assert_eq!(
        f.instructions[2].kind,
        Kind::Env(vec![kv("P", "C:\\x"), kv("Q", "1")])
    );
}

#[test]
fn heredocs() {
    let f = ok("FROM a\nRUN <<EOF\necho one\n  echo two\nEOF\nRUN x");
    match &f.instructions[1].kind {
        Kind::Run {
            command, heredocs, ..
        } => {
            assert_eq!(command, &Command::Shell("<<EOF".into()));
            assert_eq!(heredocs.len(), 1);
            assert_eq!(heredocs[0].name, "EOF");
            assert_eq!(heredocs[0].body, "echo one\n  echo two\n");
            assert!(heredocs[0].expand && !heredocs[0].chomp);
        }
        k => panic!("{k:?}"),
    }
    assert_eq!(f.instructions[1].end_line, 5);
    assert_eq!(f.instructions[2].line, 6);
    // Chomped, quoted, and two in one line.
    let f = ok("FROM a\nCOPY <<-\"A\" <<'B' /dst/\n\tone $X\n\tA\ntwo # not a comment\n\nB\n");
    match &f.instructions[1].kind {
        Kind::Copy(c) => {
            assert_eq!(c.sources, strings(&["<<-\"A\"", "<<'B'"]));
            assert_eq!(c.dest, "/dst/");
            assert_eq!(c.heredocs[0].name, "A");
            assert_eq!(c.heredocs[0].body, "one $X\n");
            assert!(c.heredocs[0].chomp && !c.heredocs[0].expand);
            assert_eq!(c.heredocs[1].body, "two # not a comment\n\n");
            assert!(!c.heredocs[1].expand);
        }
        k => panic!("{k:?}"),
    }
    // With a command around it, and a file descriptor.
    let i = one("RUN python3 3<<PY\nprint(1)\nPY");
    match &i.kind {
        Kind::Run { heredocs, .. } => assert_eq!(heredocs[0].marker, "3<<PY"),
        k => panic!("{k:?}"),
    }
    let e = err("FROM a\nRUN <<EOF\nnever closed\n");
    assert!(e.message.contains("unterminated heredoc"), "{e}");
    assert_eq!(e.line, 2);
    // Not heredocs: <<< and a quoted string.
    let i = one("RUN cat <<<word");
    assert!(matches!(&i.kind, Kind::Run { heredocs, .. } if heredocs.is_empty()));
    // Heredocs are only for RUN, COPY and ADD.
    let f = ok("FROM a\nCMD cat <<EOF\nENV a=b");
    assert_eq!(f.instructions.len(), 3);
}

#[test]
fn copy_and_add() {
    let i = one("COPY --from=build --chown=1:2 --chmod=0755 --link a b* /dst/");
    match &i.kind {
        Kind::Copy(a) => {
            assert_eq!(a.from.as_deref(), Some("build"));
            assert_eq!(a.chown.as_deref(), Some("1:2"));
            assert_eq!(a.chmod.as_deref(), Some("0755"));
            assert!(a.link);
            assert_eq!(a.sources, strings(&["a", "b*"]));
            assert_eq!(a.dest, "/dst/");
        }
        k => panic!("{k:?}"),
    }
    let i = one(r#"ADD ["a b", "/c d/"]"#);
    match &i.kind {
        Kind::Add(a) => {
            assert!(a.json);
            assert_eq!(a.sources, strings(&["a b"]));
            assert_eq!(a.dest, "/c d/");
        }
        k => panic!("{k:?}"),
    }
    let i = one("ADD --checksum=sha256:abc --keep-git-dir=false http://x/y /z");
    match &i.kind {
        Kind::Add(a) => {
            assert_eq!(a.checksum.as_deref(), Some("sha256:abc"));
            assert!(!a.keep_git_dir);
        }
        k => panic!("{k:?}"),
    }
    let e = err("COPY onlyone");
    assert!(
        e.message.contains("COPY requires at least two arguments"),
        "{e}"
    );
    assert_eq!(err("ADD --from=x a b").message, "Unknown flag: from");
    assert_eq!(
        err("COPY --chmod=abc a b").to_string(),
        "Dockerfile:1:6: invalid chmod parameter: \"abc\": expected an octal mode"
    );
    assert_eq!(
        err("COPY --from=a --from=b a b").message,
        "Duplicate flag specified: from"
    );
    assert_eq!(
        err("COPY --from a b").message,
        "Missing a value on flag: --from"
    );
    assert!(err("COPY --link=maybe a b")
        .message
        .contains("expecting boolean"));
    // Quoted flag values and `--` ending the flags.
    let i = one(r#"COPY --chown="us er" -- --weird /d"#);
    match &i.kind {
        Kind::Copy(a) => {
            assert_eq!(a.chown.as_deref(), Some("us er"));
            assert_eq!(a.sources, strings(&["--weird"]));
        }
        k => panic!("{k:?}"),
    }
}

#[test]
fn env_and_label_forms() {
    assert_eq!(
        one(r#"ENV a=1 b="two words" c=three\ words"#).kind,
        Kind::Env(vec![
            kv("a", "1"),
            kv("b", "\"two words\""),
            kv("c", "three\\ words")
        ])
    );
    assert_eq!(
        one("ENV NAME  the rest of   the line").kind,
        Kind::Env(vec![KeyValue {
            key: "NAME".into(),
            value: "the rest of   the line".into(),
            legacy: true
        }])
    );
    assert_eq!(err("ENV ONLY").message, "ENV must have two arguments");
    assert!(err("ENV a=1 b").message.contains("can't find = in \"b\""));
    assert_eq!(err("ENV =x").message, "ENV names can not be blank");
    assert_eq!(err("ENV").message, "ENV requires at least one argument");
    assert_eq!(
        one(r#"LABEL "com.example.vendor"="ACME Inc" version=1.0"#).kind,
        Kind::Label(vec![
            kv("\"com.example.vendor\"", "\"ACME Inc\""),
            kv("version", "1.0")
        ])
    );
    assert_eq!(one("ENV a=").kind, Kind::Env(vec![kv("a", "")]));
}

#[test]
fn arg_forms() {
    assert_eq!(
        one("ARG A B=2 C=\"x y\"").kind,
        Kind::Arg(vec![
            ("A".into(), None),
            ("B".into(), Some("2".into())),
            ("C".into(), Some("\"x y\"".into()))
        ])
    );
    assert_eq!(err("ARG").message, "ARG requires at least one argument");
    assert_eq!(err("ARG =1").message, "ARG names can not be blank");
}

#[test]
fn simple_string_instructions() {
    assert_eq!(one("WORKDIR /a b").kind, Kind::Workdir("/a b".into()));
    assert_eq!(one("USER app:app").kind, Kind::User("app:app".into()));
    assert_eq!(
        one("STOPSIGNAL SIGKILL").kind,
        Kind::StopSignal("SIGKILL".into())
    );
    assert_eq!(
        one("MAINTAINER Jane <jane@example.com>").kind,
        Kind::Maintainer("Jane <jane@example.com>".into())
    );
    assert_eq!(
        err("WORKDIR").message,
        "WORKDIR requires exactly one argument"
    );
    assert_eq!(err("USER").message, "USER requires exactly one argument");
    assert_eq!(err("WORKDIR --x=1 /a").message, "Unknown flag: x");
}

#[test]
fn expose_and_volume() {
    assert_eq!(
        one("EXPOSE 80 443/tcp\t53/udp").kind,
        Kind::Expose(strings(&["80", "443/tcp", "53/udp"]))
    );
    assert_eq!(
        one(r#"VOLUME ["/data", "/var/log"]"#).kind,
        Kind::Volume {
            paths: strings(&["/data", "/var/log"]),
            json: true
        }
    );
    assert_eq!(
        one("VOLUME /a /b").kind,
        Kind::Volume {
            paths: strings(&["/a", "/b"]),
            json: false
        }
    );
    assert_eq!(
        err(r#"VOLUME [" "]"#).message,
        "VOLUME specified can not be an empty string"
    );
    assert_eq!(
        err("EXPOSE").message,
        "EXPOSE requires at least one argument"
    );
}

#[test]
fn cmd_entrypoint_shell() {
    assert_eq!(
        one(r#"CMD ["sh", "-c", "x"]"#).kind,
        Kind::Cmd(Command::Exec(strings(&["sh", "-c", "x"])))
    );
    assert_eq!(
        one("CMD echo hi").kind,
        Kind::Cmd(Command::Shell("echo hi".into()))
    );
    assert_eq!(one("CMD []").kind, Kind::Cmd(Command::Exec(vec![])));
    assert_eq!(
        one("ENTRYPOINT top -b").kind,
        Kind::Entrypoint(Command::Shell("top -b".into()))
    );
    assert_eq!(
        one(r#"SHELL ["/bin/bash", "-eo", "pipefail", "-c"]"#).kind,
        Kind::Shell(strings(&["/bin/bash", "-eo", "pipefail", "-c"]))
    );
    assert!(err("SHELL /bin/bash -c").message.contains("JSON form"));
    assert_eq!(
        err("SHELL []").message,
        "SHELL requires at least one argument"
    );
}

#[test]
fn healthcheck_forms() {
    assert_eq!(
        one("HEALTHCHECK NONE").kind,
        Kind::Healthcheck(Health::None)
    );
    assert_eq!(
        one("healthcheck none").kind,
        Kind::Healthcheck(Health::None)
    );
    let i = one("HEALTHCHECK --interval=5m --timeout=3s --start-period=1m30s --retries=3 CMD curl -f http://localhost/ || exit 1");
    match &i.kind {
        Kind::Healthcheck(Health::Cmd {
            command,
            interval,
            timeout,
            start_period,
            retries,
            ..
        }) => {
            assert_eq!(
                command,
                &Command::Shell("curl -f http://localhost/ || exit 1".into())
            );
            assert_eq!(*interval, 300_000_000_000);
            assert_eq!(*timeout, 3_000_000_000);
            assert_eq!(*start_period, 90_000_000_000);
            assert_eq!(*retries, 3);
        }
        k => panic!("{k:?}"),
    }
    let i = one(r#"HEALTHCHECK CMD ["/bin/check", "x"]"#);
    assert!(
        matches!(&i.kind, Kind::Healthcheck(Health::Cmd { command: Command::Exec(v), .. }) if v.len() == 2)
    );
    assert_eq!(
        err("HEALTHCHECK NONE x").message,
        "HEALTHCHECK NONE takes no arguments"
    );
    assert_eq!(
        err("HEALTHCHECK CMD").message,
        "Missing command after HEALTHCHECK CMD"
    );
    assert_eq!(
        err("HEALTHCHECK WAT x").message,
        "Unknown type \"WAT\" in HEALTHCHECK (try CMD)"
    );
    assert_eq!(
        err("HEALTHCHECK --interval=1ns CMD x").message,
        "Interval \"interval\" cannot be less than 1ms"
    );
    assert_eq!(
        err("HEALTHCHECK --interval=5 CMD x").message,
        "time: invalid duration \"5\""
    );
    assert_eq!(
        err("HEALTHCHECK --retries=0 CMD x").message,
        "--retries must be at least 1 (not 0)"
    );
    assert_eq!(
        err("HEALTHCHECK --bogus=1 CMD x").message,
        "Unknown flag: bogus"
    );
}

#[test]
fn onbuild() {
    let i = one("ONBUILD  RUN echo built");
    match &i.kind {
        Kind::Onbuild {
            expression,
            trigger,
        } => {
            assert_eq!(expression, "RUN echo built");
            assert!(matches!(&trigger.kind, Kind::Run { .. }));
        }
        k => panic!("{k:?}"),
    }
    assert!(err("ONBUILD ONBUILD RUN x")
        .message
        .contains("Chaining ONBUILD"));
    assert_eq!(
        err("ONBUILD FROM x").message,
        "FROM isn't allowed as an ONBUILD trigger"
    );
    assert_eq!(
        err("ONBUILD MAINTAINER x").message,
        "MAINTAINER isn't allowed as an ONBUILD trigger"
    );
    assert_eq!(
        err("ONBUILD NOPE x").to_string(),
        "Dockerfile:1:9: unknown instruction: NOPE"
    );
}

#[test]
fn not_utf8() {
    let e = parse(b"FROM a\nRUN \xff").unwrap_err();
    assert_eq!((e.line, e.column), (2, 5));
}

#[test]
fn printed_instructions_parse_back() {
    let src = "FROM --platform=linux/amd64 a AS b\nRUN --network=none echo \"$x\"\nCOPY --from=b --chown=\"a b\" --link x y /z/\nADD [\"a\", \"b c\"]\nENV A=1 B=\"2 3\"\nENV OLD some value\nARG X Y=2\nLABEL a=b\nWORKDIR /w\nUSER u\nEXPOSE 80/udp\nVOLUME [\"/v\"]\nVOLUME /x /y\nCMD [\"a\"]\nENTRYPOINT run me\nSHELL [\"/bin/bash\", \"-c\"]\nSTOPSIGNAL 9\nHEALTHCHECK --interval=5s --retries=2 CMD true\nHEALTHCHECK NONE\nONBUILD ADD . /app\nMAINTAINER me\nRUN <<EOF\nline $a\nEOF\n";
    let f = ok(src);
    for inst in &f.instructions {
        let text = inst.to_string();
        let back = one(&text);
        assert_eq!(norm(back.kind), norm(inst.kind.clone()), "{text:?}");
    }
}
