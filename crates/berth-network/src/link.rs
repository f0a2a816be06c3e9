//! Links, addresses and routes over netlink: the bridge, the veth pair of an
//! endpoint, and the host's routes that subnet choice must avoid.
//!
//! Host-side calls act in the calling thread's network namespace. The
//! container side runs through [`in_netns`]: a dedicated thread enters the
//! namespace (berth-sys's `enter_net_namespace`), opens its own netlink
//! socket there, does the work and ends, so no caller's thread ever changes
//! namespace.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::error::NetlinkError;
use crate::netlink::Netlink;

/// The longest interface name the kernel takes (`IFNAMSIZ - 1`).
pub const MAX_IFNAME_LEN: usize = 15;

/// Checks a name against the kernel's rules for interface names.
pub fn validate_ifname(name: &str) -> Result<(), NetlinkError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_IFNAME_LEN
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'/' && b != b':');
    if ok {
        Ok(())
    } else {
        Err(NetlinkError::InvalidName(name.to_owned()))
    }
}

/// Docker's MAC address for an IPv4 endpoint: `02:42` then the four bytes of
/// the address (locally administered, unicast).
pub fn docker_mac(ip: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = ip.octets();
    [0x02, 0x42, a, b, c, d]
}

/// Formats a MAC address as `02:42:ac:11:00:02`.
pub fn format_mac(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A bridge to create (or find) on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeConfig {
    /// Its name (`berth0`, `br-0123456789ab`).
    pub name: String,
    /// Its MTU; the kernel's default (1500) when `None`.
    pub mtu: Option<u32>,
    /// The gateway address with the subnet's prefix (`172.17.0.1/16`), put
    /// on the bridge; none for a bridge without an address.
    pub gateway: Option<Ipv4Net>,
}

/// Creates the bridge if it does not exist, then sets its MTU, its address
/// (kept if already there) and brings it up. Returns its interface index.
/// An existing bridge is adopted as is (a daemon restart), not duplicated.
pub fn ensure_bridge(config: &BridgeConfig) -> Result<u32, NetlinkError> {
    validate_ifname(&config.name)?;
    let mut nl = Netlink::open()?;
    let index = match link_index(&mut nl, &config.name)? {
        Some(index) => index,
        None => {
            let mut msg = LinkMessage::default();
            msg.attributes
                .push(LinkAttribute::IfName(config.name.clone()));
            if let Some(mtu) = config.mtu {
                msg.attributes.push(LinkAttribute::Mtu(mtu));
            }
            msg.attributes
                .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                    InfoKind::Bridge,
                )]));
            let op = format!("create bridge {}", config.name);
            match nl.execute(
                &op,
                RouteNetlinkMessage::NewLink(msg),
                NLM_F_CREATE | NLM_F_EXCL,
            ) {
                Ok(()) => {}
                // Made by a concurrent caller in between: adopt it.
                Err(e) if e.errno() == Some(libc::EEXIST) => {}
                Err(e) => return Err(e),
            }
            link_index(&mut nl, &config.name)?
                .ok_or_else(|| NetlinkError::NoSuchLink(config.name.clone()))?
        }
    };
    if let Some(mtu) = config.mtu {
        set_link(
            &mut nl,
            &config.name,
            index,
            vec![LinkAttribute::Mtu(mtu)],
            false,
        )?;
    }
    if let Some(gateway) = config.gateway {
        add_address(&mut nl, &config.name, index, gateway, true)?;
    }
    set_link(&mut nl, &config.name, index, Vec::new(), true)?;
    Ok(index)
}

/// Deletes a link by name (a bridge, or a veth and so its peer). Returns
/// whether it existed.
pub fn delete_link(name: &str) -> Result<bool, NetlinkError> {
    validate_ifname(name)?;
    let mut nl = Netlink::open()?;
    let Some(index) = link_index(&mut nl, name)? else {
        return Ok(false);
    };
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    match nl.execute(
        &format!("delete link {name}"),
        RouteNetlinkMessage::DelLink(msg),
        0,
    ) {
        Ok(()) => Ok(true),
        Err(e) if e.errno() == Some(libc::ENODEV) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether a link of that name exists in the calling thread's namespace.
pub fn link_exists(name: &str) -> Result<bool, NetlinkError> {
    validate_ifname(name)?;
    let mut nl = Netlink::open()?;
    Ok(link_index(&mut nl, name)?.is_some())
}

/// The names of the links in the calling thread's namespace.
pub fn link_names() -> Result<Vec<String>, NetlinkError> {
    let mut nl = Netlink::open()?;
    let answers = nl.dump(
        "list links",
        RouteNetlinkMessage::GetLink(LinkMessage::default()),
    )?;
    Ok(answers
        .into_iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewLink(link) => link_name(&link),
            _ => None,
        })
        .collect())
}

