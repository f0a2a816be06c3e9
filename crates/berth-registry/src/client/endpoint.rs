//! Where a registry's requests go: its endpoints (Docker Hub behind its
//! mirrors), plain HTTP or HTTPS, and the CA certificates of
//! `/etc/docker/certs.d/<host>/`.

use std::net::IpAddr;

use berth_oci::reference::is_docker_hub;
use ipnet::IpNet;
use reqwest::Url;

use super::{RegistryOptions, DOCKER_HUB};
use crate::error::RegistryError;

const DOCKER_HUB_ENDPOINT: &str = "https://registry-1.docker.io";

/// One base URL requests are sent to.
#[derive(Debug, Clone)]
pub(super) struct Endpoint {
    pub(super) base: Url,
}

impl Endpoint {
    pub(super) fn url(&self, path: &str) -> Result<Url, RegistryError> {
        // Mirrors may have a path prefix; keep it.
        let mut base = self.base.clone();
        let prefix = base.path().trim_end_matches('/').to_owned();
        base.set_path(&format!("{prefix}{path}"));
        Ok(base)
    }

    pub(super) fn key(&self) -> String {
        self.base.as_str().to_owned()
    }
}

/// A registry host: `name[:port]` or `[v6]:port`, lowercase for DNS names.
pub(super) fn validate_host(host: &str) -> Result<String, RegistryError> {
    let bad = |reason: &str| Err(RegistryError::invalid("registry host", host, reason));
    if host.is_empty() || host.len() > 255 {
        return bad("must be 1 to 255 characters");
    }
    if host.contains("://") || host.contains('/') {
        return bad("give the host (and port) only, without scheme or path");
    }
    let (name, port) = split_host_port(host);
    if let Some(port) = port {
        if port.parse::<u16>().is_err() {
            return bad("the port is not a number below 65536");
        }
    }
    if name.parse::<IpAddr>().is_err()
        && !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
    {
        return bad("not a DNS name or IP address");
    }
    if is_docker_hub(host) {
        return Ok(DOCKER_HUB.to_owned());
    }
    Ok(host.to_ascii_lowercase())
}

/// `[::1]:5000` -> (`::1`, Some(`5000`)); `a:5000` -> (`a`, Some(`5000`)).
fn split_host_port(host: &str) -> (&str, Option<&str>) {
    if let Some(rest) = host.strip_prefix('[') {
        if let Some((addr, after)) = rest.split_once(']') {
            return (addr, after.strip_prefix(':'));
        }
        return (rest, None);
    }
    match host.rsplit_once(':') {
        // Bare IPv6 without brackets: no port.
        Some((name, _)) if name.contains(':') => (host, None),
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    }
}

/// Whether `host` is spoken to over plain HTTP.
pub(super) fn is_plain_http(host: &str, insecure: &[String]) -> bool {
    let (name, _) = split_host_port(host);
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let ip = name.parse::<IpAddr>().ok();
    if ip.is_some_and(|ip| ip.is_loopback()) {
        return true;
    }
    insecure.iter().any(|entry| {
        let entry = entry.trim();
        if entry.eq_ignore_ascii_case(host)
            || (!entry.contains(':') && entry.eq_ignore_ascii_case(name))
        {
            return true;
        }
        // A CIDR (`10.0.0.0/8`, `fd00::/8`) holds `ip` of the same family.
        ip.zip(entry.parse::<IpNet>().ok())
            .is_some_and(|(ip, net)| net.contains(&ip))
    })
}

/// The pull endpoints (mirrors first) and the push endpoint.
pub(super) fn resolve_endpoints(
    name: &str,
    options: &RegistryOptions,
) -> Result<(Vec<Endpoint>, Endpoint), RegistryError> {
    let mut endpoints = Vec::new();
    if name == DOCKER_HUB {
        for mirror in &options.mirrors {
            let mut url = Url::parse(mirror).map_err(|e| {
                RegistryError::invalid("registry mirror", mirror.clone(), e.to_string())
            })?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(RegistryError::invalid(
                    "registry mirror",
                    mirror.clone(),
                    "must be an http(s) URL",
                ));
            }
            url.set_query(None);
            url.set_fragment(None);
            endpoints.push(Endpoint { base: url });
        }
        let base = Url::parse(DOCKER_HUB_ENDPOINT)
            .map_err(|e| RegistryError::invalid("registry", name, e.to_string()))?;
        let own = Endpoint { base };
        endpoints.push(own.clone());
        return Ok((endpoints, own));
    }
    let scheme = if is_plain_http(name, &options.insecure_registries) {
        "http"
    } else {
        "https"
    };
    let base = Url::parse(&format!("{scheme}://{name}/"))
        .map_err(|e| RegistryError::invalid("registry host", name, e.to_string()))?;
    let own = Endpoint { base };
    endpoints.push(own.clone());
    Ok((endpoints, own))
}

