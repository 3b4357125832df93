//! The device's acceptance rules, datagram by datagram.

use super::*;
use braid_proto::wire::{IpProtocol, IpRepr};

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;

/// An inner IPv4 TCP packet (checksums left zero: the device does not
/// check them, the core does).
fn segment(src: SocketAddr, dst: SocketAddr, flags: u8) -> Vec<u8> {
    let ip = IpRepr::new(src.ip(), dst.ip(), IpProtocol::Tcp, 20, 64).unwrap();
    let mut buf = vec![0u8; ip.header_len() + 20];
    ip.emit(&mut buf).unwrap();
    let t = &mut buf[ip.header_len()..];
    t[0..2].copy_from_slice(&src.port().to_be_bytes());
    t[2..4].copy_from_slice(&dst.port().to_be_bytes());
    t[12] = 5 << 4;
    t[13] = flags;
    buf
}

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[tokio::test]
async fn a_syn_teaches_the_mapping_and_only_its_outer_endpoint_may_follow() {
    let mut dev = UdpDevice::bind(&[a("127.0.0.1:0")]).unwrap();
    let (client, server) = (a("10.0.0.1:4000"), a("127.0.0.1:80"));
    let (outer, other) = (a("192.0.2.1:5000"), a("192.0.2.1:5001"));

    // Before any SYN, a segment of the 4-tuple is from an unknown peer.
    assert!(!dev.accept(0, outer, &segment(client, server, ACK)));
    assert!(dev.accept(0, outer, &segment(client, server, SYN)));
    assert!(dev.accept(0, outer, &segment(client, server, ACK)));
    // The same inner 4-tuple from elsewhere: dropped (it acknowledges
    // nothing we sent: not a rebinding).
    assert!(!dev.accept(0, other, &segment(client, server, ACK)));
    // The reply goes back where the SYN came from, by our socket.
    assert_eq!(
        dev.route(&segment(server, client, SYN | ACK)),
        Some((0, outer))
    );
    // Nor may a SYN from elsewhere take over the confirmed mapping.
    assert!(!dev.accept(0, other, &segment(client, server, SYN)));
    assert_eq!(dev.route(&segment(server, client, ACK)), Some((0, outer)));
    let c = dev.stats().snapshot();
    assert_eq!((c.unknown_peer, c.outer_changed), (1, 2));
}

#[tokio::test]
async fn a_syn_seen_alone_may_be_retransmitted_from_another_outer_endpoint() {
    let mut dev = UdpDevice::bind(&[a("127.0.0.1:0")]).unwrap();
    let (client, server) = (a("10.0.0.1:4000"), a("127.0.0.1:80"));
    assert!(dev.accept(0, a("192.0.2.1:5000"), &segment(client, server, SYN)));
    // The NAT picked a new port for the retransmission.
    assert!(dev.accept(0, a("192.0.2.1:5001"), &segment(client, server, SYN)));
    assert_eq!(
        dev.route(&segment(server, client, SYN | ACK)),
        Some((0, a("192.0.2.1:5001")))
    );
}

#[tokio::test]
async fn routes_come_from_peer_entries_then_the_default_port() {
    let dev = UdpDevice::bind(&[a("127.0.0.1:0")]).unwrap();
    let mut dev = dev.add_peer("10.9.9.9".parse().unwrap(), a("127.0.0.5:7000"));
    let me = a("127.0.0.1:4000");
    assert_eq!(
        dev.route(&segment(me, a("10.9.9.9:80"), SYN)),
        Some((0, a("127.0.0.5:7000")))
    );
    // No entry, no default port: nowhere to send.
    assert_eq!(dev.route(&segment(me, a("10.8.8.8:80"), SYN)), None);
    let mut dev = dev.default_port(6000);
    assert_eq!(
        dev.route(&segment(me, a("10.8.8.8:80"), SYN)),
        Some((0, a("10.8.8.8:6000")))
    );
    // An inner source we have no socket for.
    assert_eq!(
        dev.route(&segment(a("10.1.1.1:1"), a("10.8.8.8:80"), SYN)),
        None
    );
    let c = dev.stats().snapshot();
    assert_eq!((c.no_route, c.no_socket), (1, 1));
}

