//! The lab against kernel traffic: real namespaces, real pings and TCP.
//!
//! Needs root, `/dev/net/tun`, `ip` and `ping`. Without them each test
//! prints `SKIP <reason>` and passes, except under `CI=true`, where a skip
//! fails. The tests take a lock so their measurements do not compete for
//! the CPU (the lab itself supports parallel runs: names are unique).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use braid_lab::{Lab, LabGuard, Scenario, Side};
use braid_proto::time::Instant as SimInstant;

static SERIAL: Mutex<()> = Mutex::new(());

/// Why the lab cannot run here, if it cannot.
fn unavailable() -> Option<String> {
    if braid_lab::ensure_root().is_err() {
        return Some("not root".into());
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("no /dev/net/tun".into());
    }
    for tool in ["ip", "ping"] {
        let found = Command::new(tool).arg("-V").output().is_ok();
        if !found {
            return Some(format!(
                "`{tool}` not installed (apt-get install iproute2 iputils-ping)"
            ));
        }
    }
    None
}

fn scenario_file(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(name);
    Scenario::from_file(&path).unwrap()
}

fn inline(text: &str) -> Scenario {
    Scenario::parse(text, Path::new(".")).unwrap()
}

/// Pings `to` from the client `count` times every `interval` seconds
/// (from address `from` if given); returns the RTT in ms of each reply.
fn ping(lab: &LabGuard, from: Option<&str>, to: &str, count: u32, interval: &str) -> Vec<f64> {
    let mut cmd = lab.command(Side::Client, "ping");
    cmd.args(["-n", "-c", &count.to_string(), "-i", interval, "-W", "1"]);
    if let Some(from) = from {
        cmd.args(["-I", from]);
    }
    let out = cmd.arg(to).output().expect("run ping");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter_map(|l| l.split("time=").nth(1))
        .filter_map(|t| t.split_whitespace().next())
        .filter_map(|t| t.parse().ok())
        .collect()
}

/// (transmitted, received) from ping's summary line.
fn ping_summary(lab: &LabGuard, to: &str, count: u32, interval: &str) -> (u64, u64) {
    let out = lab
        .command(Side::Client, "ping")
        .args([
            "-n",
            "-q",
            "-c",
            &count.to_string(),
            "-i",
            interval,
            "-W",
            "1",
            to,
        ])
        .output()
        .expect("run ping");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or_else(|| panic!("no ping summary in {text:?}"));
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|s| s.parse().ok())
        .collect();
    (nums[0], nums[1])
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn assert_gone(lab_name: &str) {
    let left: Vec<String> = braid_lab::netns::list()
        .into_iter()
        .filter(|n| n.starts_with(lab_name))
        .collect();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
}

