//! berth-network against the kernel (root): a bridge, veths into two
//! "container" namespaces, NAT to an "outside world" namespace, published
//! ports, icc off, an internal network, and removal that leaves nothing.
//!
//! Everything happens inside namespaces the test makes: the test thread
//! moves into a private network namespace that plays the host
//! (`enter_private_net`), the containers and the outside world are network
//! namespaces held by `unshare --net sleep` processes. Nothing of the real
//! host's network, routes, sysctls or nftables is read or changed, and
//! everything goes away with the test's process and its holders.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use berth_network::firewall::{Firewall, NetworkRules};
use berth_network::ipam::{default_candidates, Ipam};
use berth_network::link::{self, BridgeConfig, EndpointConfig};
use berth_network::ports::{self, PortRange};
use berth_testutil::ns::{enter_private_net, NsHolder};
use berth_testutil::{require_files, require_root, run_command};
use ipnet::Ipv4Net;

const HOST_OUT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const OUTSIDE: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

fn prerequisites() -> bool {
    require_root() && require_files(&["/usr/sbin/nft"], "nftables")
}

fn sh(args: &[&str]) -> String {
    let (program, rest) = args.split_first().expect("a command");
    let out = run_command(
        Command::new(program).args(rest),
        None,
        Duration::from_secs(20),
    )
    .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(out.success(), "{args:?}:\n{out}");
    out.stdout.clone()
}

/// Runs `work` on a thread inside the network namespace at `ns` (the calling
/// thread's own when `None`).
fn on<T: Send + 'static>(ns: Option<PathBuf>, work: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        if let Some(ns) = ns {
            let f = std::fs::File::open(&ns).expect("open netns");
            rustix::thread::move_into_link_name_space(
                f.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .expect("setns");
        }
        work()
    })
    .join()
    .expect("namespace thread")
}

