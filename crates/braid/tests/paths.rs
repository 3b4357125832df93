//! Steering paths through `braid`'s public API (issue #12): an address
//! added and removed at runtime, a subflow marked backup (the peer sees
//! the MP_PRIO), a backup subflow opened on request, and every path event
//! received in order on both sides, while bytes flow intact; modes asked
//! per connection and changed at runtime. Two stacks over an in-memory
//! link (no root).

use braid::policy::ConnOptions;
use braid::proto::endpoint::EndpointConfig;
use braid::{Listener, MemoryDevice, Mode, MptcpEvent, PathEvents, Stack, Stream, SubflowId};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

const CLIENT: &str = "10.9.0.1";
const SECOND: &str = "10.9.0.3";
const SERVER: &str = "10.9.0.2:7100";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The next path event, within 10 s.
async fn next(events: &mut PathEvents) -> MptcpEvent {
    timeout(Duration::from_secs(10), events.next())
        .await
        .expect("a path event within 10 s")
        .expect("the connection is open")
}

/// A client stack owning `client` addresses (the path manager opens a
/// subflow from each after the first) and a server stack, over an in-memory link.
fn stacks(client: &[&str]) -> (Stack, Stack) {
    let (a, b) = MemoryDevice::pair(1500);
    let mut config = EndpointConfig::default();
    config.conn.pm.limits.subflows = 4;
    let mut client_config = config.clone();
    client_config.conn.pm.local_addrs = client[1..].iter().map(|c| ip(c)).collect();
    let mut builder = Stack::builder().config(client_config).seed([5; 32]);
    for c in client {
        builder = builder.address(ip(c));
    }
    let client = builder.build(a).unwrap();
    let server = Stack::builder()
        .address(SERVER.parse::<SocketAddr>().unwrap().ip())
        .config(config)
        .seed([6; 32])
        .build(b)
        .unwrap();
    (client, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addresses_backup_and_events_at_runtime() {
    let (client, server) = stacks(&[CLIENT]);
    let server_addr: SocketAddr = SERVER.parse().unwrap();
    let listener = Listener::bind(&server, server_addr).unwrap();
    let data: Vec<u8> = (0..(8usize << 20))
        .map(|i| (i * 13 + i / 509) as u8)
        .collect();

    let accept = tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        // Joins need the listener (as on Linux): keep it.
        (s, listener)
    });
    // Not an address of ours: a clear error, nothing opened.
    let err = Stream::connect_from(&client, ip(SECOND), server_addr, &Default::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrNotAvailable, "{err}");
    let mut c = Stream::connect_from(&client, ip(CLIENT), server_addr, &Default::default())
        .await
        .unwrap();
    assert_eq!(c.local_addr().unwrap().ip(), ip(CLIENT));
    let (mut s, _listener) = timeout(Duration::from_secs(10), accept)
        .await
        .unwrap()
        .unwrap();
    let (mut client_events, mut server_events) = (c.path_events(), s.path_events());
    // The server reads all along (the client's writes would block on a
    // full window otherwise).
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.map(|_| got)
    });
    c.write_all(&data[..1 << 20]).await.unwrap();

    // An address added at runtime: the full mesh opens a subflow from it.
    client.add_address(ip(SECOND));
    assert!(client.addresses().contains(&ip(SECOND)));
    let second = match next(&mut client_events).await {
        MptcpEvent::SubflowEstablished { id, local, remote } => {
            assert_eq!(local.ip(), ip(SECOND));
            assert_eq!(remote, server_addr);
            id
        }
        e => panic!("expected the new subflow first, got {e:?}"),
    };
    match next(&mut server_events).await {
        MptcpEvent::SubflowEstablished { remote, .. } => assert_eq!(remote.ip(), ip(SECOND)),
        e => panic!("server: expected the join, got {e:?}"),
    }

    // Marked backup: the server learns it from the MP_PRIO on the wire.
    c.set_backup(second, true).unwrap();
    match next(&mut server_events).await {
        MptcpEvent::PriorityChanged { backup, .. } => assert!(backup),
        e => panic!("server: expected MP_PRIO, got {e:?}"),
    }
    let view = c.mptcp().unwrap().unwrap();
    assert!(view.subflows.iter().any(|f| f.id == second && f.backup));

    // A backup subflow opened on request, from the first address.
    let asked: SubflowId = c
        .open_subflow(SocketAddr::new(ip(CLIENT), 0), server_addr, true)
        .unwrap();
    match next(&mut client_events).await {
        MptcpEvent::SubflowEstablished { id, local, .. } => {
            assert_eq!(id, asked);
            assert_eq!(local.ip(), ip(CLIENT));
        }
        e => panic!("expected the requested subflow, got {e:?}"),
    }
    let view = c.mptcp().unwrap().unwrap();
    assert!(view.subflows.iter().any(|f| f.id == asked && f.backup));
    c.write_all(&data[1 << 20..4 << 20]).await.unwrap();

    // The address removed: its subflow closes, the peer hears REMOVE_ADDR.
    client.remove_address(ip(SECOND));
    assert!(!client.addresses().contains(&ip(SECOND)));
    match next(&mut client_events).await {
        MptcpEvent::SubflowClosed { id, reason } => {
            assert_eq!(id, second);
            assert!(reason.local_reason.is_some(), "{reason:?}");
        }
        e => panic!("expected the removed address's subflow to close, got {e:?}"),
    }
    let mut server_saw = Vec::new();
    while !server_saw
        .iter()
        .any(|e| matches!(e, MptcpEvent::AddrRemoved { .. }))
    {
        server_saw.push(next(&mut server_events).await);
    }
    c.write_all(&data[4 << 20..]).await.unwrap();
    c.shutdown().await.unwrap();

    let got = timeout(Duration::from_secs(30), reader)
        .await
        .expect("the transfer ends")
        .unwrap()
        .unwrap();
    assert!(got == data, "{} bytes of {} arrived", got.len(), data.len());
    assert_eq!(client_events.lost(), 0);
    println!("server's path events after the removal: {server_saw:?}");
}