#[test]
fn rate_and_delay_20mbit_30ms() {
    if !braid_testkit::ready(unavailable()) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::up(&scenario_file("one-path-20mbit-30ms.toml")).unwrap();
    let server = lab.server_addr(1);

    // Ping: 2 x 30 ms plus two 84-byte serializations (34 us each).
    let rtts = ping(&lab, None, &server.to_string(), 30, "0.05");
    assert!(rtts.len() >= 29, "lost pings on a lossless path: {rtts:?}");
    let med = median(rtts.clone());
    eprintln!(
        "MEASURED ping RTT median {med:.2} ms over {} replies",
        rtts.len()
    );
    assert!(
        (57.0..=63.0).contains(&med),
        "median RTT {med} ms, want 60 +/- 3"
    );

    // Bulk TCP for 5 s: the server counts what arrives and when.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let addr = SocketAddr::from((server, 5001));
    let receiver = lab.spawn_in(Side::Server, move || {
        let listener = TcpListener::bind(addr).unwrap();
        ready_tx.send(()).unwrap();
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let mut samples = Vec::new(); // (time, total bytes)
        let mut total = 0u64;
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    total += n as u64;
                    samples.push((Instant::now(), total));
                }
            }
        }
        samples
    });
    ready_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let client_addr = lab.client_addr(1);
    let sender = lab.spawn_in(Side::Client, move || {
        let socket = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        assert_eq!(socket.local_addr().unwrap().ip(), client_addr);
        let mut s: TcpStream = socket;
        s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        let chunk = vec![0x5au8; 1 << 16];
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if s.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = s.shutdown(std::net::Shutdown::Write);
    });
    sender.join().unwrap().unwrap();
    let samples = receiver.join().unwrap().unwrap();
    let (t0, _) = samples[0];
    let (t_end, total) = *samples.last().unwrap();
    let overall = total as f64 * 8.0 / (t_end - t0).as_secs_f64() / 1e6;
    // Steady state: from 2 s after the first byte, past slow start and
    // the recovery from its overshoot (data held out of order behind a
    // retransmission becomes readable in one burst, which would inflate a
    // window starting during recovery).
    let (t1, b1) = *samples
        .iter()
        .find(|(t, _)| *t >= t0 + Duration::from_secs(2))
        .unwrap();
    let steady = (total - b1) as f64 * 8.0 / (t_end - t1).as_secs_f64() / 1e6;
    // The emulator's own count of IP bytes it delivered towards the
    // server, over 3 whole seconds of the timeline.
    std::thread::sleep(Duration::from_millis(250));
    let stats = lab.stats();
    let start_s = (t0 - lab.start_time()).as_secs() + 2;
    let wire = stats[0].up.throughput_bps(
        SimInstant::from_secs(start_s),
        SimInstant::from_secs(start_s + 3),
    ) / 1e6;
    eprintln!(
        "MEASURED TCP goodput {overall:.2} Mbit/s overall, {steady:.2} Mbit/s after 2 s; \
         emulator line rate {wire:.2} Mbit/s (s {start_s}..{}); queue drops {}; max queue {} B in {} packets",
        start_s + 3,
        stats[0].up.dropped_queue,
        stats[0].up.max_queue_bytes,
        stats[0].up.max_queue_packets
    );
    let late = stats[0].lateness;
    eprintln!(
        "MEASURED emulator timing: {} packets handed on {:.1} us late on average, \
         max {} us, {} over 1 ms",
        late.packets,
        late.mean_us(),
        late.max_us,
        late.over_1ms
    );
    assert!(
        late.mean_us() < 500.0,
        "late by {} us on average",
        late.mean_us()
    );
    assert!(
        (18.0..=20.0).contains(&steady),
        "TCP goodput {steady} Mbit/s, want 18-20"
    );
    assert!(
        (19.0..=20.2).contains(&wire),
        "line rate {wire} Mbit/s, want ~20"
    );

    let name = lab.name().to_owned();
    lab.down().unwrap();
    assert_gone(&name);
}

#[test]
fn one_percent_loss_one_direction() {
    if !braid_testkit::ready(unavailable()) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Loss on the request direction only: a lost ping is a lost request,
    // so the ping loss rate is the one-direction loss rate.
    let lab = Lab::up(&inline(
        "seed = 11\n[[path]]\ndelay_ms = 1\n[path.up]\nloss_pct = 1.0\n",
    ))
    .unwrap();
    let (sent, received) = ping_summary(&lab, &lab.server_addr(1).to_string(), 10_000, "0.0003");
    std::thread::sleep(Duration::from_millis(250));
    let stats = lab.stats();
    let lost = (sent - received) as f64 / sent as f64 * 100.0;
    let up = &stats[0].up;
    let counted = up.dropped_loss as f64 / up.offered_packets as f64 * 100.0;
    eprintln!(
        "MEASURED ping loss {lost:.3} % ({} of {sent}); emulator up: {} of {} dropped \
         ({counted:.3} %); down drops {}",
        sent - received,
        up.dropped_loss,
        up.offered_packets,
        stats[0].down.dropped()
    );
    assert_eq!(sent, 10_000);
    assert!(
        (0.7..=1.3).contains(&lost),
        "ping loss {lost} %, want 1 +/- 0.3"
    );
    assert!((0.7..=1.3).contains(&counted), "emulator loss {counted} %");
    assert_eq!(stats[0].down.dropped(), 0);
    let name = lab.name().to_owned();
    drop(lab);
    assert_gone(&name);
}

