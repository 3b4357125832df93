//! MPTCP stories (RFC 8684): two Braid endpoints, the client multihomed
//! (10.0.1.1 on link 0, 10.0.2.1 on link 1), the server on 10.0.9.1
//! reached over both links (it routes by destination). A bulk transfer
//! from client to server is checked byte for byte.
//!
//! Goodput is application bytes read by the server over a window of the
//! transfer, compared with the *physical payload maximum*: the sum of the
//! link rates times the payload share of a full packet (1500-byte packets
//! carry 1420 payload bytes with timestamps and a DSS with 64-bit DATA_ACK
//! and mapping: 20 IP + 20 TCP + 12 timestamps + 28 DSS); a figure above it
//! would be a measurement artefact and fails the test.
//!
//! Every story prints its seed; `BRAID_SEED=<n> cargo test -p braid-sim
//! --test mptcp_stories <name> -- --nocapture` replays it.

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;

use braid_proto::endpoint::{Endpoint, EndpointConfig, MptcpEvent};
use braid_proto::tcp::State;
use braid_proto::time::{Duration, Instant};
use braid_proto::wire::mptcp::{MpCapable, MpJoin, MptcpOption, rst_reason};
use braid_proto::wire::{IpRepr, TcpFlags, TcpRepr};
use braid_sim::HostId;
use braid_sim::LinkId;
use braid_sim::middlebox::rewrite;
use braid_sim::stack::{App, EndpointHost, payload};
use braid_sim::{Dir, FilterVerdict, LinkConfig, QueueLimit, Sim, seed_from_env};

const MIB: usize = 1024 * 1024;
const CLIENT_IPS: [&str; 2] = ["10.0.1.1", "10.0.2.1"];
/// Payload bytes in a full 1500-byte MPTCP data packet (see the module
/// docs).
const PAYLOAD_PER_PACKET: f64 = 1420.0;

