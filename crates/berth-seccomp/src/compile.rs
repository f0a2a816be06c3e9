//! OCI `linux.seccomp` → libseccomp filter → BPF program, following runc's
//! `libcontainer/seccomp` semantics (see the crate documentation for the list).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use libseccomp::{ScmpAction, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall,
};

use crate::{arch, bpf, enosys, Program, SeccompError};

/// Syscalls take at most six arguments.
const MAX_ARGS: usize = 6;
/// runc turns on libseccomp's binary-tree layout above this many syscall rules.
const OPTIMIZE_ABOVE: usize = 32;
/// libseccomp API level that has SCMP_ACT_NOTIFY (libseccomp 2.5, Linux 5.7).
const NOTIFY_API_LEVEL: u32 = 6;

/// Compiles `profile` into a [`Program`] ready for [`Program::install`].
///
/// Runs in the runtime's parent process, before the container's init is forked:
/// it calls libseccomp, allocates and probes the kernel for flag support.
pub fn compile(profile: &LinuxSeccomp) -> Result<Program, SeccompError> {
    let default = action(profile.default_action(), profile.default_errno_ret())?;
    let syscalls = profile.syscalls().as_deref().unwrap_or_default();
    let wants_listener = check_notify(profile, syscalls)?;

    let mut ctx = ScmpFilterContext::new(default).map_err(|source| SeccompError::Libseccomp {
        op: "create filter",
        source,
    })?;
    for a in profile.architectures().iter().flatten() {
        ctx.add_arch(arch::to_scmp(*a))
            .map_err(|source| SeccompError::UnsupportedArch {
                arch: a.to_string(),
                version: libseccomp_version(),
                source,
            })?;
    }
    let flags = kernel_flags(profile, wants_listener)?;

    let names = syscalls.iter().map(|s| s.names().len()).sum::<usize>();
    let mut added = 0;
    for (index, rule) in syscalls.iter().enumerate() {
        added += add_rules(&mut ctx, index, rule, default)?;
    }
    // libseccomp <= 2.5.4 misbehaves with the binary tree and no rules at all, hence
    // the second condition; runc counts names, so do we. Failure only means an older
    // libseccomp, which runc ignores too.
    if names > OPTIMIZE_ABOVE && added > 0 {
        let _ = ctx.set_ctl_optimize(2);
    }

    let filter = export(&ctx)?;
    let mut instructions = enosys::stub(profile)?;
    instructions.extend_from_slice(&filter);
    let max = usize::try_from(libc::BPF_MAXINSNS).unwrap_or(4096);
    if instructions.len() > max {
        return Err(SeccompError::ProgramTooLong {
            len: instructions.len(),
            max,
        });
    }
    Ok(Program {
        instructions,
        flags,
        wants_listener,
    })
}

/// The libseccomp action for an OCI action, with runc's defaults: ERRNO and TRACE
/// carry `errnoRet`, EPERM when it is absent; KILL means KILL_THREAD.
fn action(act: LinuxSeccompAction, errno_ret: Option<u32>) -> Result<ScmpAction, SeccompError> {
    let data = || -> Result<u16, SeccompError> {
        match errno_ret {
            None => Ok(u16::try_from(libc::EPERM).unwrap_or(1)),
            Some(v) => u16::try_from(v).map_err(|_| SeccompError::ErrnoOutOfRange {
                action: act.to_string(),
                value: v,
            }),
        }
    };
    Ok(match act {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(i32::from(data()?)),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(data()?),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
    })
}

/// runc's checks on SCMP_ACT_NOTIFY: never the default action (the init could not
/// report back), never on `write` (the init writes the listener fd to its parent),
/// a `listenerPath` to send the listener to, and a libseccomp/kernel that has it.
/// Returns whether the profile wants a listener.
fn check_notify(profile: &LinuxSeccomp, syscalls: &[LinuxSyscall]) -> Result<bool, SeccompError> {
    let notify = LinuxSeccompAction::ScmpActNotify;
    if profile.default_action() == notify {
        return Err(SeccompError::UnsupportedAction {
            action: notify.to_string(),
            reason: "cannot be the default action".into(),
        });
    }
    let Some(first) = syscalls.iter().find(|s| s.action() == notify) else {
        return Ok(false);
    };
    if syscalls
        .iter()
        .filter(|s| s.action() == notify)
        .any(|s| s.names().iter().any(|n| n == "write"))
    {
        return Err(SeccompError::UnsupportedAction {
            action: notify.to_string(),
            reason: "cannot be used for the write syscall".into(),
        });
    }
    if profile.listener_path().is_none() {
        return Err(SeccompError::NotifyWithoutListener {
            syscall: first.names().join(","),
        });
    }
    let level = libseccomp::get_api();
    if level < NOTIFY_API_LEVEL {
        return Err(SeccompError::UnsupportedAction {
            action: notify.to_string(),
            reason: format!(
                "needs libseccomp API level {NOTIFY_API_LEVEL} (libseccomp >= 2.5.0, Linux >= 5.7); have {level}"
            ),
        });
    }
    Ok(true)
}

