//! Docker's published ports: the `-p [ip:][hostPort:]containerPort[/proto]`
//! syntax with ranges, `-P` (every exposed port on an ephemeral host port),
//! and binding specs to concrete host ports against those already taken.
//! Pure code: the caller supplies the bindings in force and the kernel's
//! ephemeral range ([`ephemeral_range`] reads it).

use std::collections::HashMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::PortError;

/// A transport protocol a port can be published for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP (the default).
    Tcp,
    /// UDP.
    Udp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        })
    }
}

impl FromStr for Protocol {
    type Err = String;

    fn from_str(s: &str) -> Result<Protocol, String> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            "sctp" => Err("sctp is not supported".into()),
            other => Err(format!("invalid proto: {other}")),
        }
    }
}

/// An inclusive range of ports, `first..=last`, neither 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRange {
    /// The first port.
    pub first: u16,
    /// The last port (equal to `first` for a single port).
    pub last: u16,
}

impl PortRange {
    /// How many ports the range holds.
    pub fn len(&self) -> u32 {
        u32::from(self.last) - u32::from(self.first) + 1
    }

    /// Never: a range holds at least one port.
    pub fn is_empty(&self) -> bool {
        false
    }

    fn ports(&self) -> impl Iterator<Item = u16> {
        self.first..=self.last
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// One parsed `-p` value, or one exposed port under `-P`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSpec {
    /// The host address to publish on; every local address when `None`.
    pub host_ip: Option<Ipv4Addr>,
    /// The host port(s); ephemeral ports when `None`.
    pub host_ports: Option<PortRange>,
    /// The container port(s).
    pub container_ports: PortRange,
    /// The protocol.
    pub proto: Protocol,
}

/// A concrete published port: what becomes one DNAT element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PortBinding {
    /// The host address; `0.0.0.0` for every local address.
    pub host_ip: Ipv4Addr,
    /// The host port.
    pub host_port: u16,
    /// The container port.
    pub container_port: u16,
    /// The protocol.
    pub proto: Protocol,
}

impl PortBinding {
    /// Whether the two cannot both be in force: same protocol and host port,
    /// on the same address or one of them on every address.
    pub fn conflicts_with(&self, other: &PortBinding) -> bool {
        self.proto == other.proto
            && self.host_port == other.host_port
            && (self.host_ip == other.host_ip
                || self.host_ip.is_unspecified()
                || other.host_ip.is_unspecified())
    }
}

fn invalid(spec: &str, reason: impl Into<String>) -> PortError {
    PortError::Invalid {
        spec: spec.to_owned(),
        reason: reason.into(),
    }
}

fn parse_port(spec: &str, text: &str, what: &str) -> Result<u16, PortError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(spec, format!("invalid {what} port {text:?}")));
    }
    text.parse::<u16>()
        .map_err(|_| invalid(spec, format!("{what} port {text} is out of range")))
}

fn parse_range(spec: &str, text: &str, what: &str) -> Result<PortRange, PortError> {
    let (first, last) = match text.split_once('-') {
        Some((a, b)) => (parse_port(spec, a, what)?, parse_port(spec, b, what)?),
        None => {
            let p = parse_port(spec, text, what)?;
            (p, p)
        }
    };
    if first == 0 {
        return Err(invalid(spec, format!("{what} port 0 is not valid")));
    }
    if last < first {
        return Err(invalid(spec, format!("invalid {what} port range {text}")));
    }
    Ok(PortRange { first, last })
}

