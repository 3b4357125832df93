//! `StackBuilder::interface`: a stack that owns a named interface's own
//! addresses, routes them to its TUN device itself and follows the
//! interface's addresses through rtnetlink (#12).
//!
//! In a namespace pair of `netns` (Braid's veth `10.201.1.1/24`, a kernel
//! host at `10.201.1.2`) with no routing typed for Braid:
//! - the stack owns `10.201.1.1` and a kernel TCP echo server gets every
//!   byte back intact over it;
//! - an address added to the veth at runtime is owned within a second and
//!   carries a connection made from it; once deleted from the veth it is
//!   given up;
//! - when the stack is gone, its rules and tables are gone and the kernel's
//!   `local` route of the address is back;
//! - over UDP (#15) the stack only follows the interface: it takes its
//!   IPv4 and global IPv6 addresses (not the link-local one), a UDP socket
//!   each, follows addresses added and deleted, and changes no rule and no
//!   route.
//!
//! The namespace test needs root, /dev/net/tun and `ip netns`; without them
//! it prints `SKIP <reason>` and passes, except under `CI=true`, where it
//! fails. The error tests need nothing.

#[allow(dead_code)]
mod netns;

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::{Duration, Instant};

use braid::{MemoryDevice, MptcpEvent, Stack, Stream, TunDevice, UdpDevice};
use netns::{KERNEL_IP, Lab};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The veth's own address: the stack owns it.
const OWN: Ipv4Addr = Ipv4Addr::new(10, 201, 1, 1);
/// An address added to the veth while the stack runs.
const ADDED: Ipv4Addr = Ipv4Addr::new(10, 201, 1, 50);
/// Longest wait for the stack to follow a change.
const FOLLOW_LIMIT: Duration = Duration::from_secs(2);

