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
//!
//! # A container's network, step by step
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use berth_network::{firewall::*, ipam::*, link::*, ports};
//! let ipam = Ipam::new("/var/lib/berth/network/ipam.json");
//! let fw = Firewall::new();
//! // The network: a pool that overlaps nothing of the host, its bridge, its rules.
//! let pool = ipam.create_pool_auto("bridge", &default_candidates(), &host_subnets()?)?;
//! ensure_bridge(&BridgeConfig {
//!     name: "berth0".into(),
//!     mtu: default_route_mtu()?,
//!     gateway: Some(pool.gateway_net()),
//! })?;
//! fw.add_network(&NetworkRules { bridge: "berth0".into(), subnet: pool.subnet, icc: true, internal: false })?;
//! // A container: an address, a veth pair into its namespace, its published ports.
//! let address = ipam.allocate("bridge", "endpoint-id", None)?;
//! attach_endpoint("/proc/4242/ns/net".as_ref(), "berth0", &EndpointConfig {
//!     host_ifname: "veth1a2b3c4".into(),
//!     container_ifname: "eth0".into(),
//!     address,
//!     gateway: Some(pool.gateway),
//!     mac: None,
//!     mtu: None,
//! })?;
//! fw.add_endpoint("veth1a2b3c4", true)?;
//! let existing: Vec<_> = fw.published()?.into_iter().map(|p| p.binding).collect();
//! let bindings = ports::bind(&[ports::parse_publish("8080:80")?], &existing, ports::ephemeral_range()?)?;
//! fw.publish(address.addr(), &bindings)?;
//! // And back: each step removes exactly what it added.
//! fw.unpublish(address.addr())?;
//! fw.remove_endpoint("veth1a2b3c4")?;
//! detach_endpoint("veth1a2b3c4")?;
//! ipam.release("bridge", address.addr())?;
//! # Ok(()) }
//! ```
//!
//! # Choices
//!
//! - **netlink-packet-route + netlink-sys, not rtnetlink.** rtnetlink is the
//!   same message types behind an async API; berth's requests are a handful,
//!   strictly one after another, so a blocking socket (the crate's private
//!   `netlink` module, ~150 lines) is simpler than a runtime per call.
//! - **The veth's container end is created in the namespace** (`IFLA_NET_NS_FD`
//!   on the peer) under its final name and MAC: no temporary name, no move, no
//!   rename, and no clash with a host interface called `eth0`.
//! - **`nft -f -`, not an nftables netlink crate.** The rules use concatenated
//!   DNAT maps and verdict maps, which `nft` compiles for us; a script is
//!   applied as one transaction. Every per-network or per-container change is
//!   a chain or a map element of berth's own tables, so nothing is found by
//!   rule handle and nothing outside berth's tables is touched.
//! - **Published ports need no process**: the host's own connections to
//!   `127.0.0.1:PORT` are DNATed in `output`, with `route_localnet` on the
//!   bridge and a masquerade of 127.0.0.0/8 towards it.
//!
//! # Not done yet
//!
//! IPv6 networks; the embedded DNS; checking a host port against host
//! processes listening on it (only berth's own bindings are conflicts); sctp.
//!
//! Tests: unit tests need no root; `tests/bridge.rs` (root) runs everything in
//! network namespaces it makes: a private "host", containers and an "outside
//! world" held by `unshare --net` processes.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod error;
pub mod firewall;
pub mod ipam;
pub mod link;
mod netlink;
pub mod ports;

pub use error::{ErrorKind, FirewallError, IpamError, NetlinkError, PortError};