#[tokio::test]
async fn a_syn_flood_is_bounded_by_the_table_and_spares_confirmed_peers() {
    let mut dev = UdpDevice::bind(&[a("127.0.0.1:0")])
        .unwrap()
        .max_mappings(8);
    let server = a("127.0.0.1:80");
    let real = a("10.0.0.1:4000");
    assert!(dev.accept(0, a("192.0.2.1:1"), &segment(real, server, SYN)));
    assert!(dev.accept(0, a("192.0.2.1:1"), &segment(real, server, ACK)));
    for port in 1..10_000u16 {
        let spoof = SocketAddr::new("10.66.0.1".parse().unwrap(), port);
        dev.accept(0, a("192.0.2.66:1"), &segment(spoof, server, SYN));
    }
    assert!(dev.nat.mappings.len() <= 8);
    // The established peer still gets through.
    assert!(dev.accept(0, a("192.0.2.1:1"), &segment(real, server, ACK)));
}

#[tokio::test]
async fn binding_the_same_address_twice_is_refused_with_a_message() {
    let err = UdpDevice::bind(&[a("127.0.0.1:0"), a("127.0.0.1:0")]).unwrap_err();
    assert!(err.to_string().contains("127.0.0.1"), "{err}");
    assert!(UdpDevice::bind(&[]).is_err());
}

#[tokio::test]
async fn the_inner_mtu_leaves_room_for_the_outer_headers() {
    let v4 = UdpDevice::bind(&[a("127.0.0.1:0")]).unwrap();
    assert_eq!(v4.mtu(), 1500 - 20 - 8);
    assert_eq!(v4.outer_mtu(9000).mtu(), 9000 - 20 - 8);
    // An IPv6 socket (where the host has IPv6 loopback) costs 20 more.
    if let Ok(v6) = UdpDevice::bind(&[a("127.0.0.1:0"), a("[::1]:0")]) {
        assert_eq!(v6.mtu(), 1500 - 40 - 8);
    }
}

/// An inner IPv4 TCP segment with sequence and acknowledgment numbers and
/// `payload` bytes.
fn seg_full(
    src: SocketAddr,
    dst: SocketAddr,
    flags: u8,
    seq: u32,
    ack: u32,
    payload: usize,
) -> Vec<u8> {
    let ip = IpRepr::new(src.ip(), dst.ip(), IpProtocol::Tcp, 20 + payload, 64).unwrap();
    let mut buf = vec![0u8; ip.header_len() + 20 + payload];
    ip.emit(&mut buf).unwrap();
    let t = &mut buf[ip.header_len()..];
    t[0..2].copy_from_slice(&src.port().to_be_bytes());
    t[2..4].copy_from_slice(&dst.port().to_be_bytes());
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&ack.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = flags;
    buf
}

/// The control messages the device queued, with where they go.
fn queued(dev: &mut UdpDevice) -> Vec<(SocketAddr, Control)> {
    dev.nat
        .out
        .drain(..)
        .filter_map(|o| Control::parse(&o.data).map(|c| (o.to, c)))
        .collect()
}

use control::{Control, Kind};

const FIN: u8 = 0x01;
const RST: u8 = 0x04;

/// A server device with one established subflow from `client` at outer
/// `a`: our ISN 1000 (SYN-ACK sent), the peer's 5000, and 100 bytes sent.
fn established(client: SocketAddr, server: SocketAddr, a: SocketAddr) -> UdpDevice {
    let mut dev = UdpDevice::bind(&[a_("127.0.0.1:0")]).unwrap();
    assert!(dev.accept(0, a, &seg_full(client, server, SYN, 5000, 0, 0)));
    assert_eq!(
        dev.route(&seg_full(server, client, SYN | ACK, 1000, 5001, 0)),
        Some((0, a))
    );
    assert!(dev.accept(0, a, &seg_full(client, server, ACK, 5001, 1001, 0)));
    assert_eq!(
        dev.route(&seg_full(server, client, ACK, 1001, 5001, 100)),
        Some((0, a))
    );
    dev
}