/// Listens on `addr` inside `ns`; once ready, accepts one connection within
/// five seconds, greets it and reports the peer's address.
fn serve_once(ns: PathBuf, addr: SocketAddrV4) -> mpsc::Receiver<Result<SocketAddr, String>> {
    let (ready_tx, ready_rx) = mpsc::channel();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let f = std::fs::File::open(&ns).expect("open netns");
        rustix::thread::move_into_link_name_space(
            f.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .expect("setns");
        let listener = TcpListener::bind(addr).expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        ready_tx.send(()).expect("ready");
        let deadline = Instant::now() + Duration::from_secs(5);
        let result = loop {
            match listener.accept() {
                Ok((mut stream, peer)) => {
                    let _ = stream.set_nonblocking(false);
                    let _ = stream.write_all(format!("hello from {addr}").as_bytes());
                    break Ok(peer);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() > deadline {
                        break Err("no connection".to_owned());
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => break Err(e.to_string()),
            }
        };
        let _ = tx.send(result);
    });
    ready_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("listener ready");
    rx
}

/// Connects to `to` from `ns` (the calling thread's namespace when `None`)
/// and reads the greeting.
fn connect(ns: Option<PathBuf>, to: SocketAddrV4, timeout: Duration) -> std::io::Result<String> {
    on(ns, move || {
        let mut s = TcpStream::connect_timeout(&SocketAddr::V4(to), timeout)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut text = String::new();
        s.read_to_string(&mut text)?;
        Ok(text)
    })
}

fn ns_path(holder: &NsHolder) -> PathBuf {
    holder.path("net")
}

/// The test's world: this thread in a private "host" namespace with an
/// uplink to the "outside" namespace, which is the host's default route.
struct World {
    outside: NsHolder,
    _dir: tempfile::TempDir,
    ipam: Ipam,
    fw: Firewall,
}

impl World {
    fn new() -> World {
        enter_private_net().expect("private network namespace");
        let outside = NsHolder::new(&["--net"], "net").expect("outside namespace");
        let pid = outside.pid().to_string();
        sh(&[
            "ip", "link", "add", "uplink", "type", "veth", "peer", "name", "oeth0", "netns", &pid,
        ]);
        sh(&["ip", "addr", "add", "198.18.0.1/24", "dev", "uplink"]);
        sh(&["ip", "link", "set", "uplink", "up"]);
        sh(&["ip", "route", "add", "default", "via", "198.18.0.2"]);
        for args in [
            &["ip", "addr", "add", "198.18.0.2/24", "dev", "oeth0"][..],
            &["ip", "link", "set", "oeth0", "up"],
            &["ip", "link", "set", "lo", "up"],
        ] {
            let mut full = vec!["nsenter", "-t", &pid, "-n"];
            full.extend_from_slice(args);
            sh(&full);
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let ipam = Ipam::new(dir.path().join("ipam.json"));
        World {
            outside,
            _dir: dir,
            ipam,
            fw: Firewall::new(),
        }
    }

    /// A bridge network: pool, bridge, rules.
    fn network(&self, name: &str, bridge: &str, icc: bool, internal: bool) -> Ipv4Net {
        let host = link::host_subnets().expect("host subnets");
        let pool = self
            .ipam
            .create_pool_auto(name, &default_candidates(), &host)
            .expect("pool");
        link::ensure_bridge(&BridgeConfig {
            name: bridge.into(),
            mtu: link::default_route_mtu().expect("mtu"),
            gateway: Some(pool.gateway_net()),
        })
        .expect("bridge");
        self.fw
            .add_network(&NetworkRules {
                bridge: bridge.into(),
                subnet: pool.subnet,
                icc,
                internal,
            })
            .expect("network rules");
        pool.subnet
    }

    /// A container namespace attached to `bridge`; returns it with its address.
    fn container(&self, network: &str, bridge: &str, veth: &str, icc: bool) -> (NsHolder, Ipv4Net) {
        let holder = NsHolder::new(&["--net"], "net").expect("container namespace");
        let pool = self.ipam.pool(network).expect("ipam").expect("pool");
        let address = self.ipam.allocate(network, veth, None).expect("address");
        let started = Instant::now();
        link::attach_endpoint(
            &ns_path(&holder),
            bridge,
            &EndpointConfig {
                host_ifname: veth.into(),
                container_ifname: "eth0".into(),
                address,
                gateway: Some(pool.gateway),
                mac: None,
                mtu: None,
            },
        )
        .expect("attach");
        self.fw.add_endpoint(veth, icc).expect("endpoint rules");
        eprintln!("attach {veth}: {:?}", started.elapsed());
        (holder, address)
    }

    fn outside_path(&self) -> PathBuf {
        ns_path(&self.outside)
    }
}

fn in_ns(holder: &NsHolder, args: &[&str]) -> String {
    let pid = holder.pid().to_string();
    let mut full = vec!["nsenter", "-t", &pid, "-n"];
    full.extend_from_slice(args);
    sh(&full)
}

const SHORT: Duration = Duration::from_millis(1500);

#[test]
fn bridge_nat_published_ports_and_clean_removal() {
    if !prerequisites() {
        return;
    }
    let w = World::new();
    let subnet = w.network("net1", "berth0", true, false);
    assert_eq!(
        subnet,
        "172.17.0.0/16".parse::<Ipv4Net>().unwrap(),
        "first free candidate"
    );
    let (c1, a1) = w.container("net1", "berth0", "vethc1", true);
    let (c2, a2) = w.container("net1", "berth0", "vethc2", true);

    // The container side: eth0 with docker's MAC, the address, the default route, lo up.
    let links = in_ns(&c1, &["ip", "-o", "link", "show"]);
    let mac = link::format_mac(link::docker_mac(a1.addr()));
    assert!(links.contains("eth0@") && links.contains(&mac), "{links}");
    assert!(links.contains("lo: <LOOPBACK,UP"), "{links}");
    let addrs = in_ns(&c1, &["ip", "-o", "-4", "addr", "show", "dev", "eth0"]);
    assert!(addrs.contains(&a1.to_string()), "{addrs}");
    let routes = in_ns(&c1, &["ip", "route"]);
    assert!(
        routes.contains("default via 172.17.0.1 dev eth0"),
        "{routes}"
    );

    // Container to container.
    let got = serve_once(ns_path(&c1), SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7000));
    let greeting = connect(
        Some(ns_path(&c2)),
        SocketAddrV4::new(a1.addr(), 7000),
        SHORT,
    )
    .expect("c2 -> c1");
    assert_eq!(greeting, "hello from 0.0.0.0:7000");
    assert_eq!(
        got.recv().unwrap().unwrap().ip(),
        std::net::IpAddr::V4(a2.addr())
    );

    // Container to the outside world, masqueraded behind the host's address.
    let got = serve_once(w.outside_path(), SocketAddrV4::new(OUTSIDE, 7001));
    connect(Some(ns_path(&c1)), SocketAddrV4::new(OUTSIDE, 7001), SHORT).expect("c1 -> outside");
    assert_eq!(
        got.recv().unwrap().unwrap().ip(),
        std::net::IpAddr::V4(HOST_OUT)
    );

    // A published port: 8080 -> c1:7000, from the outside and from the host's 127.0.0.1.
    let specs = [ports::parse_publish("8080:7000").unwrap()];
    let existing: Vec<_> =
        w.fw.published()
            .unwrap()
            .into_iter()
            .map(|p| p.binding)
            .collect();
    let bindings = ports::bind(&specs, &existing, ports::ephemeral_range().unwrap()).unwrap();
    w.fw.publish(a1.addr(), &bindings).expect("publish");
    let got = serve_once(ns_path(&c1), SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7000));
    let greeting = connect(
        Some(w.outside_path()),
        SocketAddrV4::new(HOST_OUT, 8080),
        SHORT,
    )
    .expect("outside -> published");
    assert_eq!(greeting, "hello from 0.0.0.0:7000");
    assert_eq!(
        got.recv().unwrap().unwrap().ip(),
        std::net::IpAddr::V4(OUTSIDE)
    );
    let got = serve_once(ns_path(&c1), SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7000));
    connect(None, SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080), SHORT)
        .expect("host 127.0.0.1 -> published");
    got.recv().unwrap().expect("c1 saw the host's connection");
    // And from the other container through the host's address (hairpin).
    let got = serve_once(ns_path(&c1), SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7000));
    connect(Some(ns_path(&c2)), SocketAddrV4::new(HOST_OUT, 8080), SHORT)
        .expect("c2 -> host:8080 -> c1");
    got.recv().unwrap().expect("c1 saw the hairpin connection");

    // -P: an ephemeral port for c2, and a conflict refused with docker's message.
    let eph = ports::ephemeral_range().unwrap();
    let existing: Vec<_> =
        w.fw.published()
            .unwrap()
            .into_iter()
            .map(|p| p.binding)
            .collect();
    let exposed = [ports::parse_exposed("7000/tcp").unwrap()];
    let b2 = ports::bind(&ports::publish_all(&exposed), &existing, eph).unwrap();
    assert!((eph.first..=eph.last).contains(&b2[0].host_port));
    w.fw.publish(a2.addr(), &b2).expect("publish -P");
    let clash = ports::bind(
        &[ports::parse_publish("8080:80").unwrap()],
        &[],
        PortRange { first: 1, last: 1 },
    )
    .unwrap();
    let err = w.fw.publish(a2.addr(), &clash).unwrap_err();
    assert!(
        err.to_string()
            .contains("8080/tcp failed: port is already allocated"),
        "{err}"
    );
    let got = serve_once(ns_path(&c2), SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7000));
    connect(
        Some(w.outside_path()),
        SocketAddrV4::new(HOST_OUT, b2[0].host_port),
        SHORT,
    )
    .expect("outside -> -P port");
    got.recv().unwrap().expect("c2 served");

    // Removing c1 removes exactly its port; c2's stays.
    assert_eq!(w.fw.unpublish(a1.addr()).unwrap(), 1);
    let left = w.fw.published().unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].container_ip, a2.addr());
    assert!(connect(
        Some(w.outside_path()),
        SocketAddrV4::new(HOST_OUT, 8080),
        SHORT
    )
    .is_err());

    // Tear everything down: nothing of berth is left.
    for (holder, addr, veth) in [(&c1, a1, "vethc1"), (&c2, a2, "vethc2")] {
        w.fw.unpublish(addr.addr()).unwrap();
        w.fw.remove_endpoint(veth).unwrap();
        assert!(link::detach_endpoint(veth).unwrap());
        assert!(w.ipam.release("net1", addr.addr()).unwrap());
        let links = in_ns(holder, &["ip", "-o", "link", "show"]);
        assert!(!links.contains("eth0"), "{links}");
    }
    w.fw.remove_network("berth0").unwrap();
    assert!(link::delete_link("berth0").unwrap());
    assert!(w.ipam.remove_pool("net1").unwrap());
    let ruleset = sh(&["nft", "list", "ruleset"]);
    for gone in [
        "berth0",
        "172.17",
        "dnat ip to ip daddr . meta l4proto . th dport map @dnat_ip",
    ] {
        if gone.starts_with("dnat") {
            assert!(ruleset.contains(gone), "base chains stay:\n{ruleset}");
        } else {
            assert!(!ruleset.contains(gone), "{gone} left:\n{ruleset}");
        }
    }
    assert!(
        !ruleset.contains("elements"),
        "map elements left:\n{ruleset}"
    );
    let names = link::link_names().unwrap();
    assert_eq!(names, ["lo", "uplink"], "links left");
    let addrs = sh(&["ip", "-o", "-4", "addr"]);
    assert!(!addrs.contains("172.17."), "{addrs}");
    w.fw.remove_tables().unwrap();
    assert_eq!(sh(&["nft", "list", "ruleset"]).trim(), "");
}