/// One container's attachment to a bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    /// The host end of the veth pair (`veth1a2b3c4`), put on the bridge.
    pub host_ifname: String,
    /// The container end's name in its namespace (`eth0`).
    pub container_ifname: String,
    /// The container's address with the subnet's prefix (`172.17.0.2/16`).
    pub address: Ipv4Net,
    /// The default route's gateway; `None` on an internal network (no way
    /// out, so no default route).
    pub gateway: Option<Ipv4Addr>,
    /// The container end's MAC address; [`docker_mac`] of the address when
    /// `None`.
    pub mac: Option<[u8; 6]>,
    /// The MTU of both ends (the bridge's).
    pub mtu: Option<u32>,
}

/// Connects the network namespace at `netns` (`/proc/PID/ns/net` or a
/// bind-mounted namespace file) to `bridge`: a veth pair whose container end
/// is created directly in that namespace under its final name (no temporary
/// name to rename, nothing to move), its MAC, address, the link and loopback
/// up, and a default route via the gateway. On failure nothing is left: the
/// host end is deleted, which deletes the pair.
pub fn attach_endpoint(
    netns: &Path,
    bridge: &str,
    endpoint: &EndpointConfig,
) -> Result<(), NetlinkError> {
    validate_ifname(bridge)?;
    validate_ifname(&endpoint.host_ifname)?;
    validate_ifname(&endpoint.container_ifname)?;
    let ns = File::open(netns).map_err(|source| NetlinkError::Netns {
        path: netns.to_owned(),
        source,
    })?;
    let mut nl = Netlink::open()?;
    let bridge_index =
        link_index(&mut nl, bridge)?.ok_or_else(|| NetlinkError::NoSuchLink(bridge.to_owned()))?;
    let mac = endpoint
        .mac
        .unwrap_or_else(|| docker_mac(endpoint.address.addr()));

    let mut peer = LinkMessage::default();
    peer.attributes
        .push(LinkAttribute::IfName(endpoint.container_ifname.clone()));
    peer.attributes
        .push(LinkAttribute::NetNsFd(ns.as_fd().as_raw_fd()));
    peer.attributes.push(LinkAttribute::Address(mac.to_vec()));
    let mut veth = LinkMessage::default();
    veth.attributes
        .push(LinkAttribute::IfName(endpoint.host_ifname.clone()));
    if let Some(mtu) = endpoint.mtu {
        veth.attributes.push(LinkAttribute::Mtu(mtu));
        peer.attributes.push(LinkAttribute::Mtu(mtu));
    }
    veth.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::Veth),
        LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
    ]));
    nl.execute(
        &format!(
            "create veth {} (peer {} in {})",
            endpoint.host_ifname,
            endpoint.container_ifname,
            netns.display()
        ),
        RouteNetlinkMessage::NewLink(veth),
        NLM_F_CREATE | NLM_F_EXCL,
    )?;
    drop(ns);

    let result = (|| {
        let host_index = link_index(&mut nl, &endpoint.host_ifname)?
            .ok_or_else(|| NetlinkError::NoSuchLink(endpoint.host_ifname.clone()))?;
        set_link(
            &mut nl,
            &endpoint.host_ifname,
            host_index,
            vec![LinkAttribute::Controller(bridge_index)],
            true,
        )?;
        let endpoint = endpoint.clone();
        in_netns(netns, move || configure_container_side(&endpoint))
    })();
    if let Err(e) = result {
        // The pair goes with its host end; the error that matters is the first.
        let _ = delete_link(&endpoint.host_ifname);
        return Err(e);
    }
    Ok(())
}

/// Inside the container's namespace: address, link up, loopback up, default route.
fn configure_container_side(endpoint: &EndpointConfig) -> Result<(), NetlinkError> {
    let mut nl = Netlink::open()?;
    let name = &endpoint.container_ifname;
    let index = link_index(&mut nl, name)?.ok_or_else(|| NetlinkError::NoSuchLink(name.clone()))?;
    add_address(&mut nl, name, index, endpoint.address, false)?;
    set_link(&mut nl, name, index, Vec::new(), true)?;
    if let Some(lo) = link_index(&mut nl, "lo")? {
        set_link(&mut nl, "lo", lo, Vec::new(), true)?;
    }
    if let Some(gateway) = endpoint.gateway {
        let mut route = RouteMessage::default();
        route.header = RouteHeader {
            address_family: AddressFamily::Inet,
            table: RouteHeader::RT_TABLE_MAIN,
            protocol: RouteProtocol::Boot,
            scope: RouteScope::Universe,
            kind: RouteType::Unicast,
            ..RouteHeader::default()
        };
        route
            .attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        route.attributes.push(RouteAttribute::Oif(index));
        nl.execute(
            &format!("add default route via {gateway} dev {name}"),
            RouteNetlinkMessage::NewRoute(route),
            NLM_F_CREATE | NLM_F_EXCL,
        )?;
    }
    Ok(())
}