fn a_(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[tokio::test]
async fn a_rebinding_is_followed_after_the_peer_answers_the_challenge() {
    let (client, server) = (a("10.0.0.1:4000"), a("127.0.0.1:80"));
    let (old, new) = (a("192.0.2.1:5000"), a("192.0.2.1:6000"));
    let mut dev = established(client, server, old);
    // The NAT rebound: an ACK of what we sent, from a new port.
    let ack = seg_full(client, server, ACK, 5001, 1101, 0);
    assert!(
        dev.accept(0, new, &ack),
        "a plausible rebinding is delivered"
    );
    let sent = queued(&mut dev);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let (to, ch) = sent[0];
    assert_eq!(
        (to, ch.kind, ch.src, ch.dst),
        (new, Kind::Challenge, server, client)
    );
    // Until validated, at most 3x what the new endpoint sent (40 bytes):
    // a small segment goes, a full one is held.
    assert_eq!(
        dev.route(&seg_full(server, client, ACK, 1101, 5001, 0)),
        Some((0, new))
    );
    let big = seg_full(server, client, ACK, 1101, 5001, 1000);
    assert_eq!(dev.route(&big), None);
    // The old endpoint's stragglers still count; they do not move it back.
    assert!(dev.accept(0, old, &seg_full(client, server, ACK, 5001, 1101, 0)));
    // A response with the wrong nonce does nothing.
    let mut resp = Control {
        kind: Kind::Response,
        src: client,
        dst: server,
        ack: None,
        nonce: ch.nonce ^ 1,
    };
    let mut buf = [0u8; control::MAX_LEN];
    let n = resp.encode(&mut buf);
    assert!(!dev.accept(0, new, &buf[..n]));
    assert_eq!(dev.stats().snapshot().rebindings, 0);
    resp.nonce = ch.nonce;
    let n = resp.encode(&mut buf);
    assert!(
        !dev.accept(0, new, &buf[..n]),
        "control messages never reach the core"
    );
    let c = dev.stats().snapshot();
    assert_eq!(
        (c.rebinding_attempts, c.rebindings, c.amplification_held),
        (1, 1, 1)
    );
    // The held segment is released to the new endpoint, byte for byte.
    let out: Vec<_> = dev.nat.out.drain(..).collect();
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].to, &out[0].data), (new, &big));
    assert_eq!(dev.route(&big), Some((0, new)));
}

#[tokio::test]
async fn a_spoofed_rebinding_is_dropped_and_an_unanswered_one_reverts() {
    let (client, server) = (a("10.0.0.1:4000"), a("127.0.0.1:80"));
    let (old, evil) = (a("192.0.2.1:5000"), a("198.51.100.7:9"));
    let mut dev = established(client, server, old);
    // Acknowledging data we never sent, or with no ACK: not the peer.
    assert!(!dev.accept(0, evil, &seg_full(client, server, ACK, 5001, 900_000, 0)));
    assert!(!dev.accept(0, evil, &seg_full(client, server, 0, 5001, 1101, 0)));
    assert!(!dev.accept(0, evil, &seg_full(client, server, RST | ACK, 5001, 1101, 0)));
    assert_eq!(dev.stats().snapshot().outer_changed, 3);
    assert!(queued(&mut dev).is_empty());
    assert_eq!(
        dev.route(&seg_full(server, client, ACK, 1101, 5001, 0)),
        Some((0, old))
    );
    // A plausible one that never answers: challenged five times, then the
    // mapping goes back.
    assert!(dev.accept(0, evil, &seg_full(client, server, ACK, 5001, 1101, 0)));
    let t0 = Instant::now();
    for s in 1..=30 {
        dev.nat.tick(t0 + Duration::from_millis(500 * s));
    }
    let c = dev.stats().snapshot();
    assert_eq!(
        (c.path_challenges, c.validation_failures, c.rebindings),
        (5, 1, 0)
    );
    assert_eq!(
        dev.route(&seg_full(server, client, ACK, 1101, 5001, 0)),
        Some((0, old))
    );
}

