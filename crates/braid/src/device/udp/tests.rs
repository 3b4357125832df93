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
    // The same inner 4-tuple from elsewhere: dropped (no rebinding in v1).
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
    assert!(dev.mappings.len() <= 8);
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