#[test]
fn icc_off_blocks_containers_but_not_the_way_out() {
    if !prerequisites() {
        return;
    }
    let w = World::new();
    w.network("quiet", "br-quiet", false, false);
    let (c1, a1) = w.container("quiet", "br-quiet", "vethq1", false);
    let (c2, _a2) = w.container("quiet", "br-quiet", "vethq2", false);
    let _got = serve_once(ns_path(&c1), SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7000));
    let err = connect(
        Some(ns_path(&c2)),
        SocketAddrV4::new(a1.addr(), 7000),
        SHORT,
    );
    assert!(err.is_err(), "icc off, yet c2 reached c1: {err:?}");
    let got = serve_once(w.outside_path(), SocketAddrV4::new(OUTSIDE, 7001));
    connect(Some(ns_path(&c2)), SocketAddrV4::new(OUTSIDE, 7001), SHORT).expect("c2 -> outside");
    assert_eq!(
        got.recv().unwrap().unwrap().ip(),
        std::net::IpAddr::V4(HOST_OUT)
    );
    // Removing one endpoint removes its icc element only.
    w.fw.remove_endpoint("vethq1").unwrap();
    let set = sh(&["nft", "list", "set", "bridge", "berth", "icc_off"]);
    assert!(!set.contains("vethq1") && set.contains("vethq2"), "{set}");
}