/// The CA certificates in `dir/*.crt`; unreadable ones are skipped (a
/// registry whose CA is missing then fails its TLS handshake, which names it).
pub(super) fn load_certs(dir: &std::path::Path) -> Vec<reqwest::Certificate> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "crt"))
        .collect();
    paths.sort();
    paths
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter_map(|pem| reqwest::Certificate::from_pem(&pem).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Registry;

    #[test]
    fn insecure_cidrs() {
        let insecure = |entries: &[&str], host: &str| {
            let entries: Vec<String> = entries.iter().map(|e| (*e).to_owned()).collect();
            is_plain_http(host, &entries)
        };
        assert!(insecure(&["10.0.0.0/8"], "10.255.0.1:5000"));
        assert!(!insecure(&["10.0.0.0/8"], "11.0.0.1:5000"));
        // Host bits in the entry are ignored, as Go's net.ParseCIDR does.
        assert!(insecure(&["192.168.7.9/16"], "192.168.200.1"));
        assert!(insecure(&["0.0.0.0/0"], "8.8.8.8"));
        assert!(insecure(&["fd00::/8"], "[fd12::1]:5000"));
        assert!(!insecure(&["fd00::/8"], "10.0.0.1"));
        assert!(!insecure(&["10.0.0.0/8"], "[fd00::1]:5000"));
        for bad in [
            "10.0.0.0/33",
            "10.0.0.0/",
            "/8",
            "10.0.0.0/-1",
            "10.0.0.0/é",
            "x/8",
        ] {
            assert!(!insecure(&[bad], "10.0.0.1:5000"), "{bad}");
        }
        // A name is no address in a range.
        assert!(!insecure(&["10.0.0.0/8"], "reg.lan:5000"));
    }

    #[test]
    fn endpoints_and_schemes() {
        let opts = RegistryOptions {
            insecure_registries: vec![
                "reg.lan:5000".into(),
                "10.0.0.0/8".into(),
                "plain.lan".into(),
            ],
            mirrors: vec![
                "http://127.0.0.1:5001".into(),
                "https://mirror.example/prefix/".into(),
            ],
            ..Default::default()
        };
        let urls = |host: &str| {
            Registry::new(host, None, &opts)
                .unwrap()
                .endpoints()
                .iter()
                .map(|u| u.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            urls("docker.io"),
            [
                "http://127.0.0.1:5001/",
                "https://mirror.example/prefix/",
                "https://registry-1.docker.io/"
            ]
        );
        assert_eq!(
            Registry::new("index.docker.io", None, &opts)
                .unwrap()
                .name(),
            "docker.io"
        );
        assert_eq!(urls("localhost:5000"), ["http://localhost:5000/"]);
        assert_eq!(urls("127.3.4.5:80"), ["http://127.3.4.5/"]);
        assert_eq!(urls("[::1]:5000"), ["http://[::1]:5000/"]);
        assert_eq!(urls("reg.lan:5000"), ["http://reg.lan:5000/"]);
        assert_eq!(urls("reg.lan:6000"), ["https://reg.lan:6000/"]);
        assert_eq!(urls("plain.lan:7000"), ["http://plain.lan:7000/"]);
        assert_eq!(urls("10.1.2.3:5000"), ["http://10.1.2.3:5000/"]);
        assert_eq!(urls("11.1.2.3:5000"), ["https://11.1.2.3:5000/"]);
        assert_eq!(urls("Quay.IO"), ["https://quay.io/"]);
        for bad in ["", "http://x", "x/y", "x:99999", "a b"] {
            assert!(Registry::new(bad, None, &opts).is_err(), "{bad}");
        }
        let ep = Endpoint {
            base: Url::parse("https://mirror.example/prefix/").unwrap(),
        };
        assert_eq!(
            ep.url("/v2/").unwrap().as_str(),
            "https://mirror.example/prefix/v2/"
        );
    }
}
