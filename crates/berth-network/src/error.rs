//! The crate's errors, one enum per concern, each naming what it acted on.

use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use ipnet::Ipv4Net;

/// What kind of failure, for the daemon to map onto an HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The thing named does not exist.
    NotFound,
    /// It exists already, or is in use (a port, an address, a subnet).
    Conflict,
    /// The request itself is malformed.
    InvalidInput,
    /// The system refused or failed (netlink, nft, the state file).
    Unavailable,
}

/// A netlink request that failed.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// The netlink socket could not be opened or used.
    #[error("netlink socket: {0}")]
    Socket(#[source] io::Error),
    /// The kernel answered a request with an error.
    #[error("netlink: {op}: {source}")]
    Request {
        /// What was asked (`create bridge berth0`).
        op: String,
        /// The errno the kernel returned.
        #[source]
        source: io::Error,
    },
    /// The kernel's answer could not be parsed.
    #[error("netlink: {op}: cannot decode the answer: {detail}")]
    Decode {
        /// What was asked.
        op: String,
        /// The decoder's message.
        detail: String,
    },
    /// No link of that name.
    #[error("no network interface named {0:?}")]
    NoSuchLink(String),
    /// The interface name is not one the kernel accepts.
    #[error("invalid interface name {0:?}: 1 to 15 characters, no '/', ':' or whitespace")]
    InvalidName(String),
    /// The network namespace file could not be opened or entered.
    #[error("network namespace {path}: {source}", path = .path.display())]
    Netns {
        /// The namespace file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A sysctl of the network stack could not be written.
    #[error("sysctl {path}: {source}", path = .path.display())]
    Sysctl {
        /// The /proc/sys file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The helper thread working in another namespace panicked.
    #[error("the thread working in network namespace {0} panicked")]
    ThreadPanicked(String),
}

impl NetlinkError {
    /// The errno of a failed request, if it was one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Request { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            NetlinkError::NoSuchLink(_) => ErrorKind::NotFound,
            NetlinkError::InvalidName(_) => ErrorKind::InvalidInput,
            NetlinkError::Request { source, .. } if source.raw_os_error() == Some(libc::EEXIST) => {
                ErrorKind::Conflict
            }
            _ => ErrorKind::Unavailable,
        }
    }
}

/// An address-management operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum IpamError {
    /// The pool's parameters do not fit together.
    #[error("invalid pool {subnet}: {reason}")]
    InvalidPool {
        /// The subnet asked for.
        subnet: Ipv4Net,
        /// What is wrong.
        reason: String,
    },
    /// The subnet overlaps a pool that exists.
    #[error("subnet {subnet} overlaps {other} of network {network:?}")]
    Overlap {
        /// The subnet asked for.
        subnet: Ipv4Net,
        /// The pool it overlaps.
        other: Ipv4Net,
        /// The network owning that pool.
        network: String,
    },
    /// A pool for that network exists already.
    #[error("network {0:?} has an address pool already")]
    PoolExists(String),
    /// No pool for that network.
    #[error("network {0:?} has no address pool")]
    NoPool(String),
    /// The pool still has addresses handed out.
    #[error("network {network:?} still has {count} address(es) allocated")]
    PoolInUse {
        /// The network.
        network: String,
        /// How many addresses are still out.
        count: usize,
    },
    /// Every address of the pool is taken.
    #[error("no free address left in {range} for network {network:?}")]
    Exhausted {
        /// The network.
        network: String,
        /// The range addresses come from.
        range: Ipv4Net,
    },
    /// The requested address is handed out already.
    #[error("address {ip} is already in use on network {network:?}")]
    AddressInUse {
        /// The address.
        ip: Ipv4Addr,
        /// The network.
        network: String,
    },
    /// The requested address is outside the range or reserved.
    #[error("address {ip} is not available in {range} for network {network:?}: {reason}")]
    AddressNotAvailable {
        /// The address.
        ip: Ipv4Addr,
        /// The range.
        range: Ipv4Net,
        /// The network.
        network: String,
        /// Why (outside the range, the gateway, network or broadcast address).
        reason: &'static str,
    },
    /// No candidate subnet is free on this host.
    #[error("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")]
    NoFreeSubnet,
    /// The state file could not be read, locked or written.
    #[error("IPAM state {path}: {source}", path = .path.display())]
    State {
        /// The state file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The state file holds something that is not berth's IPAM state.
    #[error("IPAM state {path} is corrupt: {source}", path = .path.display())]
    Corrupt {
        /// The state file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
}

impl IpamError {
    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            IpamError::InvalidPool { .. } | IpamError::AddressNotAvailable { .. } => {
                ErrorKind::InvalidInput
            }
            IpamError::Overlap { .. }
            | IpamError::PoolExists(_)
            | IpamError::PoolInUse { .. }
            | IpamError::AddressInUse { .. }
            | IpamError::Exhausted { .. }
            | IpamError::NoFreeSubnet => ErrorKind::Conflict,
            IpamError::NoPool(_) => ErrorKind::NotFound,
            IpamError::State { .. } | IpamError::Corrupt { .. } => ErrorKind::Unavailable,
        }
    }
}

/// A `-p`/`--publish` value that could not be parsed or bound.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// The spec is malformed.
    #[error("invalid port specification {spec:?}: {reason}")]
    Invalid {
        /// The spec as given.
        spec: String,
        /// What is wrong.
        reason: String,
    },
    /// The host port is taken by another binding.
    #[error("Bind for {host_ip}:{host_port}/{proto} failed: port is already allocated")]
    Conflict {
        /// The host address of the new binding (0.0.0.0 for any).
        host_ip: Ipv4Addr,
        /// The host port.
        host_port: u16,
        /// tcp or udp.
        proto: crate::ports::Protocol,
    },
    /// No free port left in the host range or the ephemeral range.
    #[error("no free host port in {first}-{last}/{proto}")]
    Exhausted {
        /// First port of the range.
        first: u16,
        /// Last port of the range.
        last: u16,
        /// tcp or udp.
        proto: crate::ports::Protocol,
    },
    /// The kernel's ephemeral port range could not be read.
    #[error("reading {path}: {source}", path = .path.display())]
    EphemeralRange {
        /// The sysctl file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

impl PortError {
    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            PortError::Invalid { .. } => ErrorKind::InvalidInput,
            PortError::Conflict { .. } | PortError::Exhausted { .. } => ErrorKind::Conflict,
            PortError::EphemeralRange { .. } => ErrorKind::Unavailable,
        }
    }
}

/// A change to berth's nftables rules that failed.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    /// `nft` could not be run.
    #[error("running {program}: {source}")]
    Spawn {
        /// The program (`nft`).
        program: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// `nft` refused the script.
    #[error("nft: {op}: {stderr}")]
    Nft {
        /// What was being done.
        op: String,
        /// nft's error output.
        stderr: String,
    },
    /// `nft -j` printed something that could not be understood.
    #[error("nft: {op}: cannot parse its JSON output: {detail}")]
    Parse {
        /// What was being done.
        op: String,
        /// What was wrong.
        detail: String,
    },
    /// A name that cannot be used in a rule (an interface name).
    #[error("invalid interface name {0:?} for a rule")]
    InvalidName(String),
    /// A published port conflicts with one in the table.
    #[error(transparent)]
    Port(#[from] PortError),
    /// A sysctl could not be set.
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
}

impl FirewallError {
    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            FirewallError::InvalidName(_) => ErrorKind::InvalidInput,
            FirewallError::Port(e) => e.kind(),
            FirewallError::Netlink(e) => e.kind(),
            _ => ErrorKind::Unavailable,
        }
    }
}