/// Removes an endpoint: deletes the host end of its veth pair, and so the
/// pair. Returns whether it existed (a container whose namespace is gone has
/// lost its pair already).
pub fn detach_endpoint(host_ifname: &str) -> Result<bool, NetlinkError> {
    delete_link(host_ifname)
}

/// Runs `work` on a new thread that has entered the network namespace at
/// `netns`, and returns its result. The thread ends with the work, so the
/// namespace change never outlives it.
pub fn in_netns<T, F>(netns: &Path, work: F) -> Result<T, NetlinkError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, NetlinkError> + Send + 'static,
{
    let path: PathBuf = netns.to_owned();
    let ns = File::open(&path).map_err(|source| NetlinkError::Netns {
        path: path.clone(),
        source,
    })?;
    let handle = std::thread::Builder::new()
        .name("berth-netns".into())
        .spawn(move || {
            berth_sys::ns::enter_net_namespace(ns.as_fd())
                .map_err(|source| NetlinkError::Netns { path, source })?;
            drop(ns);
            work()
        })
        .map_err(NetlinkError::Socket)?;
    handle
        .join()
        .map_err(|_| NetlinkError::ThreadPanicked(netns.display().to_string()))?
}

/// The IPv4 subnets in use in the calling thread's namespace: the networks
/// of its addresses and the destinations of its main table's routes (the
/// default route excepted). A new network's subnet must overlap none.
pub fn host_subnets() -> Result<Vec<Ipv4Net>, NetlinkError> {
    let mut nl = Netlink::open()?;
    let mut subnets = Vec::new();
    let mut request = AddressMessage::default();
    request.header.family = AddressFamily::Inet;
    for answer in nl.dump("list addresses", RouteNetlinkMessage::GetAddress(request))? {
        let RouteNetlinkMessage::NewAddress(addr) = answer else {
            continue;
        };
        let ip = addr.attributes.iter().find_map(|a| match a {
            AddressAttribute::Local(IpAddr::V4(ip)) | AddressAttribute::Address(IpAddr::V4(ip)) => {
                Some(*ip)
            }
            _ => None,
        });
        if let Some(ip) = ip {
            if let Ok(net) = Ipv4Net::new(ip, addr.header.prefix_len) {
                subnets.push(net.trunc());
            }
        }
    }
    let mut request = RouteMessage::default();
    request.header.address_family = AddressFamily::Inet;
    for answer in nl.dump("list routes", RouteNetlinkMessage::GetRoute(request))? {
        let RouteNetlinkMessage::NewRoute(route) = answer else {
            continue;
        };
        if !is_main_table(&route) || route.header.destination_prefix_length == 0 {
            continue;
        }
        let dst = route.attributes.iter().find_map(|a| match a {
            RouteAttribute::Destination(RouteAddress::Inet(ip)) => Some(*ip),
            _ => None,
        });
        if let Some(dst) = dst {
            if let Ok(net) = Ipv4Net::new(dst, route.header.destination_prefix_length) {
                subnets.push(net.trunc());
            }
        }
    }
    subnets.sort();
    subnets.dedup();
    Ok(subnets)
}

/// The MTU of the interface the IPv4 default route leaves through, if there
/// is a default route: docker gives its bridge that MTU.
pub fn default_route_mtu() -> Result<Option<u32>, NetlinkError> {
    let mut nl = Netlink::open()?;
    let mut request = RouteMessage::default();
    request.header.address_family = AddressFamily::Inet;
    let oif = nl
        .dump("list routes", RouteNetlinkMessage::GetRoute(request))?
        .into_iter()
        .find_map(|answer| match answer {
            RouteNetlinkMessage::NewRoute(route)
                if is_main_table(&route) && route.header.destination_prefix_length == 0 =>
            {
                route.attributes.iter().find_map(|a| match a {
                    RouteAttribute::Oif(index) => Some(*index),
                    _ => None,
                })
            }
            _ => None,
        });
    let Some(oif) = oif else {
        return Ok(None);
    };
    let mut msg = LinkMessage::default();
    msg.header.index = oif;
    let answers = nl.get(
        &format!("get link {oif}"),
        RouteNetlinkMessage::GetLink(msg),
    )?;
    Ok(answers.into_iter().find_map(|answer| match answer {
        RouteNetlinkMessage::NewLink(link) => link.attributes.iter().find_map(|a| match a {
            LinkAttribute::Mtu(mtu) => Some(*mtu),
            _ => None,
        }),
        _ => None,
    }))
}