/// Parses one `-p`/`--publish` value:
/// `containerPort`, `hostPort:containerPort`, `ip:hostPort:containerPort` or
/// `ip::containerPort`, each port possibly a range `a-b`, with an optional
/// `/tcp` or `/udp`. A host range with a single container port means any one
/// free port of that range, as docker does; otherwise the ranges must have
/// the same length. Host port 0 or an empty host port asks for an ephemeral
/// port. IPv6 host addresses are refused (berth's networks are IPv4).
pub fn parse_publish(spec: &str) -> Result<PortSpec, PortError> {
    let (addr_ports, proto) = match spec.rsplit_once('/') {
        Some((rest, proto)) => (
            rest,
            proto.parse::<Protocol>().map_err(|e| invalid(spec, e))?,
        ),
        None => (spec, Protocol::Tcp),
    };
    if addr_ports.starts_with('[') || addr_ports.matches(':').count() > 2 {
        return Err(invalid(spec, "IPv6 host addresses are not supported"));
    }
    let parts: Vec<&str> = addr_ports.split(':').collect();
    let (ip, host, container) = match parts.as_slice() {
        [c] => ("", "", *c),
        [h, c] => ("", *h, *c),
        [ip, h, c] => (*ip, *h, *c),
        _ => return Err(invalid(spec, "too many colons")),
    };
    if container.is_empty() {
        return Err(invalid(spec, "no port specified"));
    }
    let host_ip = if ip.is_empty() {
        None
    } else {
        let parsed = ip
            .parse::<Ipv4Addr>()
            .map_err(|_| invalid(spec, format!("invalid IP address {ip:?}")))?;
        (!parsed.is_unspecified()).then_some(parsed)
    };
    let container_ports = parse_range(spec, container, "container")?;
    let host_ports = if host.is_empty() || host == "0" {
        None
    } else {
        Some(parse_range(spec, host, "host")?)
    };
    if let Some(h) = host_ports {
        if container_ports.len() > 1 && h.len() != container_ports.len() {
            return Err(invalid(
                spec,
                "invalid ranges specified for container and host ports",
            ));
        }
    }
    Ok(PortSpec {
        host_ip,
        host_ports,
        container_ports,
        proto,
    })
}

/// Parses an image's exposed port key (`80/tcp`, `53/udp`, `8080`).
pub fn parse_exposed(key: &str) -> Result<(PortRange, Protocol), PortError> {
    let (port, proto) = match key.split_once('/') {
        Some((p, proto)) => (p, proto.parse::<Protocol>().map_err(|e| invalid(key, e))?),
        None => (key, Protocol::Tcp),
    };
    Ok((parse_range(key, port, "container")?, proto))
}

/// `-P`: every exposed port on an ephemeral host port of every address.
pub fn publish_all(exposed: &[(PortRange, Protocol)]) -> Vec<PortSpec> {
    exposed
        .iter()
        .map(|&(container_ports, proto)| PortSpec {
            host_ip: None,
            host_ports: None,
            container_ports,
            proto,
        })
        .collect()
}

/// Turns specs into concrete bindings: fixed host ports are checked against
/// `existing` (and each other), ephemeral ones are the first free ports of
/// `ephemeral` (inclusive), a host range with one container port takes the
/// first free port of the range. A conflict is refused with docker's message.
pub fn bind(
    specs: &[PortSpec],
    existing: &[PortBinding],
    ephemeral: PortRange,
) -> Result<Vec<PortBinding>, PortError> {
    // Host addresses bound per (protocol, port): each check is a lookup, so
    // a request for thousands of ports stays linear.
    let mut taken: HashMap<(Protocol, u16), Vec<Ipv4Addr>> = HashMap::new();
    for b in existing {
        taken
            .entry((b.proto, b.host_port))
            .or_default()
            .push(b.host_ip);
    }
    let free = |taken: &HashMap<(Protocol, u16), Vec<Ipv4Addr>>, proto, ip: Ipv4Addr, port| {
        taken.get(&(proto, port)).is_none_or(|ips| {
            !ips.iter()
                .any(|t| *t == ip || t.is_unspecified() || ip.is_unspecified())
        })
    };
    // Where the last search of a range stopped: the ports before it were
    // taken then and still are (bindings are only added), so searching
    // again from there gives the same answer without rescanning.
    let mut cursors: HashMap<(u16, u16, Protocol, Ipv4Addr), u16> = HashMap::new();
    let mut out = Vec::new();
    for spec in specs {
        let host_ip = spec.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
        let fixed = spec
            .host_ports
            .filter(|h| h.len() == spec.container_ports.len());
        for (i, container_port) in spec.container_ports.ports().enumerate() {
            let host_port = if let Some(h) = fixed {
                let offset = u16::try_from(i).unwrap_or(u16::MAX);
                let port = h.first.saturating_add(offset);
                if !free(&taken, spec.proto, host_ip, port) {
                    return Err(PortError::Conflict {
                        host_ip,
                        host_port: port,
                        proto: spec.proto,
                    });
                }
                port
            } else {
                let search = spec.host_ports.unwrap_or(ephemeral);
                let cursor = cursors
                    .entry((search.first, search.last, spec.proto, host_ip))
                    .or_insert(search.first);
                let port = (*cursor..=search.last)
                    .find(|&p| free(&taken, spec.proto, host_ip, p))
                    .ok_or(PortError::Exhausted {
                        first: search.first,
                        last: search.last,
                        proto: spec.proto,
                    })?;
                *cursor = port;
                port
            };
            taken
                .entry((spec.proto, host_port))
                .or_default()
                .push(host_ip);
            out.push(PortBinding {
                host_ip,
                host_port,
                container_port,
                proto: spec.proto,
            });
        }
    }
    Ok(out)
}

