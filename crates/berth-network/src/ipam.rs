//! IP address management: a pool per network (subnet, gateway, optional
//! `--ip-range`), the choice of a free subnet for a new network, and the
//! addresses handed out, recorded in one JSON state file.
//!
//! Every operation takes an exclusive `flock` on a lock file beside the
//! state, reads the state, changes it and replaces the file atomically
//! (written to a temporary file, synced, renamed). Threads and processes
//! alike are serialized by the lock, so one address is never handed out
//! twice, and a crash leaves either the old state or the new one.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use rustix::fs::FlockOperation;
use serde::{Deserialize, Serialize};

use crate::error::IpamError;

/// The subnets docker tries, in order, for a network given no `--subnet`:
/// 172.17.0.0/16 to 172.31.0.0/16, then the /20s of 192.168.0.0/16.
pub fn default_candidates() -> Vec<Ipv4Net> {
    let mut out = Vec::new();
    for b in 17..=31u8 {
        out.extend(Ipv4Net::new(Ipv4Addr::new(172, b, 0, 0), 16).ok());
    }
    for i in 0..16u8 {
        out.extend(Ipv4Net::new(Ipv4Addr::new(192, 168, i * 16, 0), 20).ok());
    }
    out
}

/// Whether two subnets share an address.
pub fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The first candidate that overlaps nothing in `in_use` (the host's
/// addresses and routes, and the pools of berth's other networks).
pub fn choose_subnet(candidates: &[Ipv4Net], in_use: &[Ipv4Net]) -> Option<Ipv4Net> {
    candidates
        .iter()
        .find(|c| !in_use.iter().any(|u| overlaps(c, u)))
        .copied()
}

/// A network's address pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    /// The network's subnet (`172.18.0.0/16`).
    pub subnet: Ipv4Net,
    /// The gateway, the bridge's address.
    pub gateway: Ipv4Addr,
    /// Where container addresses come from (`--ip-range`); the whole subnet
    /// when `None`.
    pub ip_range: Option<Ipv4Net>,
}

impl Pool {
    /// Checks and completes a pool as `network create` gives it: the subnet
    /// without host bits and no smaller than a /30, the gateway inside it
    /// (its first address when not given) and neither its network nor its
    /// broadcast address, the range inside the subnet.
    pub fn new(
        subnet: Ipv4Net,
        gateway: Option<Ipv4Addr>,
        ip_range: Option<Ipv4Net>,
    ) -> Result<Pool, IpamError> {
        let bad = |reason: String| IpamError::InvalidPool { subnet, reason };
        if subnet != subnet.trunc() {
            return Err(bad(format!(
                "host bits are set; did you mean {}?",
                subnet.trunc()
            )));
        }
        if subnet.prefix_len() > 30 {
            return Err(bad("a subnet needs at least 4 addresses (/30)".into()));
        }
        let first_host = Ipv4Addr::from(u32::from(subnet.network()).saturating_add(1));
        let gateway = gateway.unwrap_or(first_host);
        if !subnet.contains(&gateway) {
            return Err(bad(format!("gateway {gateway} is outside the subnet")));
        }
        if gateway == subnet.network() || gateway == subnet.broadcast() {
            return Err(bad(format!(
                "gateway {gateway} is the subnet's network or broadcast address"
            )));
        }
        if let Some(range) = ip_range {
            if range != range.trunc() {
                return Err(bad(format!("ip-range {range} has host bits set")));
            }
            if !subnet.contains(&range) {
                return Err(bad(format!("ip-range {range} is outside the subnet")));
            }
        }
        Ok(Pool {
            subnet,
            gateway,
            ip_range,
        })
    }

    /// The range addresses are handed out from.
    pub fn range(&self) -> Ipv4Net {
        self.ip_range.unwrap_or(self.subnet)
    }

    /// The gateway with the subnet's prefix (`172.18.0.1/16`), for the bridge.
    pub fn gateway_net(&self) -> Ipv4Net {
        Ipv4Net::new(self.gateway, self.subnet.prefix_len()).unwrap_or(self.subnet)
    }

    /// Why `ip` cannot be handed out, if it cannot (allocations aside).
    fn unusable(&self, ip: Ipv4Addr) -> Option<&'static str> {
        if !self.range().contains(&ip) {
            Some("outside the range")
        } else if ip == self.gateway {
            Some("the gateway")
        } else if ip == self.subnet.network() {
            Some("the subnet's network address")
        } else if ip == self.subnet.broadcast() {
            Some("the subnet's broadcast address")
        } else {
            None
        }
    }
}