/// The next MP_PRIO the server hears (other events skipped): the backup
/// flag it carried.
async fn server_heard_prio(events: &mut PathEvents) -> bool {
    loop {
        if let MptcpEvent::PriorityChanged { backup, .. } = next(events).await {
            return backup;
        }
    }
}

/// Handover asked per connection: the subflow from the second address
/// joins as backup (flag B in its MP_JOIN, so the server treats it so).
/// Changed at runtime to aggregate, it becomes regular and the server hears
/// MP_PRIO; back to handover, backup again; interactive changes the
/// scheduler. Bytes arrive intact throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modes_per_connection_and_at_runtime() {
    let (client, server) = stacks(&[CLIENT, SECOND]);
    let server_addr: SocketAddr = SERVER.parse().unwrap();
    let listener = Listener::bind(&server, server_addr).unwrap();
    let accept = tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        (s, listener)
    });
    let options = ConnOptions {
        mode: Some(Mode::Handover),
        ..Default::default()
    };
    let mut c = Stream::connect_from(&client, ip(CLIENT), server_addr, &options)
        .await
        .unwrap();
    let (mut s, _listener) = timeout(Duration::from_secs(10), accept)
        .await
        .unwrap()
        .unwrap();
    let (mut client_events, mut server_events) = (c.path_events(), s.path_events());
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.map(|_| got)
    });
    let data: Vec<u8> = (0..(4usize << 20))
        .map(|i| (i * 7 + i / 251) as u8)
        .collect();
    c.write_all(&data[..1 << 20]).await.unwrap();
    let second = loop {
        if let MptcpEvent::SubflowEstablished { id, local, .. } = next(&mut client_events).await
            && local.ip() == ip(SECOND)
        {
            break id;
        }
    };
    let backup_of = |c: &Stream, id| {
        let view = c.mptcp().unwrap().unwrap();
        view.subflows.iter().find(|f| f.id == id).map(|f| f.backup)
    };
    assert_eq!(backup_of(&c, second), Some(true), "joined as backup");

    c.set_mode(Mode::Aggregate).unwrap();
    assert!(
        !server_heard_prio(&mut server_events).await,
        "MP_PRIO regular"
    );
    assert_eq!(backup_of(&c, second), Some(false));
    c.write_all(&data[1 << 20..2 << 20]).await.unwrap();

    c.set_mode(Mode::Handover).unwrap();
    assert!(
        server_heard_prio(&mut server_events).await,
        "MP_PRIO backup"
    );
    assert_eq!(backup_of(&c, second), Some(true));

    c.set_mode(Mode::Interactive).unwrap();
    assert!(
        !server_heard_prio(&mut server_events).await,
        "regular again"
    );
    c.write_all(&data[2 << 20..]).await.unwrap();
    c.shutdown().await.unwrap();
    let got = timeout(Duration::from_secs(30), reader)
        .await
        .expect("the transfer ends")
        .unwrap()
        .unwrap();
    assert!(got == data, "{} bytes of {} arrived", got.len(), data.len());
}