fn server() -> SocketAddr {
    "10.0.9.1:443".parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Buffers above the bandwidth-delay product of both paths together.
fn config() -> EndpointConfig {
    let mut c = EndpointConfig::default();
    c.tcp.send_buffer = 4 * MIB;
    c.tcp.recv_buffer = 4 * MIB;
    c.conn.send_buffer = 8 * MIB;
    c.conn.recv_buffer = 8 * MIB;
    c
}

fn client_config(paths: usize) -> EndpointConfig {
    let mut c = config();
    c.conn.pm.local_addrs = CLIENT_IPS[1..paths].iter().map(|s| ip(s)).collect();
    c
}

fn path(rate_bps: u64, delay_ms: u64) -> LinkConfig {
    LinkConfig::default()
        .rate_bps(rate_bps)
        .delay(Duration::from_millis(delay_ms))
        // Seeded jitter (order kept) so that seeds give different runs.
        .jitter(Duration::from_millis(1), false)
        .queue(QueueLimit::Packets(150))
}

struct World {
    sim: Sim<EndpointHost>,
    tx: HostId,
    rx: HostId,
    links: Vec<LinkId>,
    seed: u64,
    size: usize,
}

fn world(
    seed: u64,
    size: usize,
    links: &[LinkConfig],
    client: EndpointConfig,
    server_config: EndpointConfig,
) -> World {
    let data = payload(seed, size);
    let mut sim = Sim::new(seed);
    let local: SocketAddr = SocketAddr::new(ip(CLIENT_IPS[0]), 0);
    let mut tx = EndpointHost::new(
        Endpoint::with_seed(client, seed.wrapping_mul(2)),
        App::sender(Instant::ZERO, local, server(), data.clone()),
    );
    let mut rx = EndpointHost::new(
        Endpoint::with_seed(server_config, seed.wrapping_mul(2) + 1),
        App::receiver(server(), data),
    );
    for (i, c) in CLIENT_IPS.iter().enumerate().take(links.len()) {
        tx = tx.route(ip(c), i);
        rx = rx.route_to(ip(c), i);
    }
    let tx = sim.add_host(tx);
    let rx = sim.add_host(rx);
    let links = links
        .iter()
        .enumerate()
        .map(|(i, l)| sim.connect_symmetric((tx, i), (rx, i), l.clone()).unwrap())
        .collect();
    World {
        sim,
        tx,
        rx,
        links,
        seed,
        size,
    }
}

#[derive(Debug)]
struct Outcome {
    complete: bool,
    done_at: Option<Instant>,
    /// Longest time without new bytes for the application, from the first
    /// byte read to the last.
    longest_gap: Duration,
}

impl World {
    fn replay(&self, test: &str) -> String {
        format!(
            "seed {}: replay with BRAID_SEED={} cargo test -p braid-sim --test mptcp_stories {test} -- --nocapture",
            self.seed, self.seed
        )
    }

    /// Run until the receiver is done or `deadline`; never accepts a
    /// corrupted byte.
    fn run(&mut self, deadline: Instant, test: &str) -> Outcome {
        let rx = self.rx;
        let replay = self.replay(test);
        self.sim
            .run_while(|s| !s.host(rx).app.is_done(), deadline)
            .unwrap_or_else(|e| panic!("{e}; {replay}"));
        let r = self.sim.host(rx).app.receiver_state().expect("receiver");
        assert!(
            r.mismatch.is_none(),
            "CORRUPTED: byte {} differs; {replay}",
            r.mismatch.unwrap_or(0)
        );
        assert!(r.accepted <= 1, "{replay}");
        let mut longest_gap = Duration::ZERO;
        for w in r.progress.windows(2) {
            longest_gap = longest_gap.max(w[1].0 - w[0].0);
        }
        Outcome {
            complete: r.complete(),
            done_at: r.eof_at,
            longest_gap,
        }
    }

    /// Goodput (bits/s of application payload) between the instants the
    /// receiver had read `from` and all of the bytes.
    fn goodput(&self, from: f64) -> f64 {
        let r = self.sim.host(self.rx).app.receiver_state().unwrap();
        let t0 = r.time_of_fraction(from).unwrap();
        let at0 = r.progress.iter().find(|p| p.0 == t0).map_or(0, |p| p.1);
        let end = r.eof_at.unwrap();
        (self.size as u64 - at0) as f64 * 8.0 / (end - t0).as_secs_f64().max(1e-6)
    }

    fn print_paths(&self, name: &str) {
        let recv = &self.sim.host(self.rx).mptcp;
        let done = self
            .sim
            .host(self.rx)
            .app
            .receiver_state()
            .and_then(|r| r.eof_at)
            .unwrap_or(self.sim.now());
        for s in &recv.subflows {
            println!(
                "  {name}: subflow {:?} {} <- {}: {} data bytes delivered ({:.2} Mbit/s over the transfer)",
                s.id,
                s.local,
                s.remote,
                s.data_received,
                s.data_received as f64 * 8.0 / done.as_secs_f64().max(1e-6) / 1e6
            );
        }
    }
}

fn two_path_goodput(size: usize, test: &str) {
    let seed = seed_from_env(1);
    let links = [path(50_000_000, 20), path(50_000_000, 20)];
    let mut w = world(seed, size, &links, client_config(2), config());
    let out = w.run(Instant::from_secs(120), test);
    let replay = w.replay(test);
    assert!(out.complete, "incomplete; {replay}");
    let max = 2.0 * 50e6 * PAYLOAD_PER_PACKET / 1500.0;
    let goodput = w.goodput(0.1);
    let whole = size as f64 * 8.0 / out.done_at.unwrap().as_secs_f64();
    println!(
        "two paths 50 Mbit/s 20 ms: seed {seed}, {} MiB in {:.3} s; goodput from 10 % read to the end {:.2} Mbit/s \
         (whole transfer from the SYN {:.2}); physical payload maximum {:.2} Mbit/s, sum of rates 100",
        size / MIB,
        out.done_at.unwrap().as_secs_f64(),
        goodput / 1e6,
        whole / 1e6,
        max / 1e6
    );
    w.print_paths("two paths");
    for (i, l) in w.links.iter().enumerate() {
        let st = w.sim.link_stats(*l, Dir::AtoB);
        println!(
            "  link {i}: {} packets delivered, {} dropped",
            st.delivered_packets,
            st.dropped()
        );
    }
    let recv = &w.sim.host(w.rx).mptcp;
    assert_eq!(recv.subflows.len(), 2, "{replay}");
    assert!(
        recv.subflows
            .iter()
            .all(|s| s.data_received > size as u64 / 4),
        "both paths carry data; {replay}"
    );
    assert!(
        goodput <= max * 1.005,
        "above the physical maximum; {replay}"
    );
    // "From 10 %" leaves out the slow-start overshoot and its recovery;
    // the whole-transfer figure is printed too.
    assert!(
        goodput >= 0.9 * 100e6,
        "goodput {:.2} Mbit/s < 90 % of 100; {replay}",
        goodput / 1e6
    );
}

/// Two 50 Mbit/s, 20 ms (one-way) paths, 50 MiB byte for byte. Fast
/// enough in the test profile (under a second of wall time) to always run.
#[test]
fn two_paths_aggregate_bandwidth() {
    two_path_goodput(50 * MIB, "two_paths_aggregate_bandwidth");
}

#[test]
fn blackout_of_one_path_completes_over_the_other() {
    let test = "blackout_of_one_path_completes_over_the_other";
    let seed = seed_from_env(2);
    let size = 12 * MIB;
    let dead = path(50_000_000, 20).blackout(Instant::from_millis(800), Instant::from_secs(10_000));
    let links = [path(50_000_000, 20), dead];
    let mut w = world(seed, size, &links, client_config(2), config());
    let out = w.run(Instant::from_secs(120), test);
    let replay = w.replay(test);
    assert!(out.complete, "incomplete; {replay}");
    let mib = &w.sim.host(w.tx).mptcp.mib;
    println!(
        "blackout: seed {seed}, {} MiB in {:.3} s, longest delivery gap {:?}, {} bytes reinjected",
        size / MIB,
        out.done_at.unwrap().as_secs_f64(),
        out.longest_gap,
        mib.reinjected_bytes
    );
    w.print_paths("blackout");
    assert!(mib.reinjected_bytes > 0, "{replay}");
    assert!(
        out.longest_gap <= Duration::from_secs(1),
        "stall {:?}; {replay}",
        out.longest_gap
    );
}

/// Strip every MPTCP option from SYN/ACKs on the way to the client.
#[test]
fn synack_options_stripped_falls_back_byte_exact() {
    let test = "synack_options_stripped_falls_back_byte_exact";
    let seed = seed_from_env(3);
    let size = 4 * MIB;
    let mut w = world(
        seed,
        size,
        &[path(50_000_000, 20)],
        client_config(1),
        config(),
    );
    let l = w.links[0];
    w.sim.set_filter(
        l,
        Dir::BtoA,
        Some(Box::new(|_, p| {
            rewrite(p, |h, _| {
                if h.flags.contains(TcpFlags::SYN) {
                    h.options.mptcp.clear();
                    return true;
                }
                false
            });
            FilterVerdict::Pass
        })),
    );
    let out = w.run(Instant::from_secs(60), test);
    let replay = w.replay(test);
    assert!(out.complete, "incomplete; {replay}");
    let tx = &w.sim.host(w.tx).mptcp;
    assert!(!tx.is_mptcp, "{replay}");
    assert!(
        tx.events.iter().any(|(_, e)| *e == MptcpEvent::Fallback),
        "{replay}"
    );
    assert_eq!(tx.mib.mp_capable_active_fallback, 1, "{replay}");
    println!(
        "SYN/ACK stripped: fell back, {} MiB byte-exact in {:.3} s",
        size / MIB,
        out.done_at.unwrap().as_secs_f64()
    );
}

/// A middlebox that starts stripping MPTCP options from `at` on, in both
/// directions of `link`.
fn strip_from(w: &mut World, link: usize, at: Instant) {
    let l = w.links[link];
    for dir in [Dir::AtoB, Dir::BtoA] {
        w.sim.set_filter(
            l,
            dir,
            Some(Box::new(move |now, p| {
                if now >= at {
                    rewrite(p, |h, _| {
                        let had = !h.options.mptcp.is_empty();
                        h.options.mptcp.clear();
                        had
                    });
                }
                FilterVerdict::Pass
            })),
        );
    }
}

/// RFC 8684 section 3.7: options lost on an established subflow that
/// already carried mappings: the subflow is reset ("the subflow SHOULD be
/// treated as broken and closed with a RST"); with another path the
/// transfer completes over it, byte-exact.
#[test]
fn options_stripped_mid_connection_on_one_path() {
    let test = "options_stripped_mid_connection_on_one_path";
    let seed = seed_from_env(4);
    let size = 8 * MIB;
    let links = [path(50_000_000, 20), path(50_000_000, 20)];
    let mut w = world(seed, size, &links, client_config(2), config());
    strip_from(&mut w, 1, Instant::from_millis(600));
    let out = w.run(Instant::from_secs(60), test);
    let replay = w.replay(test);
    assert!(out.complete, "incomplete; {replay}");
    let rx = &w.sim.host(w.rx).mptcp;
    let tx = &w.sim.host(w.tx).mptcp;
    println!(
        "options stripped mid-connection on one of two paths: complete in {:.3} s, \
         receiver unmapped-data {}, subflow resets sent {}/{}, longest gap {:?}",
        out.done_at.unwrap().as_secs_f64(),
        rx.mib.dss_unmapped_data,
        rx.mib.mp_rst_tx,
        tx.mib.mp_rst_tx,
        out.longest_gap
    );
    assert!(
        rx.events
            .iter()
            .chain(&tx.events)
            .any(|(_, e)| matches!(e, MptcpEvent::SubflowClosed { .. })),
        "the stripped subflow closes; {replay}"
    );
}

/// The same on the only path: the connection cannot continue as MPTCP and
/// may not silently continue as TCP once mappings were used (RFC 8684
/// section 3.7): it is reset, and not one corrupted byte is delivered.
#[test]
fn options_stripped_mid_connection_on_the_only_path() {
    let test = "options_stripped_mid_connection_on_the_only_path";
    let seed = seed_from_env(5);
    let size = 8 * MIB;
    let mut w = world(
        seed,
        size,
        &[path(50_000_000, 20)],
        client_config(1),
        config(),
    );
    strip_from(&mut w, 0, Instant::from_millis(600));
    let out = w.run(Instant::from_secs(300), test);
    let r = w.sim.host(w.rx).app.receiver_state().unwrap();
    println!(
        "options stripped on the only path: complete {}, {} of {} bytes delivered (all correct), receiver closed {:?}",
        out.complete, r.received, w.size, r.closed
    );
    assert!(out.complete || r.closed.is_some(), "{}", w.replay(test));
}

/// A middlebox rewriting one payload byte per packet on `link` (and fixing
/// the TCP checksum) from `at` on.
fn corrupt_from(w: &mut World, link: usize, at: Instant) {
    let l = w.links[link];
    w.sim.set_filter(
        l,
        Dir::AtoB,
        Some(Box::new(move |now, p| {
            if now >= at {
                rewrite(p, |_, data| {
                    if let Some(b) = data.get_mut(7) {
                        *b ^= 0x5a;
                        return true;
                    }
                    false
                });
            }
            FilterVerdict::Pass
        })),
    );
}

fn checksummed(mut c: EndpointConfig) -> EndpointConfig {
    c.conn.checksum = true;
    c
}

/// DSS checksums on, payload rewritten on one of two paths: MP_FAIL and a
/// reset of that subflow (RFC 8684 section 3.7); the data goes over the
/// other path, byte-exact.
#[test]
fn payload_rewritten_with_checksums_on_one_path() {
    let test = "payload_rewritten_with_checksums_on_one_path";
    let seed = seed_from_env(6);
    let size = 8 * MIB;
    let links = [path(50_000_000, 20), path(50_000_000, 20)];
    let mut w = world(
        seed,
        size,
        &links,
        checksummed(client_config(2)),
        checksummed(config()),
    );
    corrupt_from(&mut w, 1, Instant::from_millis(600));
    let out = w.run(Instant::from_secs(60), test);
    let replay = w.replay(test);
    assert!(out.complete, "incomplete; {replay}");
    let rx = &w.sim.host(w.rx).mptcp;
    println!(
        "payload rewritten on one of two paths, checksums on: complete in {:.3} s, \
         {} checksum errors, {} MP_FAIL sent, longest gap {:?}",
        out.done_at.unwrap().as_secs_f64(),
        rx.mib.dss_checksum_error,
        rx.mib.mp_fail_tx,
        out.longest_gap
    );
    assert!(rx.mib.dss_checksum_error >= 1, "{replay}");
    assert!(rx.mib.mp_fail_tx >= 1, "{replay}");
}

/// The same on the only path: MP_FAIL and a reset of the connection; no
/// corrupted byte is ever delivered.
#[test]
fn payload_rewritten_with_checksums_on_the_only_path() {
    let test = "payload_rewritten_with_checksums_on_the_only_path";
    let seed = seed_from_env(7);
    let size = 8 * MIB;
    let mut w = world(
        seed,
        size,
        &[path(50_000_000, 20)],
        checksummed(client_config(1)),
        checksummed(config()),
    );
    corrupt_from(&mut w, 0, Instant::from_millis(600));
    let out = w.run(Instant::from_secs(60), test);
    let replay = w.replay(test);
    let r = w.sim.host(w.rx).app.receiver_state().unwrap();
    let rx = &w.sim.host(w.rx).mptcp;
    println!(
        "payload rewritten on the only path, checksums on: {} of {} bytes delivered (all correct), \
         {} checksum errors, {} MP_FAIL sent, closed {:?}",
        r.received, w.size, rx.mib.dss_checksum_error, rx.mib.mp_fail_tx, r.closed
    );
    assert!(!out.complete, "{replay}");
    assert!(r.closed.is_some(), "{replay}");
    assert!(rx.mib.mp_fail_tx >= 1, "{replay}");
}

/// A middlebox flips the HMAC of the join's third ACK: the server refuses
/// the subflow with MP_TCPRST; the transfer completes on the first path.
#[test]
fn join_with_wrong_hmac_is_refused() {
    let test = "join_with_wrong_hmac_is_refused";
    let seed = seed_from_env(8);
    let size = 2 * MIB;
    let links = [path(50_000_000, 20), path(50_000_000, 20)];
    let mut w = world(seed, size, &links, client_config(2), config());
    let l = w.links[1];
    w.sim.set_filter(
        l,
        Dir::AtoB,
        Some(Box::new(|_, p| {
            rewrite(p, |h, _| {
                let mut hit = false;
                for o in h.options.mptcp.iter_mut() {
                    if let MptcpOption::MpJoin(MpJoin::Ack { hmac }) = o {
                        hmac[0] ^= 0xff;
                        hit = true;
                    }
                }
                hit
            });
            FilterVerdict::Pass
        })),
    );
    let out = w.run(Instant::from_secs(60), test);
    let replay = w.replay(test);
    assert!(out.complete, "{replay}");
    let rx = &w.sim.host(w.rx).mptcp;
    let tx = &w.sim.host(w.tx).mptcp;
    println!(
        "join with a wrong HMAC: server mp_join_ack_hmac_failure {}, mp_join_ack_rx {}",
        rx.mib.mp_join_ack_hmac_failure, rx.mib.mp_join_ack_rx
    );
    assert_eq!(rx.mib.mp_join_ack_hmac_failure, 1, "{replay}");
    assert_eq!(rx.mib.mp_join_ack_rx, 0, "{replay}");
    assert!(
        tx.events.iter().any(|(_, e)| matches!(
            e,
            MptcpEvent::SubflowClosed { reason, .. } if reason.peer_reason == Some(rst_reason::MPTCP_ERROR)
        )),
        "{replay}: {:?}",
        tx.events
    );
    assert!(rx.subflows.iter().skip(1).all(|s| s.data_received == 0));
}

/// The server announces 10.0.9.2 with ADD_ADDR; a middlebox alters the
/// HMAC: the client ignores the announcement (RFC 8684 section 3.4.1).
#[test]
fn forged_add_addr_is_ignored() {
    let test = "forged_add_addr_is_ignored";
    let seed = seed_from_env(9);
    let size = 2 * MIB;
    let mut client = client_config(1);
    client.conn.pm.limits.add_addr_accepted = 4;
    let mut server_config = config();
    server_config.conn.pm.announce = vec!["10.0.9.2:443".parse().unwrap()];
    let mut w = world(seed, size, &[path(50_000_000, 20)], client, server_config);
    let l = w.links[0];
    w.sim.set_filter(
        l,
        Dir::BtoA,
        Some(Box::new(|_, p| {
            rewrite(p, |h, _| {
                let mut hit = false;
                for o in h.options.mptcp.iter_mut() {
                    if let MptcpOption::AddAddr(a) = o {
                        if let Some(x) = a.hmac.as_mut() {
                            *x ^= 1;
                            hit = true;
                        }
                    }
                }
                hit
            });
            FilterVerdict::Pass
        })),
    );
    let out = w.run(Instant::from_secs(60), test);
    let replay = w.replay(test);
    assert!(out.complete, "{replay}");
    let tx = &w.sim.host(w.tx).mptcp;
    println!(
        "forged ADD_ADDR: client add_addr_hmac_failure {}, add_addr_rx {}",
        tx.mib.add_addr_hmac_failure, tx.mib.add_addr_rx
    );
    assert!(tx.mib.add_addr_hmac_failure >= 1, "{replay}");
    assert_eq!(tx.mib.add_addr_rx, 0, "{replay}");
    assert!(
        !tx.events
            .iter()
            .any(|(_, e)| matches!(e, MptcpEvent::AddrAnnounced { .. })),
        "{replay}"
    );
    assert_eq!(tx.subflows.len(), 1, "{replay}");
}

/// The server also accepts (joins) on these addresses, as a server
/// listening on every address would.
fn listen_also(w: &mut World, addrs: &[&str]) {
    for a in addrs {
        w.sim
            .host_mut(w.rx)
            .endpoint
            .listen(a.parse().unwrap())
            .unwrap();
    }
}

/// The source IP and address ID of every MP_JOIN SYN/ACK on a link
/// direction (recorded by a filter that changes nothing).
fn record_join_synacks(w: &mut World, link: LinkId, dir: Dir) -> Rc<RefCell<Vec<(IpAddr, u8)>>> {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let out = seen.clone();
    w.sim.set_filter(
        link,
        dir,
        Some(Box::new(move |_, p| {
            if let Ok((ip, bytes)) = IpRepr::parse(p)
                && let Ok(seg) = TcpRepr::parse(bytes, ip.src_addr(), ip.dst_addr())
            {
                for o in seg.options.mptcp.iter() {
                    if let MptcpOption::MpJoin(MpJoin::SynAck { addr_id, .. }) = o {
                        out.borrow_mut().push((ip.src_addr(), *addr_id));
                    }
                }
            }
            FilterVerdict::Pass
        })),
    );
    seen
}

/// A server configured with explicit address IDs (`ip mptcp endpoint add
/// 10.0.9.3 id 5 signal`, `... 10.0.9.2 id 3 signal`) announces both; the
/// client joins each. Each join's SYN/ACK names the ID the address was
/// announced with (RFC 8684 section 3.2), not one in order of first use,
/// so that withdrawing ID 3 later closes exactly the subflow to 10.0.9.2
/// on both sides while the transfer goes on byte-exact.
#[test]
fn address_ids_follow_the_announcement() {
    let test = "address_ids_follow_the_announcement";
    let seed = seed_from_env(40);
    let mut client = client_config(1);
    client.conn.pm.limits.add_addr_accepted = 2;
    client.conn.pm.limits.subflows = 2;
    let mut server_config = config();
    server_config.conn.pm.limits.subflows = 2;
    server_config.conn.pm.endpoints = ["10.0.9.3 id 5 signal", "10.0.9.2 id 3 signal"]
        .iter()
        .map(|e| e.parse().unwrap())
        .collect();
    let mut w = world(
        seed,
        24 * MIB,
        &[path(20_000_000, 10)],
        client,
        server_config,
    );
    listen_also(&mut w, &["10.0.9.2:443", "10.0.9.3:443"]);
    let link = w.links[0];
    let synacks = record_join_synacks(&mut w, link, Dir::BtoA);
    let replay = w.replay(test);
    w.sim
        .run_until(Instant::from_secs(2))
        .unwrap_or_else(|e| panic!("{e}; {replay}"));
    let mut seen = synacks.borrow().clone();
    seen.sort();
    seen.dedup();
    assert_eq!(
        seen,
        vec![(ip("10.0.9.2"), 3), (ip("10.0.9.3"), 5)],
        "{replay}"
    );
    // The server withdraws ID 3: the client closes its subflow to
    // 10.0.9.2, the server its own on that address; 10.0.9.3's lives on.
    let rx = w.rx;
    let h = w.sim.host(rx).conn().expect("the server's connection");
    w.sim.host_mut(rx).endpoint.remove_addr(h, &[3]).unwrap();
    let out = w.run(Instant::from_secs(60), test);
    assert!(out.complete, "{replay}");
    let open_to = |host: HostId, addr: &str, remote: bool| {
        w.sim
            .host(host)
            .mptcp
            .subflows
            .iter()
            .filter(|s| (if remote { s.remote.ip() } else { s.local.ip() }) == ip(addr))
            .map(|s| (s.established, s.stats.state))
            .collect::<Vec<_>>()
    };
    let client_to_2 = open_to(w.tx, "10.0.9.2", true);
    let client_to_3 = open_to(w.tx, "10.0.9.3", true);
    println!(
        "address IDs: SYN/ACKs named {seen:?}; after REMOVE_ADDR 3 the client's subflows to 10.0.9.2 {client_to_2:?}, \
         to 10.0.9.3 {client_to_3:?}"
    );
    let tx = &w.sim.host(w.tx).mptcp;
    assert!(
        tx.events
            .iter()
            .any(|(_, e)| matches!(e, MptcpEvent::AddrRemoved { id: 3 })),
        "{replay}"
    );
    assert!(
        client_to_2.iter().all(|(_, st)| *st == State::Closed),
        "the subflow to the withdrawn address closed: {client_to_2:?}; {replay}"
    );
    assert!(
        client_to_3
            .iter()
            .any(|(est, st)| *est && *st != State::Closed),
        "the other announced address's subflow lives on: {client_to_3:?}; {replay}"
    );
}

/// REMOVE_ADDR of ID 0 withdraws the initial subflow's address: the
/// server announced 10.0.9.2 and the client joined it; the server then
/// withdraws ID 0 (its 10.0.9.1) and resets its own subflow there. A
/// middlebox drops that reset, so only the REMOVE_ADDR can tell the
/// client: it closes the initial subflow itself at once, and the transfer
/// finishes over the join, byte-exact.
#[test]
fn remove_addr_of_id_0_closes_the_initial_subflow() {
    let test = "remove_addr_of_id_0_closes_the_initial_subflow";
    let seed = seed_from_env(41);
    let mut client = client_config(1);
    client.conn.pm.limits.add_addr_accepted = 1;
    let mut server_config = config();
    server_config.conn.pm.announce = vec!["10.0.9.2:443".parse().unwrap()];
    let mut w = world(
        seed,
        24 * MIB,
        &[path(20_000_000, 10)],
        client,
        server_config,
    );
    listen_also(&mut w, &["10.0.9.2:443"]);
    let replay = w.replay(test);
    let link = w.links[0];
    w.sim.set_filter(
        link,
        Dir::BtoA,
        Some(Box::new(|_, p| {
            let rst_from_initial = IpRepr::parse(p).is_ok_and(|(hdr, bytes)| {
                hdr.src_addr() == ip("10.0.9.1")
                    && TcpRepr::parse(bytes, hdr.src_addr(), hdr.dst_addr())
                        .is_ok_and(|seg| seg.flags.contains(TcpFlags::RST))
            });
            if rst_from_initial {
                FilterVerdict::Drop
            } else {
                FilterVerdict::Pass
            }
        })),
    );
    let removed_at = Instant::from_secs(2);
    w.sim
        .run_until(removed_at)
        .unwrap_or_else(|e| panic!("{e}; {replay}"));
    let rx = w.rx;
    let h = w.sim.host(rx).conn().expect("the server's connection");
    let joined = w
        .sim
        .host(rx)
        .endpoint
        .subflows(h)
        .unwrap()
        .iter()
        .any(|s| s.local.ip() == ip("10.0.9.2") && s.established);
    assert!(joined, "the client joined 10.0.9.2 by 2 s; {replay}");
    w.sim.host_mut(rx).endpoint.remove_addr(h, &[0]).unwrap();
    let out = w.run(Instant::from_secs(60), test);
    assert!(out.complete, "{replay}");
    let client = &w.sim.host(w.tx).mptcp;
    let initial = client.subflows.first().expect("subflows").id;
    let closed = client.events.iter().find_map(|(t, e)| match e {
        MptcpEvent::SubflowClosed { id, reason } if *id == initial => Some((*t, *reason)),
        _ => None,
    });
    println!("REMOVE_ADDR 0 at {removed_at:?}: the client's initial subflow closed {closed:?}");
    let (at, reason) =
        closed.unwrap_or_else(|| panic!("the initial subflow stayed open; {replay}"));
    assert!(
        reason.local_reason.is_some(),
        "closed by the client on the REMOVE_ADDR, not by a reset or a timeout: {reason:?}; {replay}"
    );
    assert!(
        at < removed_at + Duration::from_secs(1),
        "closed at {at:?}; {replay}"
    );
}

/// A middlebox drops every segment that carries MP_CAPABLE (a firewall
/// black-holing unknown options). The client's SYN with MP_CAPABLE goes
/// three times (the first and two retransmissions, 0, 1 and 3 s); the
/// fourth, at 7 s, goes without, as Linux's
/// `net.mptcp.syn_retrans_before_tcp_fallback` = 2 does, and the
/// connection works as plain TCP, byte-exact.
#[test]
fn syns_black_holed_with_mp_capable_fall_back_to_tcp() {
    let test = "syns_black_holed_with_mp_capable_fall_back_to_tcp";
    let seed = seed_from_env(42);
    let mut w = world(
        seed,
        2 * MIB,
        &[path(20_000_000, 10)],
        client_config(1),
        config(),
    );
    let link = w.links[0];
    let dropped = Rc::new(RefCell::new(0u32));
    let count = dropped.clone();
    w.sim.set_filter(
        link,
        Dir::AtoB,
        Some(Box::new(move |_, p| {
            let mpc = IpRepr::parse(p).is_ok_and(|(hdr, bytes)| {
                TcpRepr::parse(bytes, hdr.src_addr(), hdr.dst_addr()).is_ok_and(|seg| {
                    seg.options
                        .mptcp
                        .iter()
                        .any(|o| matches!(o, MptcpOption::MpCapable(_)))
                })
            });
            if mpc {
                *count.borrow_mut() += 1;
                FilterVerdict::Drop
            } else {
                FilterVerdict::Pass
            }
        })),
    );
    let out = w.run(Instant::from_secs(60), test);
    let replay = w.replay(test);
    let tx = &w.sim.host(w.tx).mptcp;
    let connected = w
        .sim
        .host(w.tx)
        .app
        .sender_state()
        .and_then(|s| s.connected_at);
    println!(
        "MP_CAPABLE black-holed: {} SYNs with it dropped; connected at {connected:?} as plain TCP: {}; \
         mp_capable_syn_dropped {}",
        dropped.borrow(),
        !tx.is_mptcp,
        tx.mib.mp_capable_syn_dropped
    );
    assert!(out.complete, "{replay}");
    assert_eq!(*dropped.borrow(), 3, "{replay}");
    assert!(!tx.is_mptcp, "{replay}");
    assert_eq!(tx.mib.mp_capable_syn_dropped, 1, "{replay}");
    let at = connected.expect("connected");
    assert!(
        at >= Instant::from_secs(7) && at < Instant::from_secs(8),
        "connected at {at:?}; {replay}"
    );
}

/// A server that accepts no joins to its initial address and port
/// (`ConnConfig::allow_join_initial_addr_port` off, Linux's sysctl of that
/// name at 0; the selftests' `deny_join_id0`) says so with MP_CAPABLE's C
/// flag and announces 10.0.9.2. The two-path client opens no subflow to
/// 10.0.9.1:443 beyond the initial one and joins 10.0.9.2 from both of its
/// addresses. With the C flag stripped by a middlebox, the client's join
/// to the initial address is refused with MP_TCPRST "administratively
/// prohibited". Both transfers are byte-exact.
#[test]
fn c_flag_denies_joins_to_the_initial_address() {
    let test = "c_flag_denies_joins_to_the_initial_address";
    let seed = seed_from_env(43);
    let run = |strip_c: bool| {
        let mut client = client_config(2);
        client.conn.pm.limits.add_addr_accepted = 1;
        client.conn.pm.limits.subflows = 3;
        let mut server_config = config();
        server_config.conn.allow_join_initial_addr_port = false;
        server_config.conn.pm.limits.subflows = 3;
        server_config.conn.pm.announce = vec!["10.0.9.2:443".parse().unwrap()];
        let links = [path(20_000_000, 10), path(20_000_000, 20)];
        let mut w = world(seed, 8 * MIB, &links, client, server_config);
        listen_also(&mut w, &["10.0.9.2:443"]);
        let link = w.links[0];
        let c_seen = Rc::new(RefCell::new(false));
        let seen = c_seen.clone();
        w.sim.set_filter(
            link,
            Dir::BtoA,
            Some(Box::new(move |_, p| {
                rewrite(p, |h, _| {
                    let mut hit = false;
                    for o in h.options.mptcp.iter_mut() {
                        if let MptcpOption::MpCapable(m) = o
                            && m.flags & MpCapable::FLAG_NO_JOIN_TO_SRC != 0
                        {
                            *seen.borrow_mut() = true;
                            if strip_c {
                                m.flags &= !MpCapable::FLAG_NO_JOIN_TO_SRC;
                                hit = true;
                            }
                        }
                    }
                    hit
                });
                FilterVerdict::Pass
            })),
        );
        let out = w.run(Instant::from_secs(60), test);
        assert!(out.complete, "{}", w.replay(test));
        let c = *c_seen.borrow();
        (w, c)
    };

    let (w, c_seen) = run(false);
    let replay = w.replay(test);
    let tx = &w.sim.host(w.tx).mptcp;
    let to = |a: &str| {
        tx.subflows
            .iter()
            .filter(|s| s.remote.ip() == ip(a) && s.established)
            .count()
    };
    println!(
        "C flag: seen {c_seen}; client subflows to 10.0.9.1 {}, to 10.0.9.2 {}; joins not made {}",
        to("10.0.9.1"),
        to("10.0.9.2"),
        tx.mib.mp_join_denied
    );
    assert!(c_seen, "the server's SYN/ACK carried C; {replay}");
    assert_eq!(to("10.0.9.1"), 1, "only the initial subflow; {replay}");
    assert_eq!(
        to("10.0.9.2"),
        2,
        "both addresses joined 10.0.9.2; {replay}"
    );
    assert!(tx.mib.mp_join_denied >= 1, "{replay}");

    let (w, _) = run(true);
    let replay = w.replay(test);
    let tx = &w.sim.host(w.tx).mptcp;
    let refused = tx.events.iter().any(|(_, e)| {
        matches!(e, MptcpEvent::SubflowClosed { reason, .. }
            if reason.peer_reason == Some(rst_reason::PROHIBITED))
    });
    let rx = &w.sim.host(w.rx).mptcp;
    println!(
        "C flag stripped: the server refused {} join(s) to its initial address",
        rx.mib.mp_join_denied
    );
    assert!(refused, "{:?}; {replay}", tx.events);
    assert!(rx.mib.mp_join_denied >= 1, "{replay}");
}

/// The server announces 10.0.9.2 on another port (8443): the ADD_ADDR
/// (4 + 4 + 2 + 8 = 18 octets) does not fit beside timestamps (12) and a
/// DATA_ACK (12) in 40 octets, so that pure ACK leaves the DSS out, as
/// Linux does, instead of losing the announcement at every retry. The
/// client echoes it, joins 10.0.9.2:8443, and the transfer is byte-exact.
#[test]
fn add_addr_with_a_port_fits_beside_timestamps() {
    let test = "add_addr_with_a_port_fits_beside_timestamps";
    let seed = seed_from_env(44);
    let mut client = client_config(1);
    client.conn.pm.limits.add_addr_accepted = 1;
    let mut server_config = config();
    server_config.conn.pm.announce = vec!["10.0.9.2:8443".parse().unwrap()];
    server_config.conn.add_addr_timeout = Duration::from_secs(1);
    let mut w = world(
        seed,
        8 * MIB,
        &[path(20_000_000, 10)],
        client,
        server_config,
    );
    listen_also(&mut w, &["10.0.9.2:8443"]);
    let out = w.run(Instant::from_secs(60), test);
    let replay = w.replay(test);
    assert!(out.complete, "{replay}");
    let (tx, rx) = (&w.sim.host(w.tx).mptcp, &w.sim.host(w.rx).mptcp);
    println!(
        "ADD_ADDR with a port: {} retransmission(s), {} pure ACK(s) left the DSS out, echoed {}; client joined {:?}",
        rx.mib.add_addr_retransmits,
        rx.mib.dss_left_out_for_addr,
        rx.mib.add_addr_echo_rx,
        tx.subflows.iter().map(|s| s.remote).collect::<Vec<_>>()
    );
    assert!(rx.mib.dss_left_out_for_addr >= 1, "{replay}");
    assert!(rx.mib.add_addr_echo_rx >= 1, "{replay}");
    assert!(
        tx.subflows
            .iter()
            .any(|s| s.remote == "10.0.9.2:8443".parse().unwrap() && s.established),
        "{replay}"
    );
}
