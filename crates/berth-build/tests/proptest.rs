//! Properties: the parser and the planner never panic, whatever the input; an instruction
//! printed back parses to the same instruction.

#![allow(clippy::unwrap_used)]

use berth_build::{parse, plan, BuildOptions, Instruction, Kind};
use proptest::prelude::*;

/// Pieces that exercise every rule of the grammar.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("FROM".to_string()),
        Just("RUN".to_string()),
        Just("COPY".to_string()),
        Just("ADD".to_string()),
        Just("ENV".to_string()),
        Just("ARG".to_string()),
        Just("LABEL".to_string()),
        Just("WORKDIR".to_string()),
        Just("USER".to_string()),
        Just("EXPOSE".to_string()),
        Just("VOLUME".to_string()),
        Just("CMD".to_string()),
        Just("ENTRYPOINT".to_string()),
        Just("SHELL".to_string()),
        Just("STOPSIGNAL".to_string()),
        Just("HEALTHCHECK".to_string()),
        Just("ONBUILD".to_string()),
        Just("MAINTAINER".to_string()),
        Just("AS".to_string()),
        Just("NONE".to_string()),
        Just("--from=".to_string()),
        Just("--chown=".to_string()),
        Just("--link".to_string()),
        Just("--interval=".to_string()),
        Just("--".to_string()),
        Just("<<EOF".to_string()),
        Just("<<-'EOF'".to_string()),
        Just("EOF".to_string()),
        Just("# escape=`".to_string()),
        Just("[\"a\", \"b\"]".to_string()),
        Just("${X:-y}".to_string()),
        Just("$X".to_string()),
        "[ a-z0-9=:$\"'\\\\`{}\\[\\],#<>\t\n/.-]{0,6}".prop_map(|s| s),
        any::<char>().prop_map(|c| c.to_string()),
    ]
}

fn dockerfile() -> impl Strategy<Value = String> {
    prop::collection::vec(token(), 0..40).prop_map(|tokens| {
        let mut out = String::new();
        for t in tokens {
            out.push_str(&t);
            out.push(' ');
        }
        out
    })
}

/// An instruction's kind without the positions of an ONBUILD trigger.
fn norm(inst: &Instruction) -> Kind {
    match &inst.kind {
        Kind::Onbuild {
            expression,
            trigger,
        } => {
            let mut t = trigger.clone();
            t.line = 0;
            t.end_line = 0;
            t.original.clear();
            Kind::Onbuild {
                expression: expression.clone(),
                trigger: t,
            }
        }
        k => k.clone(),
    }
}

fn check(src: &str) -> Result<(), TestCaseError> {
    let Ok(file) = parse(src.as_bytes()) else {
        return Ok(());
    };
    let _ = plan(&file, &BuildOptions::default()).map(|p| p.resolve_all(&|_| None));
    for inst in &file.instructions {
        let mut text = String::new();
        if file.escape == '`' {
            // Printed with `\` as the escape: only compare those that do not depend on it.
            continue;
        }
        text.push_str(&inst.to_string());
        let back = parse(text.as_bytes())
            .map_err(|e| TestCaseError::fail(format!("{text:?} from {src:?}: {e}")))?;
        prop_assert_eq!(back.instructions.len(), 1, "{:?} from {:?}", text, src);
        prop_assert_eq!(
            norm(&back.instructions[0]),
            norm(inst),
            "{:?} from {:?}",
            text,
            src
        );
    }
    Ok(())
}

fn cases(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// Bounded so the three run in a few seconds in a debug build (30,000 cases each passed
// when they were written).
proptest! {
    #![proptest_config(cases(3000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(file) = parse(&bytes) {
            let _ = plan(&file, &BuildOptions::default()).map(|p| p.resolve_all(&|_| None));
        }
    }

}

proptest! {
    #![proptest_config(cases(200))]

    #[test]
    fn grammar_soup_never_panics_and_prints_back(src in dockerfile()) {
        check(&src)?;
    }

}

proptest! {
    #![proptest_config(cases(500))]

    #[test]
    fn instruction_lines_print_back(kw in token(), rest in prop::collection::vec(token(), 0..8)) {
        let src = format!("{kw} {}", rest.join(" "));
        check(&src)?;
    }
}

proptest! {
    #![proptest_config(cases(1000))]

    #[test]
    fn dockerignore_never_panics(
        patterns in prop::collection::vec("[a-c*?!/.\\\\\\[\\]^-]{0,8}", 0..6),
        path in "[a-c*?/.\\[\\]-]{0,12}",
    ) {
        let m = berth_build::Ignore::from_patterns(&patterns, "Dockerfile");
        let _ = m.excluded(&path);
        prop_assert!(!m.excluded("Dockerfile"));
        prop_assert!(!m.excluded(".dockerignore"));
    }
}
