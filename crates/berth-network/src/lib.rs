//! Container networking for berthd, as docker's bridge driver does it.
//!
//! Synchronous by design (no async runtime): berthd calls it from blocking
//! tasks. Four concerns, one module each:
//!
//! - [`link`]: bridges, veth pairs, addresses and routes over netlink
//!   (`netlink-packet-route` on a blocking `netlink-sys` socket); the
//!   container side is configured from a dedicated thread that enters the
//!   container's network namespace, never the caller's thread.
//! - [`ipam`]: address pools on `ipnet`, subnet choice that avoids the host's
//!   routes and addresses, allocation recorded in a JSON state file that is
//!   locked and replaced atomically, so one address is never handed out twice.
//! - [`firewall`]: berth's own nftables tables (`ip berth`, `bridge berth`),
//!   driven through `nft -f -`: masquerade, forwarding, icc, internal
//!   networks, published ports as DNAT map elements.
//! - [`ports`]: docker's `-p`/`-P` syntax, host-port choice and conflicts, as
//!   pure code.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod error;
pub mod firewall;
pub mod ipam;
pub mod link;
mod netlink;
pub mod ports;

pub use error::{ErrorKind, FirewallError, IpamError, NetlinkError, PortError};
