//! The planner: stages, graph, expansion as docker does it, configuration changes and history.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use berth_build::{
    cache_key, parse, plan, Base, BuildOptions, ConfigChange, CopyFrom, ImageConfig, Plan,
    PlanError, ResolvedStage, Source, StepKind,
};

fn planned(src: &str, args: &[(&str, &str)], target: Option<&str>) -> Result<Plan, PlanError> {
    let file = parse(src.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let options = BuildOptions {
        build_args: args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        target: target.map(str::to_string),
    };
    plan(&file, &options)
}

/// The last stage resolved from an empty base.
fn last(src: &str, args: &[(&str, &str)]) -> ResolvedStage {
    let p = planned(src, args, None).unwrap_or_else(|e| panic!("{e}"));
    let mut all = p.resolve_all(&|_| None).unwrap_or_else(|e| panic!("{e}"));
    all.pop().unwrap().1
}

fn history(r: &ResolvedStage) -> Vec<String> {
    r.steps.iter().map(|s| s.created_by("file:abc")).collect()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn only_needed_stages_and_waves() {
    let src = "FROM busybox AS base\nRUN a\nFROM base AS left\nRUN l\nFROM base AS right\nRUN r\nFROM alpine AS unused\nFROM scratch\nCOPY --from=left /l /\nCOPY --from=right /r /\n";
    let p = planned(src, &[], None).unwrap();
    let idx: Vec<usize> = p.stages.iter().map(|s| s.index).collect();
    assert_eq!(idx, vec![0, 1, 2, 4]);
    assert_eq!(p.waves, vec![vec![0], vec![1, 2], vec![4]]);
    assert_eq!(p.stage(1).unwrap().base, Base::Stage(0));
    assert_eq!(p.stage(4).unwrap().base, Base::Scratch);
    assert_eq!(
        p.stage(4)
            .unwrap()
            .depends_on
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        vec![1, 2]
    );
    let p = planned(src, &[], Some("LEFT")).unwrap();
    assert_eq!(
        p.stages.iter().map(|s| s.index).collect::<Vec<_>>(),
        vec![0, 1]
    );
    assert_eq!(p.target, 1);
    let p = planned(src, &[], Some("unused")).unwrap();
    assert_eq!(p.stages.len(), 1);
    assert_eq!(p.stages[0].base, Base::Image("alpine".into()));
    assert_eq!(
        planned(src, &[], Some("nope")).unwrap_err().to_string(),
        "failed to reach build target nope in Dockerfile"
    );
}

#[test]
fn copy_from_index_image_and_errors() {
    let src = "FROM a\nFROM b\nCOPY --from=0 /x /\nCOPY --from=nginx:1 /y /\n";
    let p = planned(src, &[], None).unwrap();
    let st = p.stage(1).unwrap();
    assert!(st.depends_on.contains(&0));
    assert!(st.copy_images.contains("nginx:1"));
    let r = p.resolve_all(&|_| None).unwrap();
    match &r[1].1.steps[1].kind {
        StepKind::Copy { from, .. } => assert_eq!(from, &CopyFrom::Image("nginx:1".into())),
        k => panic!("{k:?}"),
    }
    let e = planned("FROM a\nCOPY --from=0 /x /\n", &[], None).unwrap_err();
    assert!(
        e.to_string()
            .contains("refers to current or future build stage"),
        "{e}"
    );
    let e = planned("FROM a AS me\nCOPY --from=me /x /\n", &[], None).unwrap_err();
    assert!(e.to_string().contains("circular dependency"), "{e}");
    let e = planned(
        "FROM a AS x\nCOPY --from=y / /\nFROM b AS y\nCOPY --from=x / /\n",
        &[],
        None,
    )
    .unwrap_err();
    assert!(e.to_string().contains("circular dependency"), "{e}");
    let e = planned("FROM a AS x\nFROM b AS X\n", &[], None).unwrap_err();
    assert!(e.to_string().contains("duplicate name"), "{e}");
    let e = planned("ENV a=b\nFROM a\n", &[], None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Dockerfile:1: ENV before the first FROM: only ARG may come before FROM"
    );
    assert_eq!(
        planned("ARG x\n", &[], None).unwrap_err(),
        PlanError::NoStage
    );
}

#[test]
fn meta_args_only_in_from_unless_redeclared() {
    let src = "ARG TAG=1.36\nARG BASE=busybox\nFROM ${BASE}:${TAG} AS b\nRUN echo $TAG\nENV T=${TAG:-unset}\nARG TAG\nENV U=$TAG\n";
    let p = planned(src, &[], None).unwrap();
    assert_eq!(p.stages[0].base, Base::Image("busybox:1.36".into()));
    let r = last(src, &[]);
    assert_eq!(r.config.env_list()[1], "T=unset");
    assert_eq!(r.config.env_list()[2], "U=1.36");
    let p = planned(src, &[("TAG", "musl")], None).unwrap();
    assert_eq!(p.stages[0].base, Base::Image("busybox:musl".into()));
    let r = last(src, &[("TAG", "musl")]);
    assert_eq!(r.config.env_list()[2], "U=musl");
    // An undeclared build arg is not visible and is reported.
    let p = planned("FROM a\nENV X=${NOPE:-d}\n", &[("NOPE", "v")], None).unwrap();
    assert_eq!(p.unused_build_args, s(&["NOPE"]));
}

#[test]
fn env_overrides_arg_and_build_args_override_defaults() {
    let src = "FROM a\nARG V=default\nENV A=$V\nARG W\nENV B=${W:-none}\nENV V=fromenv\nENV C=$V\n";
    let r = last(src, &[]);
    assert_eq!(
        r.config.env_list(),
        s(&[
            berth_build::DEFAULT_PATH,
            "A=default",
            "B=none",
            "V=fromenv",
            "C=fromenv"
        ])
    );
    let r = last(src, &[("V", "cli"), ("W", "w")]);
    assert_eq!(r.config.env_list()[1..3], s(&["A=cli", "B=w"]));
}

#[test]
fn env_values_expand_against_the_previous_state() {
    let r = last(
        "FROM a\nENV abc=hello\nENV abc=bye def=$abc\nENV ghi=$abc\n",
        &[],
    );
    assert_eq!(
        r.config.env_list()[1..],
        s(&["abc=bye", "def=hello", "ghi=bye"])
    );
    let r = last("FROM a\nENV X=\"a b\" Y='$X' Z=\\$X W=${X:+set}\n", &[]);
    assert_eq!(
        r.config.env_list()[1..],
        s(&["X=a b", "Y=$X", "Z=$X", "W="])
    );
    let r = last("FROM a\nENV X old form $HOME\n", &[]);
    assert_eq!(r.config.env_list()[1], "X=old form ");
}

#[test]
fn run_is_not_expanded_and_history_lists_build_args() {
    let src = "FROM a\nARG V=1\nARG EMPTY\nRUN echo $V\nENV V=2\nRUN [\"echo\", \"$V\"]\n";
    let r = last(src, &[]);
    let h = history(&r);
    assert_eq!(h[0], "/bin/sh -c #(nop)  ARG V=1");
    assert_eq!(h[1], "/bin/sh -c #(nop)  ARG EMPTY");
    assert_eq!(h[2], "|1 V=1 /bin/sh -c echo $V");
    assert_eq!(h[4], "echo $V");
    match &r.steps[2].kind {
        StepKind::Run { argv, env, .. } => {
            assert_eq!(argv, &s(&["/bin/sh", "-c", "echo $V"]));
            assert_eq!(env, &s(&[berth_build::DEFAULT_PATH, "V=1"]));
        }
        k => panic!("{k:?}"),
    }
    let r = last(src, &[("EMPTY", "e"), ("HTTP_PROXY", "http://p")]);
    let h = history(&r);
    assert_eq!(h[2], "|2 EMPTY=e V=1 /bin/sh -c echo $V");
    match &r.steps[2].kind {
        StepKind::Run { env, .. } => assert!(env.contains(&"HTTP_PROXY=http://p".to_string())),
        k => panic!("{k:?}"),
    }
    // Only a builtin: docker still marks the command, with zero listed args.
    let r = last("FROM a\nRUN x\n", &[("no_proxy", "y")]);
    assert_eq!(history(&r)[0], "|0 /bin/sh -c x");
}

#[test]
fn metadata_history_strings() {
    let src = r#"FROM a
ENV A=1 B=2
LABEL x=1 "y z"="w v"
WORKDIR /app
WORKDIR sub/../src
USER 1000:1000
EXPOSE 8080 53/udp 7000-7001
VOLUME ["/data", "/logs"]
VOLUME /v
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5m --timeout=3s --retries=3 CMD curl -f http://localhost/ || exit 1
ONBUILD RUN echo "child"
MAINTAINER Jane Doe
CMD ["run", "it"]
SHELL ["/bin/bash", "-c"]
ENTRYPOINT exec app
COPY a b/
"#;
    let r = last(src, &[]);
    let h = history(&r);
    assert_eq!(
        h,
        s(&[
            "/bin/sh -c #(nop)  ENV A=1 B=2",
            "/bin/sh -c #(nop)  LABEL x=1 y z=w v",
            "/bin/sh -c #(nop) WORKDIR /app",
            "/bin/sh -c #(nop) WORKDIR /app/src",
            "/bin/sh -c #(nop)  USER 1000:1000",
            "/bin/sh -c #(nop)  EXPOSE 53/udp 7000-7001 8080",
            "/bin/sh -c #(nop)  VOLUME [/data /logs]",
            "/bin/sh -c #(nop)  VOLUME [/v]",
            "/bin/sh -c #(nop)  STOPSIGNAL SIGINT",
            r#"/bin/sh -c #(nop)  HEALTHCHECK &{["CMD-SHELL" "curl -f http://localhost/ || exit 1"] "5m0s" "3s" "0s" '\x03'}"#,
            r#"/bin/sh -c #(nop)  ONBUILD RUN echo "child""#,
            "/bin/sh -c #(nop)  MAINTAINER Jane Doe",
            r#"/bin/sh -c #(nop)  CMD ["run" "it"]"#,
            "/bin/bash -c #(nop)  SHELL [/bin/bash -c]",
            r#"/bin/bash -c #(nop)  ENTRYPOINT ["/bin/bash" "-c" "exec app"]"#,
            "/bin/bash -c #(nop) COPY file:abc in b/ ",
        ])
    );
    let c = &r.config;
    assert_eq!(c.working_dir, "/app/src");
    assert_eq!(c.user, "1000:1000");
    assert_eq!(c.labels.as_ref().unwrap()["y z"], "w v");
    assert_eq!(c.exposed_ports.as_ref().unwrap().len(), 4);
    assert_eq!(
        c.volumes
            .as_ref()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>(),
        s(&["/data", "/logs", "/v"])
    );
    assert_eq!(c.stop_signal.as_deref(), Some("SIGINT"));
    assert_eq!(c.on_build.as_deref(), Some(&s(&["RUN echo \"child\""])[..]));
    // CMD was set in this stage before ENTRYPOINT: it stays.
    assert_eq!(c.cmd.as_deref(), Some(&s(&["run", "it"])[..]));
    assert_eq!(
        c.entrypoint.as_deref(),
        Some(&s(&["/bin/bash", "-c", "exec app"])[..])
    );
    assert_eq!(c.shell.as_deref(), Some(&s(&["/bin/bash", "-c"])[..]));
    let hc = c.healthcheck.as_ref().unwrap();
    assert_eq!(
        (hc.interval, hc.timeout, hc.retries),
        (300_000_000_000, 3_000_000_000, 3)
    );
    assert_eq!(r.author.as_deref(), Some("Jane Doe"));
    match &r.steps.last().unwrap().kind {
        StepKind::Copy { dest_abs, .. } => assert_eq!(dest_abs, "/app/src/b/"),
        k => panic!("{k:?}"),
    }
    assert!(r.steps[0].empty_layer());
    assert!(!r.steps[2].empty_layer(), "WORKDIR makes its directory");
}

#[test]
fn healthcheck_inherits_zero_fields_as_dockerd_commits_it() {
    let r = last("FROM a\nHEALTHCHECK --interval=5s --retries=2 CMD a\nHEALTHCHECK --timeout=1s CMD b\nHEALTHCHECK NONE\n", &[]);
    let hc = r.config.healthcheck.clone().unwrap();
    assert_eq!(hc.test, s(&["NONE"]));
    assert_eq!(
        (hc.interval, hc.timeout, hc.retries),
        (5_000_000_000, 1_000_000_000, 2)
    );
    assert_eq!(
        history(&r)[2],
        r#"/bin/sh -c #(nop)  HEALTHCHECK &{["NONE"] "0s" "0s" "0s" '\x00'}"#
    );
}

#[test]
fn entrypoint_resets_inherited_cmd() {
    let p = planned("FROM base\nENTRYPOINT [\"/e\"]\n", &[], None).unwrap();
    let base = ImageConfig {
        cmd: Some(s(&["sh"])),
        ..ImageConfig::default()
    };
    let r = p.resolve_stage(0, &base).unwrap();
    assert_eq!(r.config.cmd, None);
    assert!(matches!(
        &r.steps[0].kind,
        StepKind::Config(ConfigChange::Entrypoint {
            resets_cmd: true,
            ..
        })
    ));
    // CMD after ENTRYPOINT stays; ENTRYPOINT [] clears it.
    let r = last(
        "FROM a\nENTRYPOINT [\"/e\"]\nCMD [\"x\"]\nENTRYPOINT []\n",
        &[],
    );
    assert_eq!(r.config.cmd.as_deref(), Some(&s(&["x"])[..]));
    assert_eq!(r.config.entrypoint, None);
    assert_eq!(history(&r)[2], "/bin/sh -c #(nop)  ENTRYPOINT []");
}

#[test]
fn shell_form_cmd_uses_the_shell() {
    let r = last(
        "FROM a\nSHELL [\"/bin/ash\", \"-eo\", \"pipefail\", \"-c\"]\nCMD echo $HOME\nRUN x\n",
        &[],
    );
    assert_eq!(
        r.config.cmd.as_deref(),
        Some(&s(&["/bin/ash", "-eo", "pipefail", "-c", "echo $HOME"])[..])
    );
    assert_eq!(history(&r)[2], "/bin/ash -eo pipefail -c x");
}

#[test]
fn workdir_expansion_and_relative() {
    let r = last(
        "FROM a\nENV D=/opt\nWORKDIR $D\nWORKDIR ${SUB:-lib}\nWORKDIR ../x/./y/\n",
        &[],
    );
    assert_eq!(r.config.working_dir, "/opt/x/y");
    let e = planned("FROM a\nWORKDIR $EMPTY\n", &[], None)
        .unwrap()
        .resolve_all(&|_| None)
        .unwrap_err();
    assert!(e.to_string().contains("cannot normalize nothing"), "{e}");
}

#[test]
fn copy_sources_expanded_and_heredocs() {
    let src = "FROM a\nARG F=file.txt\nWORKDIR /w\nCOPY --chown=${U:-1}:2 --chmod=644 $F \"b\" ./\nCOPY <<EOF <<'RAW' /etc/\nhello $F\nEOF\nkeep $F\nRAW\nADD https://example.com/x.tgz /x\n";
    let r = last(src, &[]);
    match &r.steps[2].kind {
        StepKind::Copy {
            sources,
            chown,
            chmod,
            dest,
            dest_abs,
            ..
        } => {
            assert_eq!(
                sources,
                &vec![Source::Path("file.txt".into()), Source::Path("b".into())]
            );
            assert_eq!(chown.as_deref(), Some("1:2"));
            assert_eq!(*chmod, Some(0o644));
            assert_eq!(dest, "./");
            assert_eq!(dest_abs, "/w/");
        }
        k => panic!("{k:?}"),
    }
    match &r.steps[3].kind {
        StepKind::Copy { sources, .. } => assert_eq!(
            sources,
            &vec![
                Source::Inline {
                    name: "EOF".into(),
                    content: "hello file.txt\n".into()
                },
                Source::Inline {
                    name: "RAW".into(),
                    content: "keep $F\n".into()
                },
            ]
        ),
        k => panic!("{k:?}"),
    }
    match &r.steps[4].kind {
        StepKind::Copy {
            add: true, sources, ..
        } => {
            assert_eq!(
                sources,
                &vec![Source::Url("https://example.com/x.tgz".into())]
            )
        }
        k => panic!("{k:?}"),
    }
    assert_eq!(
        r.steps[4].created_by("multi:123"),
        "/bin/sh -c #(nop) ADD multi:123 in /x "
    );
}

#[test]
fn run_heredoc_argv() {
    let r = last(
        "FROM a\nRUN <<EOF\necho $HOME\nEOF\nRUN cat <<A > /f\nx\nA\n",
        &[],
    );
    match &r.steps[0].kind {
        StepKind::Run { argv, .. } => assert_eq!(argv, &s(&["/bin/sh", "-c", "echo $HOME\n"])),
        k => panic!("{k:?}"),
    }
    match &r.steps[1].kind {
        StepKind::Run { argv, .. } => {
            assert_eq!(argv, &s(&["/bin/sh", "-c", "cat <<A > /f\nx\nA"]))
        }
        k => panic!("{k:?}"),
    }
}

#[test]
fn refused_and_invalid() {
    let run = |src: &str| {
        planned(src, &[], None)
            .unwrap()
            .resolve_all(&|_| None)
            .unwrap_err()
            .to_string()
    };
    assert!(run("FROM a\nRUN --mount=type=cache,target=/c x\n")
        .contains("RUN --mount is not supported"));
    assert!(run("FROM a\nRUN --network=bridge2 x\n").contains("unsupported network mode"));
    assert!(run("FROM a\nSTOPSIGNAL SIGNOPE\n").contains("Invalid signal: SIGNOPE"));
    assert!(run("FROM a\nEXPOSE 80/xyz\n").contains("invalid proto"));
    assert!(run("FROM a\nEXPOSE abc\n").contains("invalid containerPort"));
    assert!(run("FROM a\nENV X=${Y:?required}\n").contains("Y: required"));
    // Words are split before quotes are read, as docker's legacy builder does.
    assert!(run("FROM a\nCOPY \"a b\" /\n").contains("unexpected end of statement"));
    assert!(run("FROM a\nENV X=${Y#p}\n").contains("unsupported modifier (#)"));
    let ok = |src: &str| {
        planned(src, &[], None)
            .unwrap()
            .resolve_all(&|_| None)
            .is_ok()
    };
    assert!(ok(
        "FROM a\nSTOPSIGNAL 9\nSTOPSIGNAL TERM\nSTOPSIGNAL SIGRTMIN+3\nRUN --network=none x\n"
    ));
}

#[test]
fn onbuild_triggers_of_the_base_run_first() {
    let p = planned("FROM parent\nRUN own\n", &[], None).unwrap();
    let base = ImageConfig {
        on_build: Some(s(&["ENV FROM_TRIGGER=1", "RUN make"])),
        ..ImageConfig::default()
    };
    let r = p.resolve_stage(0, &base).unwrap();
    assert_eq!(r.steps.len(), 3);
    assert!(r.steps[0].from_trigger && r.steps[1].from_trigger && !r.steps[2].from_trigger);
    assert_eq!(history(&r)[1], "/bin/sh -c make");
    assert!(r.config.env_list().contains(&"FROM_TRIGGER=1".to_string()));
    assert_eq!(r.config.on_build, None);
    // A stage based on a stage inherits the configuration.
    let r = last(
        "FROM a AS one\nENV X=1\nONBUILD RUN hi\nFROM one\nRUN two\n",
        &[],
    );
    assert_eq!(history(&r), s(&["/bin/sh -c hi", "/bin/sh -c two"]));
    assert!(r.config.env_list().contains(&"X=1".to_string()));
}

#[test]
fn base_path_kept_or_defaulted() {
    let p = planned("FROM x\nENV A=1\n", &[], None).unwrap();
    let base = ImageConfig {
        env: Some(s(&["PATH=/custom"])),
        ..ImageConfig::default()
    };
    let r = p.resolve_stage(0, &base).unwrap();
    assert_eq!(r.config.env_list(), s(&["PATH=/custom", "A=1"]));
}

#[test]
fn cache_keys_are_pure_and_distinct() {
    let a = cache_key("sha256:p", "/bin/sh -c x", None);
    assert_eq!(a, cache_key("sha256:p", "/bin/sh -c x", None));
    assert_ne!(a, cache_key("sha256:q", "/bin/sh -c x", None));
    assert_ne!(a, cache_key("sha256:p", "/bin/sh -c y", None));
    assert_ne!(a, cache_key("sha256:p", "/bin/sh -c x", Some("")));
    assert_ne!(cache_key("ab", "c", None), cache_key("a", "bc", None));
    assert!(a.starts_with("sha256:") && a.len() == 71);
}

#[test]
fn backtick_escape_in_expansion() {
    let r = last("# escape=`\nFROM a\nENV P=C:\\dir\\`$HOME Q=`\"x\n", &[]);
    assert_eq!(r.config.env_list()[1..], s(&["P=C:\\dir\\$HOME", "Q=\"x"]));
}

#[test]
fn run_heredoc_with_shebang_is_a_script_file() {
    let r = last(
        "FROM a\nRUN <<-PY\n\t#!/usr/bin/python3\n\tprint(1)\n\tPY\n",
        &[],
    );
    match &r.steps[0].kind {
        StepKind::Run {
            argv,
            heredoc_files,
            ..
        } => {
            assert_eq!(argv, &s(&["/bin/sh", "-c", "/dev/pipes/PY"]));
            assert_eq!(
                heredoc_files,
                &vec![(
                    "/dev/pipes/PY".to_string(),
                    "#!/usr/bin/python3\nprint(1)\n".to_string()
                )]
            );
        }
        k => panic!("{k:?}"),
    }
}