fn ip(ns: &str, args: &[&str]) -> String {
    let out = Command::new("ip")
        .args(["-n", ns])
        .args(args)
        .output()
        .expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls `cond` every 5 ms until it holds or `limit` passes; returns how
/// long it took.
async fn until(limit: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

/// A kernel TCP echo server in the kernel namespace: per connection, reads
/// a length (8 bytes, big endian), echoes that many bytes, then closes
/// first (so the Braid side closes passively and leaves no TIME-WAIT
/// behind to keep its driver running).
fn echo_server(lab: &Lab, port: u16) -> io::Result<()> {
    let l = Lab::in_netns(&lab.kernel_ns, move || {
        let l = std::net::TcpListener::bind((KERNEL_IP, port))?;
        l.set_nonblocking(true)?;
        Ok(l)
    })?;
    let l = tokio::net::TcpListener::from_std(l)?;
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let Ok(len) = r.read_u64().await else { return };
                let _ = tokio::io::copy(&mut r.take(len), &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    Ok(())
}

/// Sends `len` patterned bytes through the echo server and checks every
/// byte that comes back, up to the server's close.
async fn echo(s: Stream, len: usize) {
    let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
    let (mut r, mut w) = s.into_split();
    let send = async {
        w.write_u64(len as u64).await.expect("write");
        w.write_all(&data).await.expect("write");
        w
    };
    let mut back = Vec::with_capacity(len);
    let recv = r.read_to_end(&mut back);
    let (_w, n) = tokio::join!(send, recv);
    n.expect("read");
    assert_eq!(back.len(), len);
    assert!(back == data, "echoed bytes differ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stack_owns_and_follows_a_named_interface() -> io::Result<()> {
    if !braid_testkit::ready(netns::unavailable()) {
        return Ok(());
    }
    let lab = Lab::new()?;
    let b = lab.braid_ns.clone();
    let veth = lab.veth_braid().to_string();
    echo_server(&lab, 7)?;

    // Built inside the namespace: the interfaces are looked up, and the
    // routing set up, in the namespace of the thread that builds.
    let handle = tokio::runtime::Handle::current();
    let (tun, v) = (lab.tun.clone(), veth.clone());
    let stack = Lab::in_netns(&b, move || {
        let _rt = handle.enter();
        let dev = TunDevice::create(&tun, 1500)?;
        Stack::builder().interface(v).build(dev)
    })?;
    assert_eq!(stack.addresses(), vec![IpAddr::V4(OWN)]);
    let local = ip(&b, &["route", "show", "table", "local"]);
    assert!(!local.contains("local 10.201.1.1 "), "{local}");
    let rules = ip(&b, &["rule"]);
    assert_eq!(
        rules.lines().filter(|l| l.starts_with("90:")).count(),
        2,
        "{rules}"
    );

    let server = SocketAddr::new(KERNEL_IP.into(), 7);
    let s = Stream::connect(&stack, server).await?;
    assert_eq!(s.local_addr()?.ip(), IpAddr::V4(OWN));
    echo(s, 1 << 20).await;

    // An address that appears on the interface is owned and usable.
    ip(&b, &["addr", "add", "10.201.1.50/24", "dev", &veth]);
    let took = until(FOLLOW_LIMIT, || {
        stack.addresses().contains(&IpAddr::V4(ADDED))
    })
    .await;
    let took = took.unwrap_or_else(|| panic!("{ADDED} not owned: {:?}", stack.addresses()));
    println!("interfaces: an added address owned {took:?} after `ip addr add`");
    let s = Stream::connect_from(&stack, ADDED.into(), server, &Default::default()).await?;
    assert_eq!(s.local_addr()?.ip(), IpAddr::V4(ADDED));
    echo(s, 256 << 10).await;
    let local = ip(&b, &["route", "show", "table", "local"]);
    assert!(!local.contains("local 10.201.1.50 "), "{local}");

    // One that goes is given up.
    ip(&b, &["addr", "del", "10.201.1.50/24", "dev", &veth]);
    let gone = until(FOLLOW_LIMIT, || {
        !stack.addresses().contains(&IpAddr::V4(ADDED))
    })
    .await;
    assert!(gone.is_some(), "{ADDED} still owned");

    // The stack and its connections gone, so is the routing.
    drop(stack);
    let restored = until(Duration::from_secs(10), || {
        let local = ip(&b, &["route", "show", "table", "local"]);
        let rules = ip(&b, &["rule"]);
        local.contains("local 10.201.1.1 ") && !rules.lines().any(|l| l.starts_with("90:"))
    })
    .await;
    assert!(
        restored.is_some(),
        "routing not undone: {}{}",
        ip(&b, &["rule"]),
        ip(&b, &["route", "show", "table", "local"])
    );
    Ok(())
}

/// The veth's global IPv6 address (for the UDP stack).
const OWN_V6: &str = "2001:db8:201::1";

#[test]
fn a_udp_stack_follows_a_named_interface_without_routing() -> io::Result<()> {
    if !braid_testkit::ready(netns::unavailable()) {
        return Ok(());
    }
    let lab = Lab::new()?;
    let b = lab.braid_ns.clone();
    let veth = lab.veth_braid().to_string();
    ip(
        &b,
        &[
            "addr",
            "add",
            &format!("{OWN_V6}/64"),
            "dev",
            &veth,
            "nodad",
        ],
    );
    let before = routing(&b);
    let (ns, v) = (b.clone(), veth.clone());
    // The stack, its driver and its sockets all in the namespace: a
    // runtime of their own on a thread inside it.
    Lab::in_netns(&b, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async move {
            let v6: IpAddr = OWN_V6.parse().unwrap();
            let stack = Stack::builder()
                .interface(v.clone())
                .build_udp(UdpDevice::unbound(0))?;
            let mut addrs = stack.addresses();
            addrs.sort();
            // Not the veth's link-local address.
            assert_eq!(addrs, [IpAddr::V4(OWN), v6]);
            until(FOLLOW_LIMIT, || {
                stack.udp_stats().unwrap().sockets_opened == 2
            })
            .await
            .unwrap_or_else(|| panic!("{:?}", stack.udp_stats()));
            assert_eq!(routing(&ns), before, "a UDP stack changed the routing");

            ip(&ns, &["addr", "add", "10.201.1.50/24", "dev", &v]);
            let took = until(FOLLOW_LIMIT, || {
                stack.addresses().contains(&IpAddr::V4(ADDED))
                    && stack.udp_stats().unwrap().sockets_opened == 3
            })
            .await
            .unwrap_or_else(|| panic!("{:?} {:?}", stack.addresses(), stack.udp_stats()));
            println!(
                "interfaces: udp: an added address had its socket {took:?} after `ip addr add`"
            );

            ip(&ns, &["addr", "del", "10.201.1.50/24", "dev", &v]);
            ip(&ns, &["addr", "del", &format!("{OWN_V6}/64"), "dev", &v]);
            // Sockets close shortly after their address goes.
            let gone = until(Duration::from_secs(5), || {
                stack.addresses() == [IpAddr::V4(OWN)]
                    && stack.udp_stats().unwrap().sockets_closed == 2
            })
            .await;
            assert!(
                gone.is_some(),
                "{:?} {:?}",
                stack.addresses(),
                stack.udp_stats()
            );
            assert_eq!(stack.udp_stats().unwrap().socket_errors, 0);
            Ok::<_, io::Error>(())
        })
    })
}

/// The rules and routes of namespace `ns`, IPv4 and IPv6, every table.
fn routing(ns: &str) -> [String; 4] {
    [
        ip(ns, &["rule"]),
        ip(ns, &["-6", "rule"]),
        ip(ns, &["route", "show", "table", "all"]),
        ip(ns, &["-6", "route", "show", "table", "all"]),
    ]
}

#[tokio::test]
async fn interface_watching_needs_a_tun_device() {
    let (dev, _peer) = MemoryDevice::pair(1500);
    let err = Stack::builder()
        .interface("eth0")
        .build(dev)
        .expect_err("a memory device has no interface to route to");
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(
        err.to_string(),
        "interface watching needs a TUN or UDP device"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_interface_is_a_one_line_error() -> io::Result<()> {
    if !braid_testkit::ready(netns::unavailable()) {
        return Ok(());
    }
    let lab = Lab::new()?;
    let handle = tokio::runtime::Handle::current();
    let tun = lab.tun.clone();
    let err = Lab::in_netns(&lab.braid_ns, move || {
        let _rt = handle.enter();
        let dev = TunDevice::create(&tun, 1500)?;
        Stack::builder().interface("nosuch0").build(dev)
    })
    .expect_err("no such interface");
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert_eq!(err.to_string(), "interface nosuch0 not found");
    Ok(())
}

/// Waits (bounded) for the next path event matching `want`.
async fn event_where(
    events: &mut braid::PathEvents,
    limit: Duration,
    mut want: impl FnMut(&MptcpEvent) -> bool,
) -> Option<MptcpEvent> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(e)) if want(&e) => return Some(e),
            Ok(Some(_)) => continue,
            Ok(None) | Err(_) => return None,
        }
    }
}