/// A server configured like Linux (`ip mptcp endpoint add 10.9.0.4 signal
/// backup`): it announces the address, the client joins it, the server
/// answers the join with flag B, and its downloads keep off that subflow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_backup_endpoint_is_announced_and_joined_as_backup() {
    const SIGNALLED: &str = "10.9.0.4";
    let (a, b) = MemoryDevice::pair(1500);
    let mut client_config = EndpointConfig::default();
    client_config.conn.pm.limits.subflows = 2;
    client_config.conn.pm.limits.add_addr_accepted = 1;
    let client = Stack::builder()
        .address(ip(CLIENT))
        .config(client_config)
        .seed([7; 32])
        .build(a)
        .unwrap();
    let mut server_config = EndpointConfig::default();
    server_config.conn.pm.limits.subflows = 2;
    server_config.conn.pm.endpoints = vec![format!("{SIGNALLED} signal backup").parse().unwrap()];
    let server_addr: SocketAddr = SERVER.parse().unwrap();
    let server = Stack::builder()
        .address(server_addr.ip())
        .address(ip(SIGNALLED))
        .config(server_config)
        .seed([8; 32])
        .build(b)
        .unwrap();
    let listener =
        Listener::bind(&server, SocketAddr::new("0.0.0.0".parse().unwrap(), 7100)).unwrap();
    let accept = tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        (s, listener)
    });
    let mut c = Stream::connect(&client, server_addr).await.unwrap();
    let (mut s, _listener) = timeout(Duration::from_secs(10), accept)
        .await
        .unwrap()
        .unwrap();
    let mut client_events = c.path_events();
    let mut announced = false;
    let joined = loop {
        match next(&mut client_events).await {
            MptcpEvent::AddrAnnounced { addr, .. } => {
                assert_eq!(addr, SocketAddr::new(ip(SIGNALLED), 7100));
                announced = true;
            }
            MptcpEvent::SubflowEstablished { id, remote, .. } if remote.ip() == ip(SIGNALLED) => {
                break id;
            }
            _ => {}
        }
    };
    assert!(announced, "the join followed the announcement");
    let view = c.mptcp().unwrap().unwrap();
    assert!(
        view.subflows.iter().any(|f| f.id == joined && f.backup),
        "the server's SYN/ACK carried B: {:?}",
        view.subflows
    );
    let data: Vec<u8> = (0..(2usize << 20))
        .map(|i| (i * 11 + i / 257) as u8)
        .collect();
    let writer = {
        let data = data.clone();
        tokio::spawn(async move {
            s.write_all(&data).await.unwrap();
            s.shutdown().await.unwrap();
            s
        })
    };
    let mut got = Vec::new();
    timeout(Duration::from_secs(30), c.read_to_end(&mut got))
        .await
        .expect("the download ends")
        .unwrap();
    assert!(got == data, "{} bytes of {} arrived", got.len(), data.len());
    let s = writer.await.unwrap();
    let sent = s.mptcp().unwrap().unwrap();
    let on_backup: u64 = sent
        .subflows
        .iter()
        .filter(|f| f.local.ip() == ip(SIGNALLED))
        .map(|f| f.data_sent)
        .sum();
    assert_eq!(
        on_backup, 0,
        "the server sent on its backup endpoint: {:?}",
        sent.subflows
    );
}