#[tokio::test]
async fn idle_subflows_send_keepalives_that_carry_a_rebinding() {
    let (client, server) = (a("10.0.0.1:4000"), a("127.0.0.1:80"));
    let (old, new) = (a("192.0.2.1:5000"), a("192.0.2.1:6000"));
    let mut dev = established(client, server, old).keepalive(Some(Duration::from_secs(15)));
    let t0 = Instant::now();
    dev.nat.tick(t0);
    assert!(queued(&mut dev).is_empty(), "not idle yet");
    dev.nat.tick(t0 + Duration::from_secs(16));
    let ka = queued(&mut dev);
    assert_eq!(ka.len(), 1);
    let (to, k) = ka[0];
    assert_eq!(
        (to, k.kind, k.src, k.dst, k.ack),
        (old, Kind::Keepalive, server, client, Some(5001))
    );
    // One per interval, not per tick.
    dev.nat.tick(t0 + Duration::from_secs(20));
    assert!(queued(&mut dev).is_empty());
    // The peer's keepalive from a new NAT port, acknowledging what we sent
    // (the end of what it received): a rebinding.
    let mut buf = [0u8; control::MAX_LEN];
    let theirs = Control {
        kind: Kind::Keepalive,
        src: client,
        dst: server,
        ack: Some(1101),
        nonce: 0,
    };
    let n = theirs.encode(&mut buf);
    assert!(!dev.accept(0, new, &buf[..n]));
    let ch = queued(&mut dev);
    assert_eq!((ch[0].0, ch[0].1.kind), (new, Kind::Challenge));
    // Without a plausible ack it would not have been.
    let c = dev.stats().snapshot();
    assert_eq!(
        (
            c.keepalives_sent,
            c.keepalives_received,
            c.rebinding_attempts
        ),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn a_challenge_from_the_known_peer_is_answered_with_its_nonce() {
    let mut dev = UdpDevice::bind(&[a("127.0.0.1:0")])
        .unwrap()
        .default_port(7000);
    let (me, server) = (a("127.0.0.1:4000"), a("10.9.9.9:80"));
    let outer = a("10.9.9.9:7000");
    assert_eq!(
        dev.route(&seg_full(me, server, SYN, 1, 0, 0)),
        Some((0, outer))
    );
    let mut buf = [0u8; control::MAX_LEN];
    let ch = Control {
        kind: Kind::Challenge,
        src: server,
        dst: me,
        ack: None,
        nonce: 42,
    };
    let n = ch.encode(&mut buf);
    assert!(!dev.accept(0, outer, &buf[..n]));
    // From anyone else it is not answered (no reflection).
    assert!(!dev.accept(0, a("203.0.113.1:7000"), &buf[..n]));
    let sent = queued(&mut dev);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].0, sent[0].1.kind, sent[0].1.nonce),
        (outer, Kind::Response, 42)
    );
    assert_eq!((sent[0].1.src, sent[0].1.dst), (me, server));
    // A version 3 message or garbage after the magic: dropped, counted.
    buf[4] = 3;
    assert!(!dev.accept(0, outer, &buf[..n]));
    let c = dev.stats().snapshot();
    assert_eq!((c.path_responses, c.unknown_peer, c.control), (1, 1, 1));
}

#[tokio::test]
async fn closed_subflows_make_room_so_the_table_never_locks_up() {
    // Far more subflows over the device's life than the table holds.
    let mut dev = UdpDevice::bind(&[a("127.0.0.1:0")])
        .unwrap()
        .max_mappings(8);
    let server = a("127.0.0.1:80");
    let outer = a("192.0.2.1:5000");
    for port in 1..=1000u16 {
        let client = SocketAddr::new("10.0.0.1".parse().unwrap(), port);
        assert!(
            dev.accept(0, outer, &seg_full(client, server, SYN, 10, 0, 0)),
            "SYN {port}"
        );
        assert!(
            dev.route(&seg_full(server, client, SYN | ACK, 20, 11, 0))
                .is_some()
        );
        assert!(dev.accept(0, outer, &seg_full(client, server, ACK, 11, 21, 0)));
        if port % 2 == 0 {
            assert!(dev.accept(0, outer, &seg_full(client, server, FIN | ACK, 11, 21, 0)));
            assert!(
                dev.route(&seg_full(server, client, FIN | ACK, 21, 12, 0))
                    .is_some()
            );
        } else {
            assert!(dev.accept(0, outer, &seg_full(client, server, RST, 11, 0, 0)));
        }
    }
    let c = dev.stats().snapshot();
    assert_eq!(c.mapping_table_full, 0, "{c:?}");
    assert!(dev.nat.mappings.len() <= 8);
    // Live subflows are never evicted: with 8 open, the 9th SYN is refused.
    for port in 2001..=2009u16 {
        let client = SocketAddr::new("10.0.0.1".parse().unwrap(), port);
        dev.accept(0, outer, &seg_full(client, server, SYN, 10, 0, 0));
        dev.accept(0, outer, &seg_full(client, server, ACK, 11, 21, 0));
    }
    assert_eq!(dev.stats().snapshot().mapping_table_full, 1);
    // Silent peers expire.
    dev.nat
        .tick(Instant::now() + DEFAULT_IDLE_TIMEOUT + Duration::from_secs(1));
    assert_eq!(dev.nat.mappings.len(), 0);
    assert!(dev.stats().snapshot().mappings_expired >= 8);
}