#[test]
fn blackout_passes_nothing() {
    if !braid_testkit::ready(unavailable()) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::up(&inline(
        "[[path]]\nrate_mbit = 20\ndelay_ms = 5\nblackouts = [[1.5, 4.0]]\n",
    ))
    .unwrap();
    let server = lab.server_addr(1).to_string();
    let before = ping(&lab, None, &server, 5, "0.05");
    assert_eq!(
        before.len(),
        5,
        "path up before the blackout: {before:?} at {:?}",
        lab.elapsed()
    );
    lab.sleep_until(Duration::from_millis(1700));
    // Sent within 1.7..2.8 s, replies awaited until about 3.8 s.
    assert!(lab.elapsed() < Duration::from_millis(1800), "test ran late");
    let during = ping(&lab, None, &server, 20, "0.05");
    lab.sleep_until(Duration::from_millis(4200));
    let after = ping(&lab, None, &server, 20, "0.05");
    let stats = lab.stats();
    eprintln!(
        "MEASURED blackout: before {}/5, during {}/20, after {}/20 answered; \
         emulator blackout drops up {} down {}",
        before.len(),
        during.len(),
        after.len(),
        stats[0].up.dropped_blackout,
        stats[0].down.dropped_blackout
    );
    assert!(during.is_empty(), "pings answered during the blackout");
    assert_eq!(after.len(), 20, "path back after the blackout");
    assert!(stats[0].up.dropped_blackout >= 20);
    let name = lab.name().to_owned();
    drop(lab);
    assert_gone(&name);
}

#[test]
fn each_client_address_takes_its_own_path() {
    if !braid_testkit::ready(unavailable()) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::up(&scenario_file("two-paths.toml")).unwrap();
    // Path 1: 10 ms each way; path 2: 40 ms (+ up to 2 ms jitter) each way.
    // Crossed pairs (client 2 -> server 1) still use the client's path.
    for (from, to, lo, hi) in [
        (1, 1, 19.0, 23.0),
        (2, 2, 79.0, 86.0),
        (2, 1, 79.0, 86.0),
        (1, 2, 19.0, 23.0),
    ] {
        let rtts = ping(
            &lab,
            Some(&lab.client_addr(from).to_string()),
            &lab.server_addr(to).to_string(),
            5,
            "0.05",
        );
        assert_eq!(rtts.len(), 5, "client {from} -> server {to}");
        let med = median(rtts);
        eprintln!("MEASURED client addr {from} -> server addr {to}: RTT median {med:.2} ms");
        assert!(
            (lo..=hi).contains(&med),
            "client {from} -> server {to}: {med} ms"
        );
    }
    // The emulator publishes its counters periodically: wait (bounded) for
    // the snapshot that includes the last pings.
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let mut stats = lab.stats();
    while !(stats[0].up.delivered_packets >= 10 && stats[1].up.delivered_packets >= 10)
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
        stats = lab.stats();
    }
    assert!(
        stats[0].up.delivered_packets >= 10 && stats[1].up.delivered_packets >= 10,
        "{stats:?}"
    );
    let name = lab.name().to_owned();
    drop(lab);
    assert_gone(&name);
}

#[test]
fn panic_inside_a_run_still_cleans_up() {
    if !braid_testkit::ready(unavailable()) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let scenario = inline("[[path]]\ndelay_ms = 1\n");
    let name = std::thread::spawn(move || {
        let lab = Lab::up(&scenario).unwrap();
        let name = lab.name().to_owned();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _lab = lab;
            panic!("deliberate");
        }));
        assert!(r.is_err());
        name
    })
    .join()
    .unwrap();
    assert_gone(&name);
}

