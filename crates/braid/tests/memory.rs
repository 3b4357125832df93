//! Two Braid stacks over an in-memory link: the `Stream` / `Listener` API
//! end to end, no privileges needed.

use braid::{Listener, MemoryDevice, Stack, Stream};
use sha2::{Digest, Sha256};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

const CLIENT: &str = "10.7.0.1";
const SERVER: &str = "10.7.0.2";

fn pair() -> (Stack, Stack) {
    let (a, b) = MemoryDevice::pair(1500);
    let client = Stack::builder()
        .address(CLIENT.parse().unwrap())
        .seed([1; 32])
        .build(a)
        .unwrap();
    let server = Stack::builder()
        .address(SERVER.parse().unwrap())
        .seed([2; 32])
        .build(b)
        .unwrap();
    (client, server)
}

fn server_addr(port: u16) -> SocketAddr {
    SocketAddr::new(SERVER.parse().unwrap(), port)
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

/// Write `data` in uneven chunks, then shut down.
async fn send_all(w: &mut (impl AsyncWriteExt + Unpin), data: &[u8]) -> io::Result<()> {
    for chunk in data.chunks(50_000) {
        w.write_all(chunk).await?;
    }
    w.shutdown().await
}

async fn recv_all(r: &mut (impl AsyncReadExt + Unpin)) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    r.read_to_end(&mut out).await?;
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_mib_both_ways_byte_exact() {
    const LEN: usize = 8 << 20;
    let (client, server) = pair();
    let listener = Listener::bind(&server, server_addr(5001)).unwrap();
    let up = pattern(LEN, 1);
    let down = pattern(LEN, 2);

    let server_task = {
        let down = down.clone();
        tokio::spawn(async move {
            let (stream, peer) = listener.accept().await?;
            assert_eq!(peer.ip(), CLIENT.parse::<IpAddr>().unwrap());
            let (mut r, mut w) = stream.into_split();
            let (got, sent) = tokio::join!(recv_all(&mut r), send_all(&mut w, &down));
            sent?;
            got
        })
    };
    let work = async {
        let stream = Stream::connect(&client, server_addr(5001)).await?;
        assert_eq!(stream.peer_addr()?, server_addr(5001));
        assert_eq!(stream.local_addr()?.ip(), CLIENT.parse::<IpAddr>()?);
        let (mut r, mut w) = stream.into_split();
        let (got, sent) = tokio::join!(recv_all(&mut r), send_all(&mut w, &up));
        sent?;
        let got = got?;
        let server_got = server_task.await??;
        Ok::<_, Box<dyn std::error::Error>>((got, server_got))
    };
    let (client_got, server_got) = timeout(Duration::from_secs(60), work)
        .await
        .expect("transfer stalled")
        .unwrap();
    assert_eq!(client_got.len(), LEN);
    assert!(client_got == down, "server -> client bytes differ");
    assert_eq!(server_got.len(), LEN);
    assert!(server_got == up, "client -> server bytes differ");
}

#[tokio::test]
async fn connect_to_closed_port_is_refused() {
    let (client, _server) = pair();
    let err = timeout(
        Duration::from_secs(10),
        Stream::connect(&client, server_addr(9)),
    )
    .await
    .expect("no answer to SYN")
    .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
}

#[tokio::test]
async fn shutdown_delivers_eof_and_the_other_direction_stays_open() {
    let (client, server) = pair();
    let listener = Listener::bind(&server, server_addr(5002)).unwrap();
    let server_task = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        // Read to EOF (the client's FIN) ...
        let got = recv_all(&mut s).await.unwrap();
        // ... then answer on the still open direction.
        s.write_all(b"got it").await.unwrap();
        s.shutdown().await.unwrap();
        got
    });
    let mut s = Stream::connect(&client, server_addr(5002)).await.unwrap();
    s.write_all(b"ping").await.unwrap();
    s.shutdown().await.unwrap();
    // A write after shutdown is refused.
    let err = s.write_all(b"late").await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    let reply = timeout(Duration::from_secs(10), recv_all(&mut s))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply, b"got it");
    assert_eq!(server_task.await.unwrap(), b"ping");
    // EOF is sticky.
    let mut buf = [0u8; 8];
    assert_eq!(s.read(&mut buf).await.unwrap(), 0);
}

#[tokio::test]
async fn abort_resets_the_peer() {
    let (client, server) = pair();
    let listener = Listener::bind(&server, server_addr(5003)).unwrap();
    let s = Stream::connect(&client, server_addr(5003)).await.unwrap();
    let (mut accepted, _) = listener.accept().await.unwrap();
    s.abort();
    let mut buf = [0u8; 16];
    let err = timeout(Duration::from_secs(10), accepted.read(&mut buf))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
}

