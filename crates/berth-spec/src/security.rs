//! `HostConfig.SecurityOpt`: `no-new-privileges`, seccomp, and the LSM options berth has no
//! use for.

use crate::error::SpecError;
use crate::seccomp::SeccompChoice;

/// What the security options ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SecurityOptions {
    pub no_new_privileges: bool,
    pub seccomp: SeccompChoice,
}

const FIELD: &str = "HostConfig.SecurityOpt";

/// Parses the options as dockerd does (`KEY=VALUE`, or the deprecated `KEY:VALUE`), starting
/// from the daemon's `no-new-privileges` default. AppArmor and SELinux are not part of berth:
/// `apparmor=unconfined` and `label=disable` (which ask for nothing) are accepted, any other
/// profile or label is an error.
pub(crate) fn parse(opts: &[String], daemon_nnp: bool) -> Result<SecurityOptions, SpecError> {
    let mut out = SecurityOptions {
        no_new_privileges: daemon_nnp,
        seccomp: SeccompChoice::Default,
    };
    for opt in opts {
        if opt == "no-new-privileges" {
            out.no_new_privileges = true;
            continue;
        }
        if opt == "disable" {
            continue;
        }
        let (key, value) = opt
            .split_once('=')
            .or_else(|| opt.split_once(':'))
            .ok_or_else(|| {
                SpecError::invalid(FIELD, format!("invalid --security-opt 1: {opt:?}"))
            })?;
        match key {
            "seccomp" => {
                out.seccomp = match value {
                    "unconfined" => SeccompChoice::Unconfined,
                    json => SeccompChoice::Custom(json.to_owned()),
                }
            }
            "no-new-privileges" => {
                out.no_new_privileges = match value {
                    "1" | "t" | "T" | "true" | "TRUE" | "True" => true,
                    "0" | "f" | "F" | "false" | "FALSE" | "False" => false,
                    _ => {
                        return Err(SpecError::invalid(
                            FIELD,
                            format!("invalid --security-opt 2: {opt:?}"),
                        ))
                    }
                }
            }
            "apparmor" if value == "unconfined" => {}
            "label" if value == "disable" => {}
            "apparmor" | "label" => return Err(SpecError::unsupported("--security-opt", opt)),
            _ => {
                return Err(SpecError::invalid(
                    FIELD,
                    format!("invalid --security-opt 2: {opt:?}"),
                ))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(opts: &[&str]) -> Result<SecurityOptions, SpecError> {
        let opts: Vec<String> = opts.iter().map(|s| (*s).to_owned()).collect();
        parse(&opts, false)
    }

    #[test]
    fn options() {
        assert_eq!(p(&[]).unwrap(), SecurityOptions::default());
        assert!(p(&["no-new-privileges"]).unwrap().no_new_privileges);
        assert!(p(&["no-new-privileges=true"]).unwrap().no_new_privileges);
        assert!(!p(&["no-new-privileges:false"]).unwrap().no_new_privileges);
        assert!(
            !parse(&["no-new-privileges=false".into()], true)
                .unwrap()
                .no_new_privileges
        );
        assert_eq!(
            p(&["seccomp=unconfined"]).unwrap().seccomp,
            SeccompChoice::Unconfined
        );
        assert_eq!(
            p(&[r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW"}"#])
                .unwrap()
                .seccomp,
            SeccompChoice::Custom(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#.into())
        );
        assert!(p(&["apparmor=unconfined", "label=disable"]).is_ok());
    }

    #[test]
    fn refused() {
        assert!(matches!(
            p(&["apparmor=docker-default"]),
            Err(SpecError::Unsupported { .. })
        ));
        assert!(matches!(
            p(&["label=type:svirt_t"]),
            Err(SpecError::Unsupported { .. })
        ));
        assert!(matches!(p(&["bogus"]), Err(SpecError::Invalid { .. })));
        assert!(matches!(
            p(&["no-new-privileges=maybe"]),
            Err(SpecError::Invalid { .. })
        ));
        assert!(matches!(
            p(&["colour=blue"]),
            Err(SpecError::Invalid { .. })
        ));
    }
}
