//! berth's packet filtering and NAT, in nftables tables of its own.
//!
//! Two tables, both named `berth`, and nothing else is ever read, changed or
//! flushed: the host's firewall and the tables of other tools stay intact.
//!
//! - `ip berth`: NAT and forwarding. Base chains dispatch through verdict
//!   maps keyed by the bridge (`fwd_out`, `fwd_in`, `post_out`) or by the
//!   source subnet (`post_src`) to one chain per network, so a network is
//!   added or removed as a whole (its chains and its map elements) without
//!   looking up rule handles. Published ports are elements of two DNAT maps,
//!   `dnat_any` (`proto . port`, every local address) and `dnat_ip`
//!   (`address . proto . port`), applied in `prerouting` (traffic from
//!   outside and from containers) and in `output` (the host's own
//!   connections, `127.0.0.1:PORT` included, through `route_localnet` on the
//!   bridge and a masquerade of 127.0.0.0/8 towards it). A container's ports
//!   are the elements whose value is its address, removed in one transaction.
//! - `bridge berth`: frames bridged between two ports of a network with icc
//!   off are dropped (the set `icc_off` holds those networks' host veths);
//!   this holds whether or not `br_netfilter` sends bridged traffic through
//!   the `ip` hooks too.
//!
//! Per network: traffic into the bridge is accepted when it belongs to a
//! connection, comes from the bridge itself (icc on) or was DNATed to a
//! published port, and dropped otherwise (other networks, the outside);
//! traffic out of the bridge is accepted, except on an internal network,
//! which has no way out and gets no masquerade; a subnet leaving through any
//! other interface is masqueraded.
//!
//! `nft` is driven with plain scripts on `nft -f -` (one transaction each:
//! all or nothing) and read back with `nft -j`: the nftables netlink
//! protocol is large and no maintained Rust crate covers concatenated maps
//! and verdict maps better than `nft` itself does (the `nftables` crate also
//! runs the `nft` binary).

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};

use ipnet::Ipv4Net;
use serde_json::Value;

use crate::error::{FirewallError, PortError};
use crate::link;
use crate::ports::{PortBinding, Protocol};

/// Serializes the read-then-change sequences of this process (berthd's
/// blocking tasks): two networks added at once must not both see the tables
/// missing, nor both read the elements they are about to change.
static CHANGES: Mutex<()> = Mutex::new(());

fn serialized() -> MutexGuard<'static, ()> {
    CHANGES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The name of berth's tables.
pub const TABLE: &str = "berth";

/// One network's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRules {
    /// The bridge.
    pub bridge: String,
    /// The network's subnet.
    pub subnet: Ipv4Net,
    /// Inter-container communication on the bridge (docker's `icc`).
    pub icc: bool,
    /// No way out: no masquerade, nothing forwarded between the bridge and
    /// another interface (`--internal`).
    pub internal: bool,
}

/// A published port as found in the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Published {
    /// The binding.
    pub binding: PortBinding,
    /// The container address it is DNATed to.
    pub container_ip: Ipv4Addr,
}

/// Drives berth's nftables tables through the `nft` binary.
#[derive(Debug, Clone)]
pub struct Firewall {
    nft: PathBuf,
}

impl Default for Firewall {
    fn default() -> Self {
        Firewall::new()
    }
}

/// The base of the `ip berth` table: its maps and hooked chains.
pub fn ip_table_script() -> String {
    format!(
        "table ip {TABLE} {{
  map dnat_any {{ type inet_proto . inet_service : ipv4_addr . inet_service; }}
  map dnat_ip {{ type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }}
  map fwd_out {{ type ifname : verdict; }}
  map fwd_in {{ type ifname : verdict; }}
  map post_src {{ type ipv4_addr : verdict; flags interval; }}
  map post_out {{ type ifname : verdict; }}
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    dnat ip to ip daddr . meta l4proto . th dport map @dnat_ip
    fib daddr type local dnat ip to meta l4proto . th dport map @dnat_any
  }}
  chain output {{
    type nat hook output priority -100; policy accept;
    dnat ip to ip daddr . meta l4proto . th dport map @dnat_ip
    fib daddr type local dnat ip to meta l4proto . th dport map @dnat_any
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr vmap @post_src
    oifname vmap @post_out
  }}
  chain forward {{
    type filter hook forward priority filter; policy accept;
    oifname vmap @fwd_out
    iifname vmap @fwd_in
  }}
}}
"
    )
}