#[tokio::test]
async fn a_socket_follows_the_address_and_its_interface() {
    let dev = UdpDevice::bind(&[a("127.0.0.1:0")]).unwrap();
    // Loopback addresses are on `lo`; where SO_BINDTODEVICE is refused
    // (a kernel before 5.7, unprivileged) the socket keeps the address.
    let devs = dev.local_devices();
    assert_eq!(devs.len(), 1);
    assert!(
        matches!(devs[0].1.as_deref(), Some("lo") | None),
        "{devs:?}"
    );
    let plain = UdpDevice::bind_without_device(&[a("127.0.0.1:0")]).unwrap();
    assert_eq!(plain.local_devices()[0].1, None);
}

#[tokio::test]
async fn a_second_move_before_validation_is_followed_to_the_newest_endpoint() {
    let (client, server) = (a("10.0.0.1:4000"), a("127.0.0.1:80"));
    let (old, first, second) = (
        a("192.0.2.1:5000"),
        a("192.0.2.1:6000"),
        a("192.0.2.1:7000"),
    );
    let mut dev = established(client, server, old);
    let ack = seg_full(client, server, ACK, 5001, 1101, 0);
    assert!(dev.accept(0, first, &ack));
    let big = seg_full(server, client, ACK, 1101, 5001, 1000);
    assert_eq!(dev.route(&big), None, "held");
    // The NAT flushed again: the newest endpoint is challenged.
    assert!(dev.accept(0, second, &ack));
    let sent = queued(&mut dev);
    assert_eq!(sent.len(), 2);
    let (to, ch) = sent[1];
    assert_eq!(to, second);
    // The first endpoint's answer (to the old nonce) no longer counts.
    let mut buf = [0u8; control::MAX_LEN];
    let old_resp = Control {
        kind: Kind::Response,
        src: client,
        dst: server,
        ack: None,
        nonce: sent[0].1.nonce,
    };
    let n = old_resp.encode(&mut buf);
    assert!(!dev.accept(0, first, &buf[..n]));
    assert_eq!(dev.stats().snapshot().rebindings, 0);
    let resp = Control {
        nonce: ch.nonce,
        ..old_resp
    };
    let n = resp.encode(&mut buf);
    assert!(!dev.accept(0, second, &buf[..n]));
    assert_eq!(dev.stats().snapshot().rebindings, 1);
    // What was held while the first move was pending goes to the newest.
    let out: Vec<_> = dev.nat.out.drain(..).collect();
    assert_eq!((out.len(), out[0].to, &out[0].data), (1, second, &big));
}

#[tokio::test]
async fn a_flood_of_control_messages_and_spoofed_moves_costs_bounded_memory() {
    let (client, server) = (a("10.0.0.1:4000"), a("127.0.0.1:80"));
    let mut dev = established(client, server, a("192.0.2.1:5000")).max_mappings(64);
    // max_mappings replaced the table: set the subflow up again.
    let old = a("192.0.2.1:5000");
    assert!(dev.accept(0, old, &seg_full(client, server, SYN, 5000, 0, 0)));
    dev.route(&seg_full(server, client, SYN | ACK, 1000, 5001, 0));
    assert!(dev.accept(0, old, &seg_full(client, server, ACK, 5001, 1001, 0)));
    let mut buf = [0u8; control::MAX_LEN];
    for i in 0..100_000u32 {
        let from = SocketAddr::new("198.51.100.1".parse().unwrap(), (i % 60_000) as u16 + 1);
        let stranger = SocketAddr::new("10.66.0.1".parse().unwrap(), (i % 60_000) as u16 + 1);
        let kind = [Kind::Keepalive, Kind::Challenge, Kind::Response][i as usize % 3];
        // For the real subflow and for strangers, with guessed acks.
        let c = Control {
            kind,
            src: if i % 2 == 0 { client } else { stranger },
            dst: server,
            ack: Some(i.wrapping_mul(2_654_435_761)),
            nonce: u64::from(i),
        };
        let n = c.encode(&mut buf);
        assert!(!dev.accept(0, from, &buf[..n]));
        let guess = seg_full(client, server, ACK, 5001, i.wrapping_mul(40_503), 0);
        dev.accept(0, from, &guess);
    }
    assert!(dev.nat.mappings.len() <= 64);
    assert!(dev.nat.mappings.probing.len() <= mapping::MAX_PROBES);
    assert!(dev.nat.out.len() <= 1024, "{}", dev.nat.out.len());
    // Nothing answered a stranger, and no move was validated.
    let c = dev.stats().snapshot();
    assert_eq!(c.path_responses, 0, "{c:?}");
    assert_eq!(c.rebindings, 0, "{c:?}");
    assert!(
        c.outer_changed + c.unknown_peer + c.control >= 100_000,
        "{c:?}"
    );
}