/// Parses `/proc/sys/net/ipv4/ip_local_port_range` (`32768\t60999`).
pub fn parse_ephemeral_range(text: &str) -> Option<PortRange> {
    let mut fields = text.split_whitespace();
    let first = fields.next()?.parse::<u16>().ok()?;
    let last = fields.next()?.parse::<u16>().ok()?;
    (first > 0 && first <= last && fields.next().is_none()).then_some(PortRange { first, last })
}

/// The kernel's ephemeral port range of the calling thread's network
/// namespace, where `-P` takes its host ports (as docker does).
pub fn ephemeral_range() -> Result<PortRange, PortError> {
    let path = Path::new("/proc/sys/net/ipv4/ip_local_port_range");
    let text = std::fs::read_to_string(path).map_err(|source| PortError::EphemeralRange {
        path: path.to_owned(),
        source,
    })?;
    parse_ephemeral_range(&text).ok_or_else(|| PortError::EphemeralRange {
        path: path.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{text:?}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(first: u16, last: u16) -> PortRange {
        PortRange { first, last }
    }

    #[test]
    fn docker_forms_parse() {
        let p = parse_publish("80").unwrap();
        assert_eq!(
            (p.host_ip, p.host_ports, p.container_ports, p.proto),
            (None, None, range(80, 80), Protocol::Tcp)
        );
        let p = parse_publish("8080:80/udp").unwrap();
        assert_eq!(
            (p.host_ports, p.container_ports, p.proto),
            (Some(range(8080, 8080)), range(80, 80), Protocol::Udp)
        );
        let p = parse_publish("127.0.0.1:8080:80").unwrap();
        assert_eq!(p.host_ip, Some(Ipv4Addr::LOCALHOST));
        let p = parse_publish("127.0.0.1::80/TCP").unwrap();
        assert_eq!((p.host_ip, p.host_ports), (Some(Ipv4Addr::LOCALHOST), None));
        let p = parse_publish("0.0.0.0:8000-8002:9000-9002").unwrap();
        assert_eq!(
            (p.host_ip, p.host_ports, p.container_ports),
            (None, Some(range(8000, 8002)), range(9000, 9002))
        );
        let p = parse_publish("8000-8010:80").unwrap();
        assert_eq!(p.host_ports, Some(range(8000, 8010)));
        let p = parse_publish("0:80").unwrap();
        assert_eq!(p.host_ports, None);
    }

    #[test]
    fn malformed_specs_are_refused() {
        for bad in [
            "",
            ":",
            "80:",
            "a",
            "80/icmp",
            "80/sctp",
            "8000-8001:80-82",
            "70000",
            "0",
            "90-80",
            "1.2.3:80:80",
            "[::1]:80:80",
            "::1:80:80",
            "1:2:3:4",
            "80-",
            "-80",
            "８０",
            "80/",
        ] {
            assert!(parse_publish(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn binding_fixed_ranges_and_ephemeral() {
        let eph = range(40000, 40002);
        let specs = [
            parse_publish("8000-8001:80-81").unwrap(),
            parse_publish("90").unwrap(),
            parse_publish("127.0.0.1::91/udp").unwrap(),
        ];
        let out = bind(&specs, &[], eph).unwrap();
        let hosts: Vec<(u16, u16)> = out
            .iter()
            .map(|b| (b.host_port, b.container_port))
            .collect();
        assert_eq!(hosts, [(8000, 80), (8001, 81), (40000, 90), (40000, 91)]);
        assert_eq!(out[3].host_ip, Ipv4Addr::LOCALHOST);
    }

    #[test]
    fn conflicts_are_refused_and_ranges_skip_taken_ports() {
        let eph = range(40000, 40001);
        let taken = bind(&[parse_publish("127.0.0.1:8080:80").unwrap()], &[], eph).unwrap();
        // Every address conflicts with one address, the same address too.
        for spec in ["8080:80", "127.0.0.1:8080:81"] {
            let err = bind(&[parse_publish(spec).unwrap()], &taken, eph).unwrap_err();
            assert!(
                err.to_string().contains("port is already allocated"),
                "{err}"
            );
        }
        // Another address, or another protocol, does not.
        assert!(bind(&[parse_publish("127.0.0.2:8080:80").unwrap()], &taken, eph).is_ok());
        assert!(bind(&[parse_publish("8080:80/udp").unwrap()], &taken, eph).is_ok());
        // Two specs of one request conflict with each other.
        let both = [
            parse_publish("9000:80").unwrap(),
            parse_publish("9000:81").unwrap(),
        ];
        assert!(bind(&both, &[], eph).is_err());
        // A host range with one container port takes the first free one.
        let out = bind(&[parse_publish("8079-8081:80").unwrap()], &taken, eph).unwrap();
        assert_eq!(out[0].host_port, 8079);
        let taken2 = bind(&[parse_publish("8079:1").unwrap()], &taken, eph).unwrap();
        let mut all = taken.clone();
        all.extend(taken2);
        let out = bind(&[parse_publish("8079-8081:80").unwrap()], &all, eph).unwrap();
        assert_eq!(out[0].host_port, 8081);
        // The ephemeral range runs out.
        let three = [
            parse_publish("1").unwrap(),
            parse_publish("2").unwrap(),
            parse_publish("3").unwrap(),
        ];
        assert!(matches!(
            bind(&three, &[], eph),
            Err(PortError::Exhausted { .. })
        ));
    }

    #[test]
    fn publish_all_and_exposed() {
        let exposed = [
            parse_exposed("80/tcp").unwrap(),
            parse_exposed("53/udp").unwrap(),
            parse_exposed("8080").unwrap(),
        ];
        let specs = publish_all(&exposed);
        let out = bind(&specs, &[], range(32768, 60999)).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(out[1].proto, Protocol::Udp);
        assert!(out.iter().all(|b| (32768..=60999).contains(&b.host_port)));
        assert!(parse_exposed("80/icmp").is_err());
    }

    #[test]
    fn ephemeral_range_text() {
        assert_eq!(
            parse_ephemeral_range("32768\t60999\n"),
            Some(range(32768, 60999))
        );
        for bad in ["", "1", "5 4", "0 10", "1 2 3", "a b"] {
            assert_eq!(parse_ephemeral_range(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn every_port_at_once_is_linear() {
        let started = std::time::Instant::now();
        let all = bind(&[parse_publish("1-65535").unwrap()], &[], range(1, 65535)).unwrap();
        assert_eq!(all.len(), 65535);
        assert!(bind(&[parse_publish("1").unwrap()], &all, range(1, 65535)).is_err());
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }

    /// Hostile input never panics: pseudo-random strings over the characters
    /// the grammar cares about, multi-byte ones included.
    #[test]
    #[allow(clippy::cast_possible_truncation)] // indexes into a small alphabet
    fn random_specs_never_panic() {
        let alphabet: Vec<char> = "0123456789:-/.[]tcpudé ".chars().collect();
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..100_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 14) as usize;
            let text: String = (0..len)
                .map(|i| alphabet[((seed >> (i * 4)) as usize + i) % alphabet.len()])
                .collect();
            if let Ok(spec) = parse_publish(&text) {
                let _ = bind(&[spec], &[], range(1, 65535));
            }
            let _ = parse_exposed(&text);
            let _ = parse_ephemeral_range(&text);
        }
    }
}