/// The `SECCOMP_FILTER_FLAG_*` bits for `seccomp(2)`. Without a `flags` list runc
/// adds SPEC_ALLOW when supported; an explicit list (even empty) is taken as is and
/// each flag must be supported by the kernel. NEW_LISTENER follows from NOTIFY rules.
fn kernel_flags(profile: &LinuxSeccomp, wants_listener: bool) -> Result<u32, SeccompError> {
    let bit = |f: libc::c_ulong| u32::try_from(f).unwrap_or(0);
    let listener = bit(libc::SECCOMP_FILTER_FLAG_NEW_LISTENER);
    let mut flags = if wants_listener { listener } else { 0 };
    match profile.flags() {
        None => {
            let spec_allow = bit(libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW);
            if berth_sys::seccomp::filter_flags_supported(spec_allow.into()) {
                flags |= spec_allow;
            }
        }
        Some(list) => {
            for flag in list {
                let (b, probe) = match flag {
                    LinuxSeccompFilterFlag::SeccompFilterFlagTsync => {
                        (bit(libc::SECCOMP_FILTER_FLAG_TSYNC), 0)
                    }
                    LinuxSeccompFilterFlag::SeccompFilterFlagLog => {
                        (bit(libc::SECCOMP_FILTER_FLAG_LOG), 0)
                    }
                    LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                        (bit(libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW), 0)
                    }
                    LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                        if !wants_listener {
                            return Err(SeccompError::InvalidFlag {
                                flag: flag.to_string(),
                                reason: "needs a SCMP_ACT_NOTIFY rule",
                            });
                        }
                        (bit(libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV), listener)
                    }
                };
                if !berth_sys::seccomp::filter_flags_supported((b | probe).into()) {
                    return Err(SeccompError::UnsupportedFlag {
                        flag: flag.to_string(),
                    });
                }
                flags |= b;
            }
        }
    }
    // The kernel refuses TSYNC next to NEW_LISTENER unless told to report a thread
    // that cannot be synchronized as ESRCH rather than by its tid.
    let tsync = bit(libc::SECCOMP_FILTER_FLAG_TSYNC);
    if flags & tsync != 0 && flags & listener != 0 {
        flags |= bit(libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH);
    }
    Ok(flags)
}

/// Adds the rules of one syscall entry, as runc's `matchCall` does for each name.
/// Returns how many rules were added.
fn add_rules(
    ctx: &mut ScmpFilterContext,
    index: usize,
    rule: &LinuxSyscall,
    default: ScmpAction,
) -> Result<usize, SeccompError> {
    if rule.names().iter().any(String::is_empty) {
        return Err(SeccompError::EmptySyscallName { index });
    }
    if rule.names().is_empty() {
        return Ok(0);
    }
    let act = action(rule.action(), rule.errno_ret())?;
    if act == default {
        // Redundant with the default action (libseccomp would refuse it).
        return Ok(0);
    }
    let args = rule.args().as_deref().unwrap_or_default();
    let mut added = 0;
    for name in rule.names() {
        // Names libseccomp does not know on any architecture are skipped, as runc
        // does. Names known elsewhere but not here resolve to negative pseudo
        // numbers, which libseccomp maps per architecture.
        let Ok(nr) = ScmpSyscall::from_name(name) else {
            continue;
        };
        let rule_error = |source| SeccompError::AddRule {
            syscall: name.clone(),
            action: rule.action().to_string(),
            source,
        };
        if args.is_empty() {
            ctx.add_rule(act, nr).map_err(rule_error)?;
            added += 1;
            continue;
        }
        let conditions = args
            .iter()
            .map(|a| condition(name, a))
            .collect::<Result<Vec<_>, _>>()?;
        let mut per_index = [0usize; MAX_ARGS];
        for a in args {
            if let Some(n) = per_index.get_mut(a.index()) {
                *n += 1;
            }
        }
        if per_index.iter().any(|n| *n > 1) {
            // libseccomp compares each argument at most once per rule; runc then adds
            // one rule per condition (so they OR instead of AND).
            for c in conditions {
                ctx.add_rule_conditional(act, nr, &[c])
                    .map_err(rule_error)?;
                added += 1;
            }
        } else {
            ctx.add_rule_conditional(act, nr, &conditions)
                .map_err(rule_error)?;
            added += 1;
        }
    }
    Ok(added)
}

/// One argument comparison. For SCMP_CMP_MASKED_EQ `value` is the mask and
/// `valueTwo` the expected result, as in libseccomp.
fn condition(syscall: &str, arg: &LinuxSeccompArg) -> Result<ScmpArgCompare, SeccompError> {
    let index = Some(arg.index())
        .filter(|i| *i < MAX_ARGS)
        .and_then(|i| u32::try_from(i).ok())
        .ok_or_else(|| SeccompError::InvalidArgIndex {
            syscall: syscall.to_string(),
            index: arg.index(),
        })?;
    let op = match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(arg.value()),
    };
    let datum = match arg.op() {
        LinuxSeccompOperator::ScmpCmpMaskedEq => arg.value_two().unwrap_or(0),
        _ => arg.value(),
    };
    Ok(ScmpArgCompare::new(index, op, datum))
}

/// Exports the filter through a memfd (the in-memory export needs libseccomp 2.6)
/// and decodes it.
fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>, SeccompError> {
    let memfd = rustix::fs::memfd_create(c"berth-seccomp", rustix::fs::MemfdFlags::CLOEXEC)
        .map_err(|e| SeccompError::Export(e.into()))?;
    let mut file = File::from(memfd);
    ctx.export_bpf(&file)
        .map_err(|source| SeccompError::Libseccomp {
            op: "export BPF",
            source,
        })?;
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0))
        .map_err(SeccompError::Export)?;
    file.read_to_end(&mut bytes).map_err(SeccompError::Export)?;
    bpf::decode(&bytes)
}

pub(crate) fn libseccomp_version() -> String {
    match libseccomp::ScmpVersion::current() {
        Ok(v) => format!("{}.{}.{}", v.major, v.minor, v.micro),
        Err(_) => "(unknown version)".into(),
    }
}