/// The Internet checksum of `data`.
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 ICMP echo request from `src` to `dst`.
fn echo_request(src: std::net::Ipv4Addr, dst: std::net::Ipv4Addr, seq: u16) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0, 0x42, 0x42];
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(b"braid lab echo");
    let c = checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let total = (20 + icmp.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 1, 0x40, 0, 64, 1, 0, 0]);
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&icmp);
    ip
}

/// Reads IPv4 packets from `dev` for up to `wait`; returns the first one
/// `want` accepts.
fn read_until(
    dev: &tun_rs::SyncDevice,
    wait: Duration,
    want: impl Fn(&[u8]) -> bool,
) -> Option<Vec<u8>> {
    let end = Instant::now() + wait;
    let mut buf = vec![0u8; 2048];
    while Instant::now() < end {
        match dev.recv(&mut buf) {
            Ok(n) if want(&buf[..n]) => return Some(buf[..n].to_vec()),
            Ok(_) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
    None
}

#[test]
fn braid_addresses_route_through_a_tun() {
    if !braid_testkit::ready(unavailable()) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::up(&scenario_file("two-paths.toml")).unwrap();
    let open_tun = || {
        let dev = tun_rs::DeviceBuilder::new()
            .name("braid0")
            .mtu(1500)
            .enable(true)
            .build_sync()
            .unwrap();
        dev.set_nonblocking(true).unwrap();
        dev
    };

    // Client side: "Braid" sends an echo request from its own address on
    // path 2; the server kernel answers; the answer comes back into the TUN.
    let braid = lab.braid_addresses(Side::Client);
    assert_eq!(braid[1], std::net::Ipv4Addr::new(10, 0, 2, 100));
    let (src, dst) = (braid[1], lab.server_addr(1));
    let (tx, rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let client = lab.spawn_in(Side::Client, move || {
        let dev = open_tun();
        tx.send(()).unwrap();
        go_rx.recv().unwrap();
        let sent = Instant::now();
        dev.send(&echo_request(src, dst, 1)).unwrap();
        let reply = read_until(&dev, Duration::from_secs(3), |p| {
            p.len() >= 28 && p[9] == 1 && p[20] == 0 && p[12..16] == dst.octets()
        });
        (reply, sent.elapsed())
    });
    rx.recv_timeout(Duration::from_secs(5)).unwrap();
    lab.route_braid(Side::Client, "braid0").unwrap();
    go_tx.send(()).unwrap();
    let (reply, rtt) = client.join().unwrap().unwrap();
    let reply = reply.expect("no echo reply came back into the client TUN");
    assert_eq!(
        reply[16..20],
        src.octets(),
        "reply addressed to the Braid address"
    );
    eprintln!("MEASURED Braid address {src} -> kernel {dst}: echo RTT {rtt:?} (path 2, ~80 ms)");
    assert!(
        rtt >= Duration::from_millis(79),
        "took path 2's 2 x 40 ms: {rtt:?}"
    );
    // Proxy ARP with the kernel's default proxy_delay would add up to 0.8 s.
    assert!(
        rtt < Duration::from_millis(150),
        "first exchange slow: {rtt:?}"
    );

    // Server side: a kernel client pings a Braid server address; the echo
    // request arrives in the server's TUN (proxy ARP on the path veth).
    let target = lab.braid_addresses(Side::Server)[0];
    let (tx, rx) = std::sync::mpsc::channel();
    let server = lab.spawn_in(Side::Server, move || {
        let dev = open_tun();
        tx.send(()).unwrap();
        read_until(&dev, Duration::from_secs(4), |p| {
            p.len() >= 28 && p[9] == 1 && p[20] == 8 && p[16..20] == target.octets()
        })
    });
    rx.recv_timeout(Duration::from_secs(5)).unwrap();
    lab.route_braid(Side::Server, "braid0").unwrap();
    let _ = ping(&lab, None, &target.to_string(), 2, "0.2");
    let request = server.join().unwrap().unwrap();
    assert!(
        request.is_some(),
        "the kernel client's echo request never reached the server TUN"
    );
    let name = lab.name().to_owned();
    drop(lab);
    assert_gone(&name);
}

/// Runs `ip -n <side's namespace> args...`.
fn ip_in(lab: &LabGuard, side: Side, args: &[&str]) {
    let out = Command::new("ip")
        .args(["-n", &lab.namespace(side)])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn mptcp_socket() -> socket2::Socket {
    socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::STREAM,
        Some(socket2::Protocol::MPTCP),
    )
    .unwrap()
}

#[test]
fn kernel_mptcp_uses_both_paths() {
    if !braid_testkit::ready(unavailable()) {
        return;
    }
    if !Path::new("/proc/sys/net/mptcp/enabled").exists() {
        braid_testkit::skip("kernel without MPTCP");
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::up(&inline(
        "[[path]]\nrate_mbit = 10\ndelay_ms = 10\nqueue_packets = 100\n\
         [[path]]\nrate_mbit = 10\ndelay_ms = 20\nqueue_packets = 100\n",
    ))
    .unwrap();
    // The client opens a second subflow from its path-2 address.
    ip_in(
        &lab,
        Side::Client,
        &["mptcp", "limits", "set", "subflows", "2"],
    );
    ip_in(
        &lab,
        Side::Server,
        &["mptcp", "limits", "set", "subflows", "2"],
    );
    let path2 = lab.client_addr(2).to_string();
    ip_in(
        &lab,
        Side::Client,
        &[
            "mptcp", "endpoint", "add", &path2, "dev", "path2", "subflow",
        ],
    );

    let addr = SocketAddr::from((lab.server_addr(1), 5002));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let receiver = lab.spawn_in(Side::Server, move || {
        let socket = mptcp_socket();
        socket.set_reuse_address(true).unwrap();
        socket.bind(&addr.into()).unwrap();
        socket.listen(1).unwrap();
        ready_tx.send(()).unwrap();
        let (conn, _) = socket.accept().unwrap();
        let mut s: TcpStream = conn.into();
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0u64;
        while let Ok(n @ 1..) = s.read(&mut buf) {
            total += n as u64;
        }
        total
    });
    ready_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let sender = lab.spawn_in(Side::Client, move || {
        let socket = mptcp_socket();
        socket
            .connect_timeout(&addr.into(), Duration::from_secs(5))
            .unwrap();
        let mut s: TcpStream = socket.into();
        s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        let chunk = vec![0xa5u8; 1 << 16];
        let start = Instant::now();
        let mut sent = 0u64;
        while start.elapsed() < Duration::from_secs(4) {
            if s.write_all(&chunk).is_err() {
                break;
            }
            sent += chunk.len() as u64;
        }
        let _ = s.shutdown(std::net::Shutdown::Write);
        sent
    });
    let sent = sender.join().unwrap().unwrap();
    let received = receiver.join().unwrap().unwrap();
    std::thread::sleep(Duration::from_millis(250));
    let stats = lab.stats();
    let (p1, p2) = (stats[0].up.delivered_bytes, stats[1].up.delivered_bytes);
    eprintln!(
        "MEASURED kernel MPTCP: {received} of {sent} bytes; path 1 carried {p1} B up, path 2 {p2} B up"
    );
    assert_eq!(received, sent, "bytes lost");
    assert!(
        p1 > 1_000_000 && p2 > 1_000_000,
        "both paths carry data: {p1} / {p2}"
    );
    let name = lab.name().to_owned();
    drop(lab);
    assert_gone(&name);
}

#[test]
fn csv_trace_replays_in_real_time() {
    if !braid_testkit::ready(unavailable()) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // 10 Mbit/s for 3 s, then 2 Mbit/s (held).
    let dir = std::env::temp_dir().join(format!("braid-lab-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("step.csv"),
        "0,1250000\n1,1250000\n2,1250000\n3,250000\n",
    )
    .unwrap();
    let scenario = Scenario::parse(
        "[[path]]\ntrace = \"step.csv\"\ntrace_end = \"hold\"\ndelay_ms = 5\nqueue_packets = 60\n",
        &dir,
    )
    .unwrap();
    let lab = Lab::up(&scenario).unwrap();
    let addr = SocketAddr::from((lab.server_addr(1), 5003));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let receiver = lab.spawn_in(Side::Server, move || {
        let listener = TcpListener::bind(addr).unwrap();
        ready_tx.send(()).unwrap();
        let (mut s, _) = listener.accept().unwrap();
        // Read until 6 s; the rest of the sender's buffer is not needed.
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let end = Instant::now() + Duration::from_secs(6);
        while Instant::now() < end && !matches!(s.read(&mut buf), Ok(0)) {}
    });
    ready_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let sender = lab.spawn_in(Side::Client, move || {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(3))).unwrap();
        let chunk = vec![0u8; 1 << 14];
        let end = Instant::now() + Duration::from_millis(5500);
        while Instant::now() < end && s.write_all(&chunk).is_ok() {}
    });
    sender.join().unwrap().unwrap();
    receiver.join().unwrap().unwrap();
    let stats = lab.down().unwrap();
    let up = &stats[0].up;
    let rate = |a, b| up.throughput_bps(SimInstant::from_secs(a), SimInstant::from_secs(b)) / 1e6;
    let (fast, slow) = (rate(1, 3), rate(4, 5));
    eprintln!(
        "MEASURED CSV trace: {fast:.2} Mbit/s in s 1..3 (trace 10), {slow:.2} Mbit/s in s 4..5 (trace 2)"
    );
    assert!((9.5..=10.1).contains(&fast), "{fast}");
    assert!((1.9..=2.02).contains(&slow), "{slow}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn two_runs_coexist() {
    if !braid_testkit::ready(unavailable()) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let a = Lab::up(&inline("[[path]]\ndelay_ms = 5\n")).unwrap();
    let b = Lab::up(&inline("[[path]]\ndelay_ms = 20\n")).unwrap();
    assert_ne!(a.name(), b.name());
    // Same addresses, separate namespaces: each run sees its own delay.
    let ra = median(ping(&a, None, &a.server_addr(1).to_string(), 3, "0.05"));
    let rb = median(ping(&b, None, &b.server_addr(1).to_string(), 3, "0.05"));
    eprintln!("MEASURED two runs at once: RTT {ra:.2} ms and {rb:.2} ms");
    assert!(
        (9.5..=12.0).contains(&ra) && (39.5..=42.0).contains(&rb),
        "{ra} / {rb}"
    );
    let names = [a.name().to_owned(), b.name().to_owned()];
    drop((a, b));
    names.iter().for_each(|n| assert_gone(n));
}

/// Bulk TCP from the client's kernel address on each of `paths` to the
/// server's on the same path, all at once for `secs` seconds; returns each
/// flow's goodput at the receiver in Mbit/s, from 1.5 s after its first
/// byte (past slow start) to its last.
fn parallel_flows(lab: &LabGuard, paths: &[usize], secs: u64) -> Vec<f64> {
    let mut receivers = Vec::new();
    let mut senders = Vec::new();
    for (k, &p) in paths.iter().enumerate() {
        let addr = SocketAddr::from((lab.server_addr(p), 5001 + k as u16));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        receivers.push(lab.spawn_in(Side::Server, move || {
            let listener = TcpListener::bind(addr).unwrap();
            ready_tx.send(()).unwrap();
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
            let mut buf = vec![0u8; 1 << 16];
            let mut samples = Vec::new(); // (time, total bytes)
            let mut total = 0u64;
            while let Ok(n @ 1..) = s.read(&mut buf) {
                total += n as u64;
                samples.push((Instant::now(), total));
            }
            samples
        }));
        ready_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        let local = SocketAddr::from((lab.client_addr(p), 0));
        senders.push(lab.spawn_in(Side::Client, move || {
            let socket = socket2::Socket::new(
                socket2::Domain::IPV4,
                socket2::Type::STREAM,
                Some(socket2::Protocol::TCP),
            )
            .unwrap();
            socket.bind(&local.into()).unwrap();
            socket
                .connect_timeout(&addr.into(), Duration::from_secs(5))
                .unwrap();
            let mut s: TcpStream = socket.into();
            s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
            let chunk = vec![0x5au8; 1 << 16];
            let end = Instant::now() + Duration::from_secs(secs);
            while Instant::now() < end && s.write_all(&chunk).is_ok() {}
            let _ = s.shutdown(std::net::Shutdown::Write);
        }));
    }
    for s in senders {
        s.join().unwrap().unwrap();
    }
    receivers
        .into_iter()
        .map(|r| {
            let samples = r.join().unwrap().unwrap();
            let (t0, _) = samples[0];
            let (t_end, total) = *samples.last().unwrap();
            let (t1, b1) = *samples
                .iter()
                .find(|(t, _)| *t >= t0 + Duration::from_millis(1500))
                .unwrap();
            (total - b1) as f64 * 8.0 / (t_end - t1).as_secs_f64() / 1e6
        })
        .collect()
}

#[test]
fn shared_bottleneck_is_one_link() {
    if !braid_testkit::ready(unavailable()) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let paths = "[[path]]\nrate_mbit = 20\ndelay_ms = 2\nqueue_packets = 100\n\
                 [[path]]\nrate_mbit = 20\ndelay_ms = 2\nqueue_packets = 100\n";
    // Without the bottleneck each flow has its own 20 Mbit/s path.
    let lab = Lab::up(&inline(paths)).unwrap();
    let apart = parallel_flows(&lab, &[1, 2], 4);
    drop(lab);
    // With it both paths cross one 10 Mbit/s link and queue.
    let lab = Lab::up(&inline(&format!(
        "{paths}[[bottleneck]]\npaths = [1, 2]\nrate_mbit = 10\ndelay_ms = 3\nqueue_packets = 60\n"
    )))
    .unwrap();
    let rtt = median(ping(&lab, None, &lab.server_addr(2).to_string(), 5, "0.05"));
    let shared = parallel_flows(&lab, &[1, 2], 4);
    std::thread::sleep(Duration::from_millis(250));
    let (bottleneck, stats) = (lab.bottleneck_stats(), lab.stats());
    let name = lab.name().to_owned();
    lab.down().unwrap();
    assert_gone(&name);
    let (sum_apart, sum_shared) = (apart.iter().sum::<f64>(), shared.iter().sum::<f64>());
    eprintln!(
        "MEASURED two TCP flows on two 20 Mbit/s paths: {apart:.2?} Mbit/s apart, \
         {shared:.2?} through one 10 Mbit/s bottleneck (RTT {rtt:.2} ms); bottleneck up: \
         {} packets delivered, {} dropped at its queue, max queue {} packets",
        bottleneck[0].up.delivered_packets,
        bottleneck[0].up.dropped_queue,
        bottleneck[0].up.max_queue_packets
    );
    // Both one-way delays add up: 2 x (2 + 3) ms.
    assert!((9.5..=12.0).contains(&rtt), "RTT {rtt} ms, want ~10");
    assert!(
        sum_apart > 30.0,
        "apart the flows carried {sum_apart} Mbit/s"
    );
    assert!(
        (8.0..=10.2).contains(&sum_shared),
        "through one 10 Mbit/s link the flows carried {sum_shared} Mbit/s"
    );
    // Both flows crossed it: every packet either path passed on (the
    // traffic was over 250 ms ago) was offered to the one shared queue.
    assert!(shared.iter().all(|&g| g > 1.0), "{shared:?}");
    let passed_on: u64 = stats.iter().map(|p| p.up.delivered_packets).sum();
    assert_eq!(bottleneck[0].up.offered_packets, passed_on);
    assert!(
        stats.iter().all(|p| p.up.delivered_packets > 1000),
        "idle path"
    );
}
