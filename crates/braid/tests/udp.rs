//! Two Braid stacks over `UdpDevice` on loopback (docs/udp-encapsulation.md):
//! no root, no TUN, no kernel MPTCP. The client owns 127.0.0.1 and
//! 127.0.0.2 (a subflow from each), the server 127.0.0.3.

use braid::proto::endpoint::EndpointConfig;
use braid::{Listener, Stack, Stream, UdpDevice};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

const CLIENT_1: &str = "127.0.0.1";
const CLIENT_2: &str = "127.0.0.2";
const SERVER: &str = "127.0.0.3";
const PORT: u16 = 5001;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The server stack (its UDP socket on an ephemeral port) and a client
/// stack told where it is, opening a second subflow from `CLIENT_2`.
fn pair() -> (Stack, Stack, SocketAddr) {
    let server_dev = UdpDevice::bind(&[SocketAddr::new(ip(SERVER), 0)]).unwrap();
    let server_outer = server_dev.local_addrs()[0];
    let server = Stack::builder()
        .seed([2; 32])
        .build_udp(server_dev)
        .unwrap();
    let client_dev = UdpDevice::bind(&[
        SocketAddr::new(ip(CLIENT_1), 0),
        SocketAddr::new(ip(CLIENT_2), 0),
    ])
    .unwrap()
    .add_peer(ip(SERVER), server_outer);
    let mut config = EndpointConfig::default();
    config.conn.pm.local_addrs = vec![ip(CLIENT_2)];
    let client = Stack::builder()
        .seed([1; 32])
        .config(config)
        .build_udp(client_dev)
        .unwrap();
    assert_eq!(client.addresses(), [ip(CLIENT_1), ip(CLIENT_2)]);
    (client, server, server_outer)
}

/// Deterministic test data: a counter hashed in blocks.
fn pattern(len: usize, salt: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut block = 0u64;
    while out.len() < len {
        let digest = Sha256::new()
            .chain_update([salt])
            .chain_update(block.to_le_bytes())
            .finalize();
        out.extend_from_slice(&digest);
        block += 1;
    }
    out.truncate(len);
    out
}