fn is_main_table(route: &RouteMessage) -> bool {
    let table = route
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(route.header.table));
    table == u32::from(RouteHeader::RT_TABLE_MAIN)
}

fn link_name(link: &LinkMessage) -> Option<String> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(name) => Some(name.clone()),
        _ => None,
    })
}

/// The index of the link named `name`, `None` if there is none.
fn link_index(nl: &mut Netlink, name: &str) -> Result<Option<u32>, NetlinkError> {
    let mut msg = LinkMessage::default();
    msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
    match nl.get(
        &format!("get link {name}"),
        RouteNetlinkMessage::GetLink(msg),
    ) {
        Ok(answers) => Ok(answers.into_iter().find_map(|answer| match answer {
            RouteNetlinkMessage::NewLink(link) => Some(link.header.index),
            _ => None,
        })),
        Err(e) if e.errno() == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Sets attributes of a link, and brings it up when `up`.
fn set_link(
    nl: &mut Netlink,
    name: &str,
    index: u32,
    attributes: Vec<LinkAttribute>,
    up: bool,
) -> Result<(), NetlinkError> {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    if up {
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
    }
    msg.attributes = attributes;
    nl.execute(
        &format!("set link {name}"),
        RouteNetlinkMessage::SetLink(msg),
        0,
    )
}

/// Adds an IPv4 address with its broadcast; `exist_ok` keeps one already there.
fn add_address(
    nl: &mut Netlink,
    name: &str,
    index: u32,
    address: Ipv4Net,
    exist_ok: bool,
) -> Result<(), NetlinkError> {
    let mut msg = AddressMessage::default();
    msg.header.family = AddressFamily::Inet;
    msg.header.prefix_len = address.prefix_len();
    msg.header.scope = AddressScope::Universe;
    msg.header.index = index;
    let ip = IpAddr::V4(address.addr());
    msg.attributes.push(AddressAttribute::Local(ip));
    msg.attributes.push(AddressAttribute::Address(ip));
    if address.prefix_len() < 31 {
        msg.attributes
            .push(AddressAttribute::Broadcast(address.broadcast()));
    }
    match nl.execute(
        &format!("add address {address} to {name}"),
        RouteNetlinkMessage::NewAddress(msg),
        NLM_F_CREATE | NLM_F_EXCL,
    ) {
        Err(e) if exist_ok && e.errno() == Some(libc::EEXIST) => Ok(()),
        other => other,
    }
}

/// Writes a value to a file under /proc/sys (of the calling thread's network
/// namespace for `net/` keys).
pub(crate) fn write_sysctl(key: &str, value: &str) -> Result<(), NetlinkError> {
    let path = Path::new("/proc/sys").join(key.replace('.', "/"));
    std::fs::write(&path, value).map_err(|source| NetlinkError::Sysctl { path, source })
}

/// Turns on IPv4 forwarding (`net.ipv4.ip_forward`) in the calling thread's
/// namespace, as docker does when it sets up its bridge.
pub fn enable_ip_forward() -> Result<(), NetlinkError> {
    write_sysctl("net.ipv4.ip_forward", "1")
}

/// Lets the host's own connections to `127.0.0.1:PORT` be DNATed to a
/// container on `bridge` (`net.ipv4.conf.BRIDGE.route_localnet`).
pub fn enable_route_localnet(bridge: &str) -> Result<(), NetlinkError> {
    validate_ifname(bridge)?;
    if bridge.contains('.') {
        // A dot would be read as a separator of the sysctl key.
        let path = Path::new("/proc/sys/net/ipv4/conf")
            .join(bridge)
            .join("route_localnet");
        return std::fs::write(&path, "1").map_err(|source| NetlinkError::Sysctl { path, source });
    }
    write_sysctl(&format!("net.ipv4.conf.{bridge}.route_localnet"), "1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_is_docker_s() {
        let mac = docker_mac(Ipv4Addr::new(172, 17, 0, 2));
        assert_eq!(format_mac(mac), "02:42:ac:11:00:02");
    }

    #[test]
    fn interface_names() {
        for good in ["eth0", "berth0", "br-0123456789ab", "veth1a2b3c4"] {
            assert!(validate_ifname(good).is_ok(), "{good}");
        }
        for bad in ["", "a/b", "a:b", "a b", "0123456789abcdef", ".", ".."] {
            assert!(validate_ifname(bad).is_err(), "{bad:?}");
        }
    }
}