/// The `bridge berth` table: frames between ports of an icc-off network.
pub fn bridge_table_script() -> String {
    format!(
        "table bridge {TABLE} {{
  set icc_off {{ type ifname; }}
  chain forward {{
    type filter hook forward priority filter; policy accept;
    iifname @icc_off drop
  }}
}}
"
    )
}

/// Checks a name used in chain names and quoted strings of a script.
fn rule_name(name: &str) -> Result<&str, FirewallError> {
    let ok = link::validate_ifname(name).is_ok()
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if ok {
        Ok(name)
    } else {
        Err(FirewallError::InvalidName(name.to_owned()))
    }
}

/// The chains and map elements of one network.
pub fn network_script(rules: &NetworkRules) -> Result<String, FirewallError> {
    let b = rule_name(&rules.bridge)?;
    let subnet = rules.subnet.trunc();
    let t = TABLE;
    let mut s = String::new();
    s.push_str(&format!("add chain ip {t} fwd-out-{b}\n"));
    s.push_str(&format!(
        "add rule ip {t} fwd-out-{b} ct state established,related accept\n"
    ));
    let icc = if rules.icc { "accept" } else { "drop" };
    s.push_str(&format!(
        "add rule ip {t} fwd-out-{b} iifname \"{b}\" {icc}\n"
    ));
    if !rules.internal {
        s.push_str(&format!(
            "add rule ip {t} fwd-out-{b} ct status dnat accept\n"
        ));
    }
    s.push_str(&format!("add rule ip {t} fwd-out-{b} drop\n"));
    s.push_str(&format!("add chain ip {t} fwd-in-{b}\n"));
    let out = if rules.internal { "drop" } else { "accept" };
    s.push_str(&format!("add rule ip {t} fwd-in-{b} {out}\n"));
    s.push_str(&format!(
        "add element ip {t} fwd_out {{ \"{b}\" : jump fwd-out-{b} }}\n"
    ));
    s.push_str(&format!(
        "add element ip {t} fwd_in {{ \"{b}\" : jump fwd-in-{b} }}\n"
    ));
    s.push_str(&format!("add chain ip {t} post-out-{b}\n"));
    s.push_str(&format!(
        "add rule ip {t} post-out-{b} ip saddr 127.0.0.0/8 masquerade\n"
    ));
    s.push_str(&format!(
        "add rule ip {t} post-out-{b} ct status dnat ip saddr {subnet} masquerade\n"
    ));
    s.push_str(&format!(
        "add element ip {t} post_out {{ \"{b}\" : jump post-out-{b} }}\n"
    ));
    if !rules.internal {
        s.push_str(&format!("add chain ip {t} post-src-{b}\n"));
        s.push_str(&format!(
            "add rule ip {t} post-src-{b} oifname != \"{b}\" masquerade\n"
        ));
        s.push_str(&format!(
            "add element ip {t} post_src {{ {subnet} : jump post-src-{b} }}\n"
        ));
    }
    Ok(s)
}

fn proto_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    }
}

/// The map element of one published port (without the `: value` part).
fn dnat_key(b: &PortBinding) -> (String, String) {
    let proto = proto_name(b.proto);
    if b.host_ip.is_unspecified() {
        ("dnat_any".into(), format!("{proto} . {}", b.host_port))
    } else {
        (
            "dnat_ip".into(),
            format!("{} . {proto} . {}", b.host_ip, b.host_port),
        )
    }
}

/// The script publishing `bindings` to `container_ip`: `create element`
/// fails if the key exists, so a port taken meanwhile is refused whole.
pub fn publish_script(container_ip: Ipv4Addr, bindings: &[PortBinding]) -> String {
    let mut s = String::new();
    for b in bindings {
        let (map, key) = dnat_key(b);
        s.push_str(&format!(
            "create element ip {TABLE} {map} {{ {key} : {container_ip} . {} }}\n",
            b.container_port
        ));
    }
    s
}

impl Firewall {
    /// Uses `nft` from `$PATH`.
    pub fn new() -> Firewall {
        Firewall { nft: "nft".into() }
    }

    /// Uses the `nft` binary at `path`.
    pub fn with_nft(path: impl Into<PathBuf>) -> Firewall {
        Firewall { nft: path.into() }
    }