/// Send `data` to the server and read back its echo; returns the echo and
/// the data-level bytes the client sent per subflow (`local -> remote`).
async fn echo_through(
    client: &Stack,
    server: &Stack,
    data: &[u8],
    before_bulk: impl AsyncFnOnce(&Stream),
) -> (Vec<u8>, BTreeMap<String, u64>) {
    let listener = Listener::bind(server, SocketAddr::new(ip(SERVER), PORT)).unwrap();
    let echo = tokio::spawn(async move {
        let (stream, peer) = listener.accept().await?;
        assert_eq!(peer.ip(), ip(CLIENT_1));
        let (mut r, mut w) = stream.into_split();
        tokio::io::copy(&mut r, &mut w).await?;
        w.shutdown().await?;
        Ok::<_, io::Error>(())
    });
    let stream = Stream::connect(client, SocketAddr::new(ip(SERVER), PORT))
        .await
        .unwrap();
    before_bulk(&stream).await;
    let stats = stream.stats_handle();
    let (mut r, mut w) = stream.into_split();
    let send = async {
        for chunk in data.chunks(256 << 10) {
            w.write_all(chunk).await?;
        }
        w.shutdown().await
    };
    let mut back = Vec::with_capacity(data.len());
    let (sent, got) = tokio::join!(send, r.read_to_end(&mut back));
    sent.unwrap();
    got.unwrap();
    echo.await.unwrap().unwrap();
    let subflows = stats
        .subflows()
        .unwrap()
        .expect("an MPTCP connection")
        .into_iter()
        .map(|s| (format!("{} -> {}", s.local, s.remote), s.data_sent))
        .collect();
    (back, subflows)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_mib_byte_exact_over_two_udp_subflows() {
    const LEN: usize = 64 << 20;
    let (client, server, _) = pair();
    let data = pattern(LEN, 7);
    let (back, subflows) = timeout(
        Duration::from_secs(120),
        echo_through(&client, &server, &data, async |_| {}),
    )
    .await
    .expect("transfer stalled");
    assert_eq!(back.len(), LEN);
    assert!(back == data, "echoed bytes differ");
    println!("client subflows (data-level bytes sent): {subflows:?}");
    assert!(subflows.len() >= 2, "one subflow only: {subflows:?}");
    for (name, sent) in &subflows {
        assert!(*sent >= 1 << 20, "subflow {name} carried {sent} bytes");
    }
    for (who, s) in [("client", &client), ("server", &server)] {
        let c = s.udp_stats().unwrap();
        println!("{who}: {c:?}");
        assert_eq!(c.rx_dropped(), 0, "{who} dropped datagrams: {c:?}");
        assert_eq!(c.no_route + c.no_socket, 0, "{who}: {c:?}");
    }
}

/// An inner IPv4 TCP segment with only its addresses, ports and flags set.
fn segment(src: SocketAddr, dst: SocketAddr, flags: u8) -> Vec<u8> {
    let mut p = vec![0u8; 40];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&40u16.to_be_bytes());
    p[8] = 64;
    p[9] = 6;
    let (IpAddr::V4(s), IpAddr::V4(d)) = (src.ip(), dst.ip()) else {
        unreachable!("IPv4 test addresses")
    };
    p[12..16].copy_from_slice(&s.octets());
    p[16..20].copy_from_slice(&d.octets());
    p[20..22].copy_from_slice(&src.port().to_be_bytes());
    p[22..24].copy_from_slice(&dst.port().to_be_bytes());
    p[32] = 5 << 4;
    p[33] = flags;
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_truncated_and_unknown_peers_are_dropped_and_counted() {
    const LEN: usize = 8 << 20;
    const ACK: u8 = 0x10;
    let (client, server, server_outer) = pair();
    let data = pattern(LEN, 9);
    let attacker = UdpSocket::bind((ip(CLIENT_1), 0)).unwrap();
    let attack = async |stream: &Stream| {
        let real = stream.local_addr().unwrap();
        let srv = SocketAddr::new(ip(SERVER), PORT);
        let valid = segment(real, srv, ACK);
        let bad: Vec<(&str, Vec<u8>)> = vec![
            ("not_ours", b"\x17\x03\x03 not an IP packet".to_vec()),
            ("not_ours", Vec::new()),
            ("control", b"\x00BRD\x01\x01".to_vec()),
            ("truncated", valid[..30].to_vec()),
            ("truncated", valid[..10].to_vec()),
            ("malformed", [valid.clone(), vec![0; 4]].concat()),
            ("malformed", vec![0x45; 2000]),
            // A stranger's 4-tuple, not a SYN.
            (
                "unknown_peer",
                segment("10.9.9.9:1234".parse().unwrap(), srv, ACK),
            ),
            // The connection's own inner 4-tuple from another outer
            // endpoint, acknowledging nothing we sent: a spoof.
            ("outer_changed", valid.clone()),
        ];
        for (_, d) in &bad {
            attacker.send_to(d, server_outer).unwrap();
        }
        // Wait (bounded) until the server saw them all.
        let want = bad.len() as u64;
        for _ in 0..500 {
            if server.udp_stats().unwrap().rx_dropped() >= want {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let c = server.udp_stats().unwrap();
        let count = |name| bad.iter().filter(|(n, _)| *n == name).count() as u64;
        assert_eq!(c.not_ours, count("not_ours"), "{c:?}");
        assert_eq!(c.control, count("control"), "{c:?}");
        assert_eq!(c.truncated, count("truncated"), "{c:?}");
        assert_eq!(c.malformed, count("malformed"), "{c:?}");
        assert_eq!(c.unknown_peer, count("unknown_peer"), "{c:?}");
        assert_eq!(c.outer_changed, count("outer_changed"), "{c:?}");
        assert_eq!(c.rx_dropped(), want, "{c:?}");
    };
    let before = server.counters();
    let (back, _) = timeout(
        Duration::from_secs(60),
        echo_through(&client, &server, &data, attack),
    )
    .await
    .expect("transfer stalled");
    let first_diff = back.iter().zip(&data).position(|(a, b)| a != b);
    assert!(
        back == data,
        "echoed bytes differ after the attack: {} of {} bytes back, first difference at {first_diff:?}",
        back.len(),
        data.len()
    );
    // None of it reached the core, and the transfer lost nothing to it:
    // the drop counters did not move after the attack.
    let after = server.counters();
    assert_eq!(after.malformed, before.malformed);
    assert_eq!(after.bad_checksum, before.bad_checksum);
    assert_eq!(server.udp_stats().unwrap().rx_dropped(), 9);
}

/// A userspace NAT on loopback between one client socket and the server:
/// the client sends to `inside`; the NAT forwards from its current outside
/// socket. After each of `rebind_after` bytes forwarded from the client it
/// opens a new outside socket (a new port) and closes the old one, as a NAT
/// whose mapping was flushed does.
struct Nat {
    inside: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    /// Rebind now (as after `rebind_after` bytes).
    rebind: std::sync::Arc<tokio::sync::Notify>,
    log: std::sync::Arc<std::sync::Mutex<Vec<Datagram>>>,
}

/// A datagram the NAT forwarded: (outer source, outer destination,
/// payload), as seen on its outside.
type Datagram = (SocketAddr, SocketAddr, Vec<u8>);

impl Nat {
    async fn start(server_outer: SocketAddr, rebind_after: &[u64]) -> Nat {
        let nat_ip = ip("127.0.0.4");
        let inside = tokio::net::UdpSocket::bind((nat_ip, 0)).await.unwrap();
        let inside_addr = inside.local_addr().unwrap();
        let mut marks = rebind_after.to_vec();
        marks.reverse();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = log.clone();
        let rebind = std::sync::Arc::new(tokio::sync::Notify::new());
        let rebind_now = rebind.clone();
        let task = tokio::spawn(async move {
            let mut outside = tokio::net::UdpSocket::bind((nat_ip, 0)).await.unwrap();
            let mut client: Option<SocketAddr> = None;
            let mut forwarded = 0u64;
            let (mut a, mut b) = (vec![0u8; 65536], vec![0u8; 65536]);
            loop {
                tokio::select! {
                    r = inside.recv_from(&mut a) => {
                        let Ok((n, from)) = r else { continue };
                        client = Some(from);
                        forwarded += n as u64;
                        if marks.last().is_some_and(|&m| forwarded >= m) {
                            marks.pop();
                            outside = tokio::net::UdpSocket::bind((nat_ip, 0)).await.unwrap();
                        }
                        if let Ok(me) = outside.local_addr() {
                            record.lock().unwrap().push((me, server_outer, a[..n].to_vec()));
                        }
                        let _ = outside.send_to(&a[..n], server_outer).await;
                    }
                    r = outside.recv_from(&mut b) => {
                        let Ok((n, from)) = r else { continue };
                        if let Some(c) = client {
                            if let Ok(me) = outside.local_addr() {
                                record.lock().unwrap().push((from, me, b[..n].to_vec()));
                            }
                            let _ = inside.send_to(&b[..n], c).await;
                        }
                    }
                    () = rebind_now.notified() => {
                        outside = tokio::net::UdpSocket::bind((nat_ip, 0)).await.unwrap();
                    }
                }
            }
        });
        Nat {
            inside: inside_addr,
            task,
            rebind,
            log,
        }
    }
}

/// Behind a NAT that changes its outside port mid-transfer: the server
/// validates the new endpoint (challenge, response) and the echo completes
/// byte-exact over the one subflow. The client, which cannot be reached
/// but through the NAT, opened the subflow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nat_rebinding_mid_transfer_is_followed() {
    const LEN: usize = 16 << 20;
    let server_dev = UdpDevice::bind(&[SocketAddr::new(ip(SERVER), 0)]).unwrap();
    let server_outer = server_dev.local_addrs()[0];
    let server = Stack::builder()
        .seed([2; 32])
        .build_udp(server_dev)
        .unwrap();
    let nat = Nat::start(server_outer, &[2 << 20, 8 << 20]).await;
    let client_dev = UdpDevice::bind(&[SocketAddr::new(ip(CLIENT_1), 0)])
        .unwrap()
        .add_peer(ip(SERVER), nat.inside);
    let client = Stack::builder()
        .seed([1; 32])
        .build_udp(client_dev)
        .unwrap();
    let data = pattern(LEN, 11);
    let (back, _) = timeout(
        Duration::from_secs(60),
        echo_through(&client, &server, &data, async |_| {}),
    )
    .await
    .expect("transfer stalled after the rebinding");
    nat.task.abort();
    assert!(back == data, "echoed bytes differ");
    let s = server.udp_stats().unwrap();
    let c = client.udp_stats().unwrap();
    println!("server: {s:?}\nclient: {c:?}");
    assert_eq!(s.rebindings, 2, "both rebindings validated: {s:?}");
    assert_eq!(s.validation_failures, 0, "{s:?}");
    assert!(c.path_responses >= s.rebindings, "{c:?}");
}

/// More subflows over the server's life than its mapping table holds:
/// closed ones make room, so new connections keep being accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_connections_than_the_mapping_table_holds() {
    let server_dev = UdpDevice::bind(&[SocketAddr::new(ip(SERVER), 0)])
        .unwrap()
        .max_mappings(4);
    let server_outer = server_dev.local_addrs()[0];
    let server = Stack::builder()
        .seed([2; 32])
        .build_udp(server_dev)
        .unwrap();
    let client_dev = UdpDevice::bind(&[SocketAddr::new(ip(CLIENT_1), 0)])
        .unwrap()
        .add_peer(ip(SERVER), server_outer);
    let client = Stack::builder()
        .seed([1; 32])
        .build_udp(client_dev)
        .unwrap();
    let listener = Listener::bind(&server, SocketAddr::new(ip(SERVER), PORT)).unwrap();
    let echo = tokio::spawn(async move {
        for _ in 0..12 {
            let (stream, _) = listener.accept().await?;
            let (mut r, mut w) = stream.into_split();
            tokio::io::copy(&mut r, &mut w).await?;
            w.shutdown().await?;
        }
        Ok::<_, io::Error>(())
    });
    for i in 0..12u8 {
        let data = pattern(4096, i);
        let stream = timeout(
            Duration::from_secs(10),
            Stream::connect(&client, SocketAddr::new(ip(SERVER), PORT)),
        )
        .await
        .unwrap_or_else(|_| panic!("connection {i} not accepted: {:?}", server.udp_stats()))
        .unwrap();
        let (mut r, mut w) = stream.into_split();
        w.write_all(&data).await.unwrap();
        w.shutdown().await.unwrap();
        let mut back = Vec::new();
        timeout(Duration::from_secs(10), r.read_to_end(&mut back))
            .await
            .expect("echo stalled")
            .unwrap();
        assert!(back == data, "connection {i}: echo differs");
    }
    timeout(Duration::from_secs(10), echo)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let s = server.udp_stats().unwrap();
    assert_eq!(s.mapping_table_full, 0, "{s:?}");
}

/// An address the stack gains at runtime gets a UDP socket, and a subflow
/// from it carries data; removing it closes the socket and the transfer
/// goes on over the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addresses_added_and_removed_at_runtime_open_and_close_sockets() {
    const LEN: usize = 24 << 20;
    let server_dev = UdpDevice::bind(&[SocketAddr::new(ip(SERVER), 0)]).unwrap();
    let server_outer = server_dev.local_addrs()[0];
    let server = Stack::builder()
        .seed([2; 32])
        .build_udp(server_dev)
        .unwrap();
    let client_dev = UdpDevice::bind(&[SocketAddr::new(ip(CLIENT_1), 0)])
        .unwrap()
        .add_peer(ip(SERVER), server_outer);
    let client = Stack::builder()
        .seed([1; 32])
        .build_udp(client_dev)
        .unwrap();
    let data = pattern(LEN, 13);
    let c2 = client.clone();
    let (back, subflows) = timeout(
        Duration::from_secs(60),
        echo_through(&client, &server, &data, async |stream| {
            c2.add_address(ip(CLIENT_2));
            let c3 = c2.clone();
            let stats = stream.stats_handle();
            tokio::spawn(async move {
                // Wait (bounded) until a subflow from the new address
                // carried 1 MiB, then take the address away mid-transfer.
                for _ in 0..2000 {
                    let carried: u64 = stats
                        .subflows()
                        .ok()
                        .flatten()
                        .unwrap_or_default()
                        .iter()
                        .filter(|s| s.local.ip() == ip(CLIENT_2))
                        .map(|s| s.data_sent)
                        .sum();
                    if carried >= 1 << 20 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                c3.remove_address(ip(CLIENT_2));
            });
        }),
    )
    .await
    .expect("transfer stalled");
    assert!(back == data, "echoed bytes differ");
    println!("client subflows: {subflows:?}");
    let from_new: u64 = subflows
        .iter()
        .filter(|(k, _)| k.starts_with(CLIENT_2))
        .map(|(_, v)| *v)
        .sum();
    assert!(from_new > 0, "no data from the added address: {subflows:?}");
    // The socket closes shortly after the address goes (bounded wait).
    for _ in 0..200 {
        if client.udp_stats().unwrap().sockets_closed > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let c = client.udp_stats().unwrap();
    assert_eq!(
        (c.sockets_opened, c.sockets_closed, c.socket_errors),
        (1, 1, 0),
        "{c:?}"
    );
    assert_eq!(client.addresses(), [ip(CLIENT_1)]);
}

/// A classic pcap file (linktype 228, raw IPv4) of `datagrams`, each with
/// an outer IPv4 and UDP header as they crossed the NAT's outside.
fn write_pcap(path: &std::path::Path, datagrams: &[Datagram]) {
    let mut f = Vec::new();
    f.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&65535u32.to_le_bytes());
    f.extend_from_slice(&228u32.to_le_bytes());
    for (i, (src, dst, payload)) in datagrams.iter().enumerate() {
        let (IpAddr::V4(s), IpAddr::V4(d)) = (src.ip(), dst.ip()) else {
            continue;
        };
        let total = 28 + payload.len();
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        ip[6] = 0x40;
        ip[8] = 64;
        ip[9] = 17;
        ip[12..16].copy_from_slice(&s.octets());
        ip[16..20].copy_from_slice(&d.octets());
        let mut sum: u32 = ip
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
        let mut udp = [0u8; 8];
        udp[0..2].copy_from_slice(&src.port().to_be_bytes());
        udp[2..4].copy_from_slice(&dst.port().to_be_bytes());
        udp[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        // UDP checksum 0: none (allowed over IPv4).
        f.extend_from_slice(&(i as u32 / 1000).to_le_bytes());
        f.extend_from_slice(&((i as u32 % 1000) * 1000).to_le_bytes());
        f.extend_from_slice(&(total as u32).to_le_bytes());
        f.extend_from_slice(&(total as u32).to_le_bytes());
        f.extend_from_slice(&ip);
        f.extend_from_slice(&udp);
        f.extend_from_slice(payload);
    }
    std::fs::write(path, f).unwrap();
}

/// The README's "decode as" command works: the datagrams of a transfer
/// (with a NAT rebinding, so control messages too) decode in tshark with
/// `-d udp.port==PORT,ip` as TCP with MPTCP options, every inner checksum
/// good, and nothing malformed but the control messages (first byte 0,
/// not an IP packet: Wireshark flags them as a bogus IP version).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capture_of_udp_mode_decodes_in_tshark_with_decode_as() {
    if std::process::Command::new("tshark")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "tshark missing under CI=true (./test.sh installs it)"
        );
        println!("SKIP no tshark");
        return;
    }
    let server_dev = UdpDevice::bind(&[SocketAddr::new(ip(SERVER), 0)]).unwrap();
    let server_outer = server_dev.local_addrs()[0];
    let server = Stack::builder()
        .seed([2; 32])
        .build_udp(server_dev)
        .unwrap();
    let nat = Nat::start(server_outer, &[256 << 10]).await;
    let client_dev = UdpDevice::bind(&[SocketAddr::new(ip(CLIENT_1), 0)])
        .unwrap()
        .add_peer(ip(SERVER), nat.inside);
    let client = Stack::builder()
        .seed([1; 32])
        .build_udp(client_dev)
        .unwrap();
    let data = pattern(1 << 20, 17);
    let (back, _) = timeout(
        Duration::from_secs(30),
        echo_through(&client, &server, &data, async |_| {}),
    )
    .await
    .expect("transfer stalled");
    assert!(back == data);
    tokio::time::sleep(Duration::from_millis(200)).await;
    nat.task.abort();
    let log = nat.log.lock().unwrap().clone();
    let controls = log.iter().filter(|(_, _, p)| p.first() == Some(&0)).count();
    let dir = std::env::temp_dir().join(format!("braid-udp-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("udp.pcap");
    write_pcap(&pcap, &log);
    let decode = format!("udp.port=={},ip", server_outer.port());
    let tshark = |filter: &str| -> usize {
        let out = std::process::Command::new("tshark")
            .arg("-r")
            .arg(&pcap)
            .args(["-d", &decode])
            .args([
                "-o",
                "tcp.check_checksum:TRUE",
                "-o",
                "ip.check_checksum:TRUE",
            ])
            // The payload is pseudo-random: decode it as data, so no
            // heuristic dissector calls it malformed.
            .args(["-d", "tcp.port==1-65535,data"])
            .args(["-Y", filter])
            .output()
            .expect("tshark runs");
        assert!(
            out.status.success(),
            "tshark failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    let data_packets = log.len() - controls;
    let tcp = tshark("tcp");
    let mptcp = tshark("tcp.options.mptcp.subtype");
    let good = tshark("tcp.checksum.status == 1 && ip.checksum.status == 1 && ip.version == 4");
    let bad = tshark("_ws.malformed || _ws.expert.severity >= \"error\"");
    println!(
        "tshark: {} datagrams, {controls} control, {tcp} TCP, {mptcp} with MPTCP options, {bad} flagged",
        log.len()
    );
    assert!(controls >= 2, "the rebinding's challenge and response");
    assert!(data_packets > 700, "captured {data_packets}");
    assert_eq!(tcp, data_packets, "every data datagram decodes as TCP");
    assert_eq!(mptcp, data_packets, "every segment carries an MPTCP option");
    assert_eq!(good, data_packets, "every inner checksum good");
    assert_eq!(bad, controls, "only the control messages are flagged");
    let _ = std::fs::remove_dir_all(&dir);
}

/// An idle connection whose NAT mapping changes, then a download: the
/// server's data goes to the old port and is lost, and the client, which
/// has nothing to send, would never tell it where it went. Its keepalive
/// (after 200 ms without receiving) reaches the server from the new port,
/// which validates it, and the download completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keepalive_carries_the_rebinding_of_an_idle_subflow() {
    const LEN: usize = 2 << 20;
    let server_dev = UdpDevice::bind(&[SocketAddr::new(ip(SERVER), 0)])
        .unwrap()
        .keepalive(Some(Duration::from_millis(200)));
    let server_outer = server_dev.local_addrs()[0];
    let server = Stack::builder()
        .seed([2; 32])
        .build_udp(server_dev)
        .unwrap();
    let nat = Nat::start(server_outer, &[]).await;
    let client_dev = UdpDevice::bind(&[SocketAddr::new(ip(CLIENT_1), 0)])
        .unwrap()
        .add_peer(ip(SERVER), nat.inside)
        .keepalive(Some(Duration::from_millis(200)));
    let client = Stack::builder()
        .seed([1; 32])
        .build_udp(client_dev)
        .unwrap();
    let listener = Listener::bind(&server, SocketAddr::new(ip(SERVER), PORT)).unwrap();
    let data = pattern(LEN, 19);
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let sent = data.clone();
    let srv = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await?;
        let mut hello = [0u8; 5];
        stream.read_exact(&mut hello).await?;
        // Idle until told, then the whole download.
        let _ = go_rx.await;
        stream.write_all(&sent).await?;
        stream.shutdown().await?;
        Ok::<_, io::Error>(())
    });
    let mut stream = Stream::connect(&client, SocketAddr::new(ip(SERVER), PORT))
        .await
        .unwrap();
    stream.write_all(b"hello").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    nat.rebind.notify_one();
    tokio::time::sleep(Duration::from_millis(50)).await;
    go_tx.send(()).unwrap();
    let mut back = Vec::with_capacity(LEN);
    timeout(Duration::from_secs(30), stream.read_to_end(&mut back))
        .await
        .expect("download stalled after the NAT rebound")
        .unwrap();
    srv.await.unwrap().unwrap();
    nat.task.abort();
    assert!(back == data, "downloaded bytes differ");
    let s = server.udp_stats().unwrap();
    let c = client.udp_stats().unwrap();
    println!("server: {s:?}\nclient: {c:?}");
    assert!(c.keepalives_sent >= 1, "{c:?}");
    assert!(s.rebindings >= 1, "{s:?}");
    assert!(s.keepalives_received >= 1, "{s:?}");
}