/// The next free address after `last` (wrapping around the range), so that a
/// released address is not reused at once, as docker's allocator does.
pub fn next_free(
    pool: &Pool,
    allocated: &dyn Fn(Ipv4Addr) -> bool,
    last: Option<Ipv4Addr>,
) -> Option<Ipv4Addr> {
    let range = pool.range();
    let first = u32::from(range.network());
    let end = u32::from(range.broadcast());
    let size = u64::from(end - first) + 1;
    let start = last
        .map(u32::from)
        .filter(|l| (first..=end).contains(l))
        .map_or(first, |l| if l >= end { first } else { l + 1 });
    (0..size)
        .map(|i| {
            let offset = (u64::from(start - first) + i) % size;
            Ipv4Addr::from(first + u32::try_from(offset).unwrap_or(0))
        })
        .find(|&ip| pool.unusable(ip).is_none() && !allocated(ip))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PoolState {
    pool: Pool,
    /// Address -> owner (the endpoint or container it was given to).
    allocated: BTreeMap<Ipv4Addr, String>,
    last: Option<Ipv4Addr>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    networks: BTreeMap<String, PoolState>,
}

/// The address pools and allocations of every network, kept in a JSON file.
#[derive(Debug, Clone)]
pub struct Ipam {
    path: PathBuf,
    lock: PathBuf,
}

impl Ipam {
    /// Uses the state file at `path` (created on first change; its directory
    /// must exist) and the lock file `path` + `.lock`.
    pub fn new(path: impl Into<PathBuf>) -> Ipam {
        let path = path.into();
        let mut lock = path.clone().into_os_string();
        lock.push(".lock");
        Ipam {
            path,
            lock: PathBuf::from(lock),
        }
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn state_error(&self, source: std::io::Error) -> IpamError {
        IpamError::State {
            path: self.path.clone(),
            source,
        }
    }

    /// Runs `f` on the state under the lock, and saves the state if `f`
    /// succeeded and `save` is set.
    fn locked<T>(
        &self,
        save: bool,
        f: impl FnOnce(&mut State) -> Result<T, IpamError>,
    ) -> Result<T, IpamError> {
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock)
            .map_err(|e| self.state_error(e))?;
        rustix::fs::flock(&lock, FlockOperation::LockExclusive)
            .map_err(|e| self.state_error(e.into()))?;
        let mut state = match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| IpamError::Corrupt {
                path: self.path.clone(),
                source,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(self.state_error(e)),
        };
        let out = f(&mut state)?;
        if save {
            self.write(&state)?;
        }
        // The lock is released when `lock` is closed.
        drop(lock);
        Ok(out)
    }

    fn write(&self, state: &State) -> Result<(), IpamError> {
        let bytes = serde_json::to_vec_pretty(state).map_err(|source| IpamError::Corrupt {
            path: self.path.clone(),
            source,
        })?;
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let mut file = File::create(&tmp).map_err(|e| self.state_error(e))?;
        file.write_all(&bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| self.state_error(e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| self.state_error(e))?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| self.state_error(e))?;
        }
        Ok(())
    }

    /// Records the pool of a new network; refused if the network has one or
    /// the subnet overlaps another network's.
    pub fn create_pool(&self, network: &str, pool: Pool) -> Result<(), IpamError> {
        self.locked(true, |state| {
            check_free(state, network, &pool.subnet)?;
            state.networks.insert(
                network.to_owned(),
                PoolState {
                    pool,
                    allocated: BTreeMap::new(),
                    last: None,
                },
            );
            Ok(())
        })
    }

    /// Records the pool of a new network given no `--subnet`: the first of
    /// `candidates` ([`default_candidates`]) that overlaps neither
    /// `host_subnets` ([`crate::link::host_subnets`]) nor another network's
    /// pool, chosen under the lock so two networks never get the same one.
    pub fn create_pool_auto(
        &self,
        network: &str,
        candidates: &[Ipv4Net],
        host_subnets: &[Ipv4Net],
    ) -> Result<Pool, IpamError> {
        self.locked(true, |state| {
            if state.networks.contains_key(network) {
                return Err(IpamError::PoolExists(network.to_owned()));
            }
            let mut in_use = host_subnets.to_vec();
            in_use.extend(state.networks.values().map(|p| p.pool.subnet));
            let subnet = choose_subnet(candidates, &in_use).ok_or(IpamError::NoFreeSubnet)?;
            let pool = Pool::new(subnet, None, None)?;
            state.networks.insert(
                network.to_owned(),
                PoolState {
                    pool,
                    allocated: BTreeMap::new(),
                    last: None,
                },
            );
            Ok(pool)
        })
    }

    /// Forgets a network's pool; refused while addresses are handed out.
    /// Returns whether it existed.
    pub fn remove_pool(&self, network: &str) -> Result<bool, IpamError> {
        self.locked(true, |state| {
            if let Some(p) = state.networks.get(network) {
                if !p.allocated.is_empty() {
                    return Err(IpamError::PoolInUse {
                        network: network.to_owned(),
                        count: p.allocated.len(),
                    });
                }
            }
            Ok(state.networks.remove(network).is_some())
        })
    }

    /// The pool of a network.
    pub fn pool(&self, network: &str) -> Result<Option<Pool>, IpamError> {
        self.locked(false, |state| {
            Ok(state.networks.get(network).map(|p| p.pool))
        })
    }

    /// Every network with its pool.
    pub fn pools(&self) -> Result<Vec<(String, Pool)>, IpamError> {
        self.locked(false, |state| {
            Ok(state
                .networks
                .iter()
                .map(|(n, p)| (n.clone(), p.pool))
                .collect())
        })
    }

    /// Hands out an address of `network` to `owner`: `requested` (`--ip`)
    /// if given and free, else the next free one. Returns it with the
    /// subnet's prefix, ready for the container's interface.
    pub fn allocate(
        &self,
        network: &str,
        owner: &str,
        requested: Option<Ipv4Addr>,
    ) -> Result<Ipv4Net, IpamError> {
        self.locked(true, |state| {
            let p = state
                .networks
                .get_mut(network)
                .ok_or_else(|| IpamError::NoPool(network.to_owned()))?;
            let ip = match requested {
                Some(ip) => {
                    if let Some(reason) = p.pool.unusable(ip) {
                        return Err(IpamError::AddressNotAvailable {
                            ip,
                            range: p.pool.range(),
                            network: network.to_owned(),
                            reason,
                        });
                    }
                    if p.allocated.contains_key(&ip) {
                        return Err(IpamError::AddressInUse {
                            ip,
                            network: network.to_owned(),
                        });
                    }
                    ip
                }
                None => {
                    let allocated = &p.allocated;
                    let ip = next_free(&p.pool, &|ip| allocated.contains_key(&ip), p.last)
                        .ok_or_else(|| IpamError::Exhausted {
                            network: network.to_owned(),
                            range: p.pool.range(),
                        })?;
                    p.last = Some(ip);
                    ip
                }
            };
            p.allocated.insert(ip, owner.to_owned());
            Ok(Ipv4Net::new(ip, p.pool.subnet.prefix_len()).unwrap_or(p.pool.subnet))
        })
    }

    /// Gives an address back. Returns whether it was handed out.
    pub fn release(&self, network: &str, ip: Ipv4Addr) -> Result<bool, IpamError> {
        self.locked(true, |state| {
            Ok(state
                .networks
                .get_mut(network)
                .and_then(|p| p.allocated.remove(&ip))
                .is_some())
        })
    }

    /// Gives back every address held by `owner` (cleanup after a crash),
    /// returning the network and address of each.
    pub fn release_owner(&self, owner: &str) -> Result<Vec<(String, Ipv4Addr)>, IpamError> {
        self.locked(true, |state| {
            let mut released = Vec::new();
            for (network, p) in &mut state.networks {
                p.allocated.retain(|ip, o| {
                    let keep = o != owner;
                    if !keep {
                        released.push((network.clone(), *ip));
                    }
                    keep
                });
            }
            Ok(released)
        })
    }

    /// The addresses handed out on `network`, with their owners.
    pub fn allocations(&self, network: &str) -> Result<Vec<(Ipv4Addr, String)>, IpamError> {
        self.locked(false, |state| {
            Ok(state
                .networks
                .get(network)
                .map(|p| p.allocated.iter().map(|(ip, o)| (*ip, o.clone())).collect())
                .unwrap_or_default())
        })
    }
}