    fn run(&self, op: &str, args: &[&str], stdin: Option<&str>) -> Result<String, FirewallError> {
        let mut child = Command::new(&self.nft)
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| FirewallError::Spawn {
                program: self.nft.display().to_string(),
                source,
            })?;
        if let (Some(script), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(script.as_bytes())
                .map_err(|source| FirewallError::Spawn {
                    program: self.nft.display().to_string(),
                    source,
                })?;
        }
        let out = child
            .wait_with_output()
            .map_err(|source| FirewallError::Spawn {
                program: self.nft.display().to_string(),
                source,
            })?;
        if !out.status.success() {
            return Err(FirewallError::Nft {
                op: op.to_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn apply(&self, op: &str, script: &str) -> Result<(), FirewallError> {
        if script.is_empty() {
            return Ok(());
        }
        self.run(op, &["-f", "-"], Some(script)).map(|_| ())
    }

    /// Reads one of berth's tables as nft's JSON objects; `None` if absent.
    fn table(&self, family: &str) -> Result<Option<Vec<Value>>, FirewallError> {
        let op = format!("list table {family} {TABLE}");
        match self.run(&op, &["-j", "list", "table", family, TABLE], None) {
            Ok(text) => {
                let v: Value = serde_json::from_str(&text).map_err(|e| FirewallError::Parse {
                    op: op.clone(),
                    detail: e.to_string(),
                })?;
                Ok(Some(
                    v.get("nftables")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default(),
                ))
            }
            Err(FirewallError::Nft { stderr, .. })
                if stderr.contains("No such file or directory") =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Creates berth's tables if absent (a restarted daemon keeps the ones
    /// in place) and turns IPv4 forwarding on.
    pub fn ensure_tables(&self) -> Result<(), FirewallError> {
        let _changes = serialized();
        self.ensure_tables_locked()
    }

    fn ensure_tables_locked(&self) -> Result<(), FirewallError> {
        let ip = self.table("ip")?.is_some();
        let bridge = self.table("bridge")?.is_some();
        // Declared only when absent: declaring a table that exists would
        // append its base rules a second time.
        let mut script = String::new();
        if !ip {
            script.push_str(&ip_table_script());
        }
        if !bridge {
            script.push_str(&bridge_table_script());
        }
        self.apply("create berth's tables", &script)?;
        link::enable_ip_forward()?;
        Ok(())
    }

    /// Deletes berth's tables, and so every rule berth made.
    pub fn remove_tables(&self) -> Result<(), FirewallError> {
        let _changes = serialized();
        let mut s = String::new();
        if self.table("ip")?.is_some() {
            s.push_str(&format!("delete table ip {TABLE}\n"));
        }
        if self.table("bridge")?.is_some() {
            s.push_str(&format!("delete table bridge {TABLE}\n"));
        }
        self.apply("delete berth's tables", &s)
    }

    /// Adds a network's rules (replacing any it had) and sets
    /// `route_localnet` on its bridge so the host reaches published ports at
    /// 127.0.0.1.
    pub fn add_network(&self, rules: &NetworkRules) -> Result<(), FirewallError> {
        let _changes = serialized();
        self.ensure_tables_locked()?;
        let mut script = self.network_removal(&rules.bridge)?;
        script.push_str(&network_script(rules)?);
        self.apply(&format!("add rules of network {}", rules.bridge), &script)?;
        link::enable_route_localnet(&rules.bridge)?;
        Ok(())
    }

    /// Removes a network's chains and map elements; nothing else.
    pub fn remove_network(&self, bridge: &str) -> Result<(), FirewallError> {
        let _changes = serialized();
        let script = self.network_removal(bridge)?;
        self.apply(&format!("remove rules of network {bridge}"), &script)
    }

    /// The script removing what exists of a network's rules.
    fn network_removal(&self, bridge: &str) -> Result<String, FirewallError> {
        let b = rule_name(bridge)?;
        let Some(objects) = self.table("ip")? else {
            return Ok(String::new());
        };
        let t = TABLE;
        let mut s = String::new();
        let jumps = |elem: &Value, target: &str| {
            elem.get(1)
                .and_then(|v| v.pointer("/jump/target"))
                .and_then(Value::as_str)
                == Some(target)
        };
        for map in ["fwd_out", "fwd_in", "post_out", "post_src"] {
            let chain = match map {
                "fwd_out" => format!("fwd-out-{b}"),
                "fwd_in" => format!("fwd-in-{b}"),
                "post_out" => format!("post-out-{b}"),
                _ => format!("post-src-{b}"),
            };
            for elem in map_elems(&objects, map).iter().filter(|e| jumps(e, &chain)) {
                let key = match elem.get(0) {
                    Some(Value::String(name)) => format!("\"{}\"", rule_name(name)?),
                    Some(other) => match other.get("prefix") {
                        Some(p) => format!(
                            "{}/{}",
                            p.get("addr").and_then(Value::as_str).unwrap_or_default(),
                            p.get("len").and_then(Value::as_u64).unwrap_or_default()
                        ),
                        None => continue,
                    },
                    None => continue,
                };
                s.push_str(&format!("delete element ip {t} {map} {{ {key} }}\n"));
            }
        }
        for chain in [
            format!("fwd-out-{b}"),
            format!("fwd-in-{b}"),
            format!("post-out-{b}"),
            format!("post-src-{b}"),
        ] {
            let exists = objects
                .iter()
                .any(|o| o.pointer("/chain/name").and_then(Value::as_str) == Some(chain.as_str()));
            if exists {
                s.push_str(&format!("delete chain ip {t} {chain}\n"));
            }
        }
        Ok(s)
    }

    /// Registers a container's host veth on a network: with icc off, frames
    /// it sends to other ports of the bridge are dropped.
    pub fn add_endpoint(&self, host_ifname: &str, icc: bool) -> Result<(), FirewallError> {
        let _changes = serialized();
        if icc {
            return Ok(());
        }
        let name = rule_name(host_ifname)?;
        self.apply(
            &format!("add endpoint {name}"),
            &format!("add element bridge {TABLE} icc_off {{ \"{name}\" }}\n"),
        )
    }

    /// Forgets a container's host veth (no-op if it was not registered).
    pub fn remove_endpoint(&self, host_ifname: &str) -> Result<(), FirewallError> {
        let _changes = serialized();
        let name = rule_name(host_ifname)?;
        let Some(objects) = self.table("bridge")? else {
            return Ok(());
        };
        let present = objects
            .iter()
            .filter(|o| o.pointer("/set/name").and_then(Value::as_str) == Some("icc_off"))
            .filter_map(|o| o.pointer("/set/elem").and_then(Value::as_array))
            .flatten()
            .any(|e| e.as_str() == Some(name));
        if !present {
            return Ok(());
        }
        self.apply(
            &format!("remove endpoint {name}"),
            &format!("delete element bridge {TABLE} icc_off {{ \"{name}\" }}\n"),
        )
    }

    /// Every published port in the tables.
    pub fn published(&self) -> Result<Vec<Published>, FirewallError> {
        let Some(objects) = self.table("ip")? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for map in ["dnat_any", "dnat_ip"] {
            for elem in map_elems(&objects, map) {
                if let Some(p) = parse_dnat_elem(&elem, map == "dnat_ip") {
                    out.push(p);
                } else {
                    return Err(FirewallError::Parse {
                        op: format!("list map {map}"),
                        detail: format!("unexpected element {elem}"),
                    });
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Publishes `bindings` to `container_ip`. Refused whole, with docker's
    /// message, if one conflicts with a port in force.
    pub fn publish(
        &self,
        container_ip: Ipv4Addr,
        bindings: &[PortBinding],
    ) -> Result<(), FirewallError> {
        let _changes = serialized();
        self.ensure_tables_locked()?;
        let existing = self.published()?;
        for b in bindings {
            if existing.iter().any(|e| e.binding.conflicts_with(b)) {
                return Err(FirewallError::Port(PortError::Conflict {
                    host_ip: b.host_ip,
                    host_port: b.host_port,
                    proto: b.proto,
                }));
            }
        }
        self.apply(
            &format!("publish ports of {container_ip}"),
            &publish_script(container_ip, bindings),
        )
    }

    /// Removes every published port DNATed to `container_ip` (one
    /// container's), in one transaction; returns how many.
    pub fn unpublish(&self, container_ip: Ipv4Addr) -> Result<usize, FirewallError> {
        let _changes = serialized();
        let mine: Vec<Published> = self
            .published()?
            .into_iter()
            .filter(|p| p.container_ip == container_ip)
            .collect();
        let mut s = String::new();
        for p in &mine {
            let (map, key) = dnat_key(&p.binding);
            s.push_str(&format!("delete element ip {TABLE} {map} {{ {key} }}\n"));
        }
        self.apply(&format!("unpublish ports of {container_ip}"), &s)?;
        Ok(mine.len())
    }
}

/// The elements of one map of the `ip berth` table, as JSON pairs.
fn map_elems(objects: &[Value], name: &str) -> Vec<Value> {
    objects
        .iter()
        .filter(|o| o.pointer("/map/name").and_then(Value::as_str) == Some(name))
        .filter_map(|o| o.pointer("/map/elem").and_then(Value::as_array))
        .flatten()
        .cloned()
        .collect()
}

/// `[{"concat": [ip?, proto, port]}, {"concat": [addr, port]}]`.
fn parse_dnat_elem(elem: &Value, with_ip: bool) -> Option<Published> {
    let key = elem.get(0)?.get("concat")?.as_array()?;
    let value = elem.get(1)?.get("concat")?.as_array()?;
    let (host_ip, rest) = if with_ip {
        let (ip, rest) = key.split_first()?;
        (ip.as_str()?.parse().ok()?, rest)
    } else {
        (Ipv4Addr::UNSPECIFIED, key.as_slice())
    };
    let [proto, port] = rest else {
        return None;
    };
    let proto: Protocol = proto.as_str()?.parse().ok()?;
    let host_port = u16::try_from(port.as_u64()?).ok()?;
    let [addr, cport] = value.as_slice() else {
        return None;
    };
    Some(Published {
        binding: PortBinding {
            host_ip,
            host_port,
            container_port: u16::try_from(cport.as_u64()?).ok()?,
            proto,
        },
        container_ip: addr.as_str()?.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_script_for_internal_has_no_way_out() {
        let rules = NetworkRules {
            bridge: "br-test".into(),
            subnet: "10.9.0.0/24".parse().unwrap(),
            icc: false,
            internal: true,
        };
        let s = network_script(&rules).unwrap();
        assert!(s.contains("add rule ip berth fwd-in-br-test drop"), "{s}");
        assert!(
            s.contains("fwd-out-br-test iifname \"br-test\" drop"),
            "{s}"
        );
        assert!(!s.contains("post-src"), "{s}");
        assert!(!s.contains("ct status dnat accept"), "{s}");
    }

    #[test]
    fn names_that_would_break_a_script_are_refused() {
        for bad in ["a\"b", "1abc", "a b", "a;b", "a{b}"] {
            let rules = NetworkRules {
                bridge: bad.into(),
                subnet: "10.9.0.0/24".parse().unwrap(),
                icc: true,
                internal: false,
            };
            assert!(network_script(&rules).is_err(), "{bad}");
        }
    }

    #[test]
    fn dnat_elements_parse_back() {
        let any = serde_json::json!([{"concat": ["tcp", 8080]}, {"concat": ["172.17.0.2", 80]}]);
        let p = parse_dnat_elem(&any, false).unwrap();
        assert_eq!(p.binding.host_ip, Ipv4Addr::UNSPECIFIED);
        assert_eq!((p.binding.host_port, p.binding.container_port), (8080, 80));
        let ip = serde_json::json!([{"concat": ["10.0.0.1", "udp", 53]}, {"concat": ["172.17.0.3", 5353]}]);
        let p = parse_dnat_elem(&ip, true).unwrap();
        assert_eq!(p.binding.host_ip, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(p.binding.proto, Protocol::Udp);
        assert_eq!(p.container_ip, Ipv4Addr::new(172, 17, 0, 3));
        assert!(parse_dnat_elem(&serde_json::json!(["x"]), false).is_none());
    }

    #[test]
    fn publish_script_uses_create() {
        let s = publish_script(
            Ipv4Addr::new(172, 17, 0, 2),
            &[PortBinding {
                host_ip: Ipv4Addr::new(127, 0, 0, 1),
                host_port: 8080,
                container_port: 80,
                proto: Protocol::Tcp,
            }],
        );
        assert_eq!(
            s,
            "create element ip berth dnat_ip { 127.0.0.1 . tcp . 8080 : 172.17.0.2 . 80 }\n"
        );
    }
}