#[test]
fn internal_network_has_no_way_out() {
    if !prerequisites() {
        return;
    }
    let w = World::new();
    // Two networks: the internal one cannot reach the outside, nor the other network.
    w.network("open", "br-open", true, false);
    w.network("inner", "br-inner", true, true);
    let (o1, oa) = w.container("open", "br-open", "vetho1", true);
    // A default route is given on purpose: the firewall, not a missing
    // route, must stop the traffic.
    let (i1, ia) = w.container("inner", "br-inner", "vethi1", true);
    let (i2, _) = w.container("inner", "br-inner", "vethi2", true);
    assert_ne!(oa.trunc(), ia.trunc());

    let _got = serve_once(w.outside_path(), SocketAddrV4::new(OUTSIDE, 7001));
    assert!(
        connect(Some(ns_path(&i1)), SocketAddrV4::new(OUTSIDE, 7001), SHORT).is_err(),
        "internal reached the outside"
    );
    let _got2 = serve_once(ns_path(&o1), SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7002));
    assert!(
        connect(
            Some(ns_path(&i1)),
            SocketAddrV4::new(oa.addr(), 7002),
            SHORT
        )
        .is_err(),
        "internal reached another network"
    );
    // Inside the internal network, containers talk.
    let got = serve_once(ns_path(&i2), SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7003));
    connect(
        Some(ns_path(&i1)),
        SocketAddrV4::new(eth0_address(&i2), 7003),
        SHORT,
    )
    .expect("i1 -> i2");
    got.recv().unwrap().expect("i2 served");
    // The open network still gets out.
    let got = serve_once(w.outside_path(), SocketAddrV4::new(OUTSIDE, 7004));
    connect(Some(ns_path(&o1)), SocketAddrV4::new(OUTSIDE, 7004), SHORT).expect("open -> outside");
    got.recv().unwrap().expect("outside served");
    // Removing one network leaves the other's rules intact.
    w.fw.remove_network("br-inner").unwrap();
    let ruleset = sh(&["nft", "list", "ruleset"]);
    assert!(
        !ruleset.contains("br-inner") && ruleset.contains("br-open"),
        "{ruleset}"
    );
}