#[tokio::test]
async fn drop_closes_gracefully_after_queued_data() {
    let (client, server) = pair();
    let listener = Listener::bind(&server, server_addr(5004)).unwrap();
    let data = pattern(300_000, 3);
    {
        let mut s = Stream::connect(&client, server_addr(5004)).await.unwrap();
        // Larger than the send buffer takes at once: part of it is still
        // queued when the stream is dropped.
        let mut written = 0;
        while written < data.len() {
            written += s.write(&data[written..]).await.unwrap();
        }
    }
    let (mut accepted, _) = listener.accept().await.unwrap();
    let got = timeout(Duration::from_secs(20), recv_all(&mut accepted))
        .await
        .unwrap()
        .unwrap();
    assert!(got == data, "bytes differ after drop");
}

#[tokio::test]
async fn bind_twice_is_addr_in_use() {
    let (_client, server) = pair();
    let _l = Listener::bind(&server, server_addr(5005)).unwrap();
    let err = Listener::bind(&server, server_addr(5005)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
}

#[tokio::test]
async fn unanswered_syn_times_out() {
    // The far end of the link exists but nothing reads it: SYNs vanish.
    let (a, _silent) = MemoryDevice::pair(1500);
    let mut config = braid::proto::endpoint::EndpointConfig::default();
    config.tcp.rto_initial = Duration::from_millis(50);
    config.tcp.syn_retries = 2;
    let client = Stack::builder()
        .address(CLIENT.parse().unwrap())
        .config(config)
        .build(a)
        .unwrap();
    let err = timeout(
        Duration::from_secs(10),
        Stream::connect(&client, server_addr(80)),
    )
    .await
    .expect("connect did not give up")
    .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
}

#[tokio::test]
async fn no_source_address_of_the_family_is_addr_not_available() {
    let (client, _server) = pair();
    let err = Stream::connect(&client, "[2001:db8::1]:80".parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrNotAvailable);
}

#[tokio::test]
async fn many_concurrent_connections_each_byte_exact() {
    const CONNS: usize = 32;
    const LEN: usize = 64 * 1024;
    let (client, server) = pair();
    let listener = Listener::bind(&server, "0.0.0.0:5006".parse().unwrap()).unwrap();
    // Echo server: one task per connection.
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.into_split();
                tokio::io::copy(&mut r, &mut w).await.unwrap();
                w.shutdown().await.unwrap();
            });
        }
    });
    let mut tasks = Vec::new();
    for i in 0..CONNS {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let data = pattern(LEN, i as u8);
            let s = Stream::connect(&client, server_addr(5006)).await.unwrap();
            let (mut r, mut w) = s.into_split();
            let (got, sent) = tokio::join!(recv_all(&mut r), send_all(&mut w, &data));
            sent.unwrap();
            assert!(got.unwrap() == data, "connection {i}: bytes differ");
        }));
    }
    timeout(Duration::from_secs(30), async {
        for t in tasks {
            t.await.unwrap();
        }
    })
    .await
    .expect("echo stalled");
}

/// The pcap tap holds every packet the device sent and received, whole.
#[test]
fn pcap_tap_records_every_packet() {
    use pcap_file::pcapng::{Block, PcapNgReader};
    use std::sync::atomic::Ordering;

    let dir = std::env::temp_dir().join(format!("braid-tap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tap.pcapng");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (a, b) = MemoryDevice::pair(1500);
    let a_stats = a.stats();
    rt.block_on(async {
        let client = Stack::builder()
            .address(CLIENT.parse().unwrap())
            .pcap(&path)
            .build(a)
            .unwrap();
        let server = Stack::builder()
            .address(SERVER.parse().unwrap())
            .build(b)
            .unwrap();
        let listener = Listener::bind(&server, server_addr(5007)).unwrap();
        let mut s = Stream::connect(&client, server_addr(5007)).await.unwrap();
        let (mut accepted, _) = listener.accept().await.unwrap();
        send_all(&mut s, &pattern(200_000, 7)).await.unwrap();
        assert_eq!(recv_all(&mut accepted).await.unwrap().len(), 200_000);
    });
    // Dropping the runtime stops the driver, whose tap finishes the file.
    drop(rt);
    // The tap sees a packet before the device drops it, if it does.
    let expected = a_stats.sent.load(Ordering::Relaxed)
        + a_stats.dropped.load(Ordering::Relaxed)
        + a_stats.received.load(Ordering::Relaxed);
    let bytes = std::fs::read(&path).unwrap();
    let mut reader = PcapNgReader::new(&bytes[..]).unwrap();
    let mut packets = 0u64;
    while let Some(block) = reader.next_block() {
        if let Block::EnhancedPacket(epb) = block.unwrap() {
            assert_eq!(epb.data.len() as u32, epb.original_len);
            assert_eq!(epb.data[0] >> 4, 4, "an IPv4 packet");
            packets += 1;
        }
    }
    assert!(expected > 150, "too few packets: {expected}");
    assert_eq!(packets, expected);
    let _ = std::fs::remove_dir_all(&dir);
}