fn check_free(state: &State, network: &str, subnet: &Ipv4Net) -> Result<(), IpamError> {
    if state.networks.contains_key(network) {
        return Err(IpamError::PoolExists(network.to_owned()));
    }
    for (other, p) in &state.networks {
        if overlaps(subnet, &p.pool.subnet) {
            return Err(IpamError::Overlap {
                subnet: *subnet,
                other: p.pool.subnet,
                network: other.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn candidates_are_docker_s() {
        let c = default_candidates();
        assert_eq!(c.first(), Some(&net("172.17.0.0/16")));
        assert_eq!(c.get(14), Some(&net("172.31.0.0/16")));
        assert_eq!(c.get(15), Some(&net("192.168.0.0/20")));
        assert_eq!(c.last(), Some(&net("192.168.240.0/20")));
        assert_eq!(c.len(), 31);
    }

    #[test]
    fn subnet_choice_skips_routes_and_addresses() {
        let c = default_candidates();
        assert_eq!(choose_subnet(&c, &[]), Some(net("172.17.0.0/16")));
        // A host address inside 172.17/16, a route covering 172.18-19, a
        // small route inside 172.20/16.
        let used = [
            net("172.17.5.0/24"),
            net("172.18.0.0/15"),
            net("172.20.3.128/25"),
        ];
        assert_eq!(choose_subnet(&c, &used), Some(net("172.21.0.0/16")));
        // A supernet covering all of 172.16/12 sends it to 192.168.
        assert_eq!(
            choose_subnet(&c, &[net("172.16.0.0/12"), net("192.168.0.0/24")]),
            Some(net("192.168.16.0/20"))
        );
        assert_eq!(
            choose_subnet(&c, &[net("0.0.0.0/1"), net("128.0.0.0/1")]),
            None
        );
    }

    #[test]
    fn pools_are_checked() {
        let p = Pool::new(net("10.1.0.0/24"), None, None).unwrap();
        assert_eq!(p.gateway, Ipv4Addr::new(10, 1, 0, 1));
        assert_eq!(p.gateway_net(), net("10.1.0.1/24"));
        assert!(Pool::new(net("10.1.0.1/24"), None, None).is_err());
        assert!(Pool::new(net("10.1.0.0/31"), None, None).is_err());
        assert!(Pool::new(net("10.1.0.0/24"), Some(Ipv4Addr::new(10, 2, 0, 1)), None).is_err());
        assert!(Pool::new(net("10.1.0.0/24"), Some(Ipv4Addr::new(10, 1, 0, 255)), None).is_err());
        assert!(Pool::new(net("10.1.0.0/24"), None, Some(net("10.1.1.0/28"))).is_err());
        assert!(Pool::new(net("10.1.0.0/24"), None, Some(net("10.1.0.128/25"))).is_ok());
    }

    #[test]
    fn allocation_skips_reserved_rolls_over_and_honours_requests() {
        let dir = tempfile::tempdir().unwrap();
        let ipam = Ipam::new(dir.path().join("ipam.json"));
        ipam.create_pool("n", Pool::new(net("10.1.0.0/29"), None, None).unwrap())
            .unwrap();
        // .0 network, .1 gateway, .7 broadcast: .2 to .6 are handed out.
        let got: Vec<Ipv4Net> = (0..5)
            .map(|i| ipam.allocate("n", &format!("c{i}"), None).unwrap())
            .collect();
        assert_eq!(got.first(), Some(&net("10.1.0.2/29")));
        assert_eq!(got.last(), Some(&net("10.1.0.6/29")));
        assert!(matches!(
            ipam.allocate("n", "x", None),
            Err(IpamError::Exhausted { .. })
        ));
        assert!(ipam.release("n", Ipv4Addr::new(10, 1, 0, 3)).unwrap());
        assert!(!ipam.release("n", Ipv4Addr::new(10, 1, 0, 3)).unwrap());
        assert_eq!(ipam.allocate("n", "y", None).unwrap(), net("10.1.0.3/29"));
        // --ip: in use, reserved, outside.
        assert!(matches!(
            ipam.allocate("n", "z", Some(Ipv4Addr::new(10, 1, 0, 4))),
            Err(IpamError::AddressInUse { .. })
        ));
        assert!(ipam
            .allocate("n", "z", Some(Ipv4Addr::new(10, 1, 0, 1)))
            .is_err());
        assert!(ipam
            .allocate("n", "z", Some(Ipv4Addr::new(10, 1, 1, 4)))
            .is_err());
        // Released addresses are not reused at once: allocation goes on after the last.
        assert!(ipam.release("n", Ipv4Addr::new(10, 1, 0, 2)).unwrap());
        assert!(ipam.release("n", Ipv4Addr::new(10, 1, 0, 5)).unwrap());
        assert_eq!(ipam.allocate("n", "w", None).unwrap(), net("10.1.0.5/29"));
        assert_eq!(ipam.allocate("n", "w", None).unwrap(), net("10.1.0.2/29"));
        // The state survives a new handle (a daemon restart).
        let again = Ipam::new(dir.path().join("ipam.json"));
        assert_eq!(again.allocations("n").unwrap().len(), 5);
        assert_eq!(again.release_owner("w").unwrap().len(), 2);
        assert!(matches!(
            again.remove_pool("n"),
            Err(IpamError::PoolInUse { count: 3, .. })
        ));
    }

    #[test]
    fn ip_range_and_requests_inside_it() {
        let dir = tempfile::tempdir().unwrap();
        let ipam = Ipam::new(dir.path().join("ipam.json"));
        let pool = Pool::new(
            net("10.2.0.0/16"),
            Some(Ipv4Addr::new(10, 2, 0, 254)),
            Some(net("10.2.5.0/30")),
        )
        .unwrap();
        ipam.create_pool("r", pool).unwrap();
        // The range's network and broadcast are ordinary hosts of the /16.
        let got: Vec<Ipv4Addr> = (0..4)
            .map(|_| ipam.allocate("r", "c", None).unwrap().addr())
            .collect();
        assert_eq!(
            got,
            [
                Ipv4Addr::new(10, 2, 5, 0),
                Ipv4Addr::new(10, 2, 5, 1),
                Ipv4Addr::new(10, 2, 5, 2),
                Ipv4Addr::new(10, 2, 5, 3)
            ]
        );
        assert!(ipam.allocate("r", "c", None).is_err());
        assert!(matches!(
            ipam.allocate("r", "c", Some(Ipv4Addr::new(10, 2, 6, 1))),
            Err(IpamError::AddressNotAvailable {
                reason: "outside the range",
                ..
            })
        ));
    }

    #[test]
    fn pools_do_not_overlap_and_auto_choice_avoids_them() {
        let dir = tempfile::tempdir().unwrap();
        let ipam = Ipam::new(dir.path().join("ipam.json"));
        ipam.create_pool("a", Pool::new(net("172.17.0.0/16"), None, None).unwrap())
            .unwrap();
        assert!(matches!(
            ipam.create_pool("b", Pool::new(net("172.17.3.0/24"), None, None).unwrap()),
            Err(IpamError::Overlap { .. })
        ));
        assert!(matches!(
            ipam.create_pool("a", Pool::new(net("10.0.0.0/24"), None, None).unwrap()),
            Err(IpamError::PoolExists(_))
        ));
        let host = [net("172.18.0.0/16")];
        let b = ipam
            .create_pool_auto("b", &default_candidates(), &host)
            .unwrap();
        assert_eq!(b.subnet, net("172.19.0.0/16"));
        assert_eq!(b.gateway, Ipv4Addr::new(172, 19, 0, 1));
        assert!(ipam.remove_pool("b").unwrap());
        assert!(!ipam.remove_pool("b").unwrap());
        assert_eq!(ipam.pools().unwrap().len(), 1);
    }

    #[test]
    fn concurrent_allocations_never_share_an_address() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ipam.json");
        Ipam::new(&path)
            .create_pool("n", Pool::new(net("10.3.0.0/24"), None, None).unwrap())
            .unwrap();
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let ipam = Ipam::new(&path);
                std::thread::spawn(move || {
                    (0..20)
                        .map(|i| {
                            ipam.allocate("n", &format!("t{t}-{i}"), None)
                                .unwrap()
                                .addr()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<Ipv4Addr> = threads
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        assert_eq!(all.len(), 160);
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 160, "an address was handed out twice");
        assert_eq!(Ipam::new(&path).allocations("n").unwrap().len(), 160);
    }

    #[test]
    fn a_corrupt_state_is_an_error_not_a_reset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ipam.json");
        std::fs::write(&path, b"{not json").unwrap();
        assert!(matches!(
            Ipam::new(&path).pools(),
            Err(IpamError::Corrupt { .. })
        ));
    }
}