/// A link going down reaches the connections in milliseconds: two
/// subflows (the veth's two addresses) to a kernel MPTCP server; `ip link
/// set down` on the veth closes one of them (the other is kept: a
/// connection keeps its last subflow), `up` re-creates it, and the data
/// written across all of it arrives intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_going_down_and_up_reaches_the_connections_at_once() -> io::Result<()> {
    if !braid_testkit::ready(netns::unavailable()) {
        return Ok(());
    }
    let lab = Lab::new()?;
    let (b, k) = (lab.braid_ns.clone(), lab.kernel_ns.clone());
    let veth = lab.veth_braid().to_string();
    let mptcp = Command::new("ip")
        .args(["netns", "exec", &k, "sysctl", "-qw", "net.mptcp.enabled=1"])
        .status()?;
    assert!(mptcp.success());
    ip(
        &k,
        &[
            "mptcp",
            "limits",
            "set",
            "subflow",
            "4",
            "add_addr_accepted",
            "4",
        ],
    );
    ip(&b, &["addr", "add", "10.201.1.50/24", "dev", &veth]);

    let listener = Lab::in_netns(&k, || {
        use socket2::{Domain, Protocol, Socket, Type};
        let s = Socket::new(
            Domain::IPV4,
            Type::STREAM,
            Some(Protocol::from(braid::sys::mptcp::IPPROTO_MPTCP)),
        )?;
        s.set_reuse_address(true)?;
        s.bind(&SocketAddr::new(KERNEL_IP.into(), 8).into())?;
        s.listen(16)?;
        s.set_nonblocking(true)?;
        Ok(std::net::TcpListener::from(s))
    })?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let sink = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await?;
        let mut got = Vec::new();
        s.read_to_end(&mut got).await?;
        io::Result::Ok(got)
    });

    let handle = tokio::runtime::Handle::current();
    let (tun, v) = (lab.tun.clone(), veth.clone());
    let stack = Lab::in_netns(&b, move || {
        let _rt = handle.enter();
        let dev = TunDevice::create(&tun, 1500)?;
        Stack::builder().interface(v).build(dev)
    })?;
    assert_eq!(stack.addresses(), vec![IpAddr::V4(OWN), IpAddr::V4(ADDED)]);
    let mut s = Stream::connect(&stack, SocketAddr::new(KERNEL_IP.into(), 8)).await?;
    let mut events = s.path_events();
    let data: Vec<u8> = (0..3u32 << 18).map(|i| (i % 253) as u8).collect();
    let third = data.len() / 3;
    s.write_all(&data[..third]).await?;
    let joined = event_where(&mut events, Duration::from_secs(5), |e| {
        matches!(e, MptcpEvent::SubflowEstablished { local, .. } if local.ip() == IpAddr::V4(ADDED))
    })
    .await;
    assert!(joined.is_some(), "no subflow from {ADDED}");

    let down = Instant::now();
    ip(&b, &["link", "set", "dev", &veth, "down"]);
    let closed = event_where(&mut events, Duration::from_secs(2), |e| {
        matches!(e, MptcpEvent::SubflowClosed { .. })
    })
    .await;
    let took = down.elapsed();
    assert!(
        closed.is_some(),
        "no subflow closed after the link went down"
    );
    println!("interfaces: link down to a subflow closed: {took:?} (the `ip` command included)");
    assert!(
        took < Duration::from_millis(200),
        "the link going down took {took:?} to reach the connection"
    );
    s.write_all(&data[third..2 * third]).await?;

    let up = Instant::now();
    ip(&b, &["link", "set", "dev", &veth, "up"]);
    let again = event_where(&mut events, Duration::from_secs(3), |e| {
        matches!(e, MptcpEvent::SubflowEstablished { .. })
    })
    .await;
    let took = up.elapsed();
    assert!(
        again.is_some(),
        "no subflow re-created after the link came up"
    );
    println!("interfaces: link up to a subflow re-established: {took:?}");
    s.write_all(&data[2 * third..]).await?;
    s.shutdown().await?;
    let got = tokio::time::timeout(Duration::from_secs(10), sink)
        .await
        .expect("the kernel side did not finish")
        .expect("sink task")?;
    assert_eq!(got.len(), data.len());
    assert!(got == data, "bytes differ");
    Ok(())
}