fn eth0_address(holder: &NsHolder) -> Ipv4Addr {
    let out = in_ns(holder, &["ip", "-o", "-4", "addr", "show", "dev", "eth0"]);
    out.split_whitespace()
        .find_map(|f| f.split_once('/').and_then(|(a, _)| a.parse().ok()))
        .expect("eth0 address")
}

#[test]
fn restarts_adopt_what_exists_and_foreign_tables_are_untouched() {
    if !prerequisites() {
        return;
    }
    let _w = World::new();
    let foreign = "table inet other {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\ttcp dport 9999 counter packets 0 bytes 0 accept\n\t}\n}\n";
    run_command(
        Command::new("nft").args(["-f", "-"]),
        Some(foreign.as_bytes()),
        Duration::from_secs(10),
    )
    .unwrap();
    let before = sh(&["nft", "list", "table", "inet", "other"]);

    // A daemon restart: tables, bridge and network set up a second time.
    let fw = Firewall::new();
    let rules = NetworkRules {
        bridge: "berth0".into(),
        subnet: "10.44.0.0/24".parse().unwrap(),
        icc: true,
        internal: false,
    };
    let bridge = BridgeConfig {
        name: "berth0".into(),
        mtu: Some(1400),
        gateway: Some("10.44.0.1/24".parse().unwrap()),
    };
    for _ in 0..2 {
        fw.ensure_tables().unwrap();
        link::ensure_bridge(&bridge).unwrap();
        fw.add_network(&rules).unwrap();
    }
    let table = sh(&["nft", "list", "table", "ip", "berth"]);
    assert_eq!(
        table.matches("dnat ip to").count(),
        4,
        "base rules once:\n{table}"
    );
    assert_eq!(table.matches("chain fwd-out-berth0").count(), 1, "{table}");
    assert_eq!(table.matches("masquerade").count(), 3, "{table}");
    let addrs = sh(&["ip", "-o", "-4", "addr", "show", "dev", "berth0"]);
    assert_eq!(addrs.lines().count(), 1, "{addrs}");
    assert!(sh(&["ip", "link", "show", "berth0"]).contains("mtu 1400"));
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/conf/berth0/route_localnet")
            .unwrap()
            .trim(),
        "1"
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
            .unwrap()
            .trim(),
        "1"
    );

    fw.remove_network("berth0").unwrap();
    fw.remove_tables().unwrap();
    assert!(link::delete_link("berth0").unwrap());
    assert!(!link::delete_link("berth0").unwrap());
    assert_eq!(sh(&["nft", "list", "table", "inet", "other"]), before);
    assert_eq!(sh(&["nft", "list", "ruleset"]), before);
}
