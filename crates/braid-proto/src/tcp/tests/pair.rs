//! Two sockets in memory joined by a lossy, reordering link.

use super::*;

// ---- Two sockets in memory ----

/// Two sockets joined by a lossy, reordering link in virtual time.
struct Pair {
    a: TcpSocket,
    b: Option<TcpSocket>,
    b_config: Config,
    now: Instant,
    rng: rand_chacha::ChaCha8Rng,
    loss: f64,
    delay: Duration,
    jitter_us: u64,
    /// (delivery time, towards b, segment)
    wire: Vec<(Instant, bool, Segment)>,
    dropped: usize,
    /// When set, b reads at most this many bytes every 100 ms (a slow
    /// application), so its window closes.
    slow_reader: Option<usize>,
    next_read: Instant,
}

fn addr_a() -> SocketAddr {
    SocketAddr::new("10.0.0.1".parse().unwrap(), 40000)
}
fn addr_b() -> SocketAddr {
    SocketAddr::new("10.0.0.2".parse().unwrap(), 443)
}

impl Pair {
    fn new(seed: u64, config: Config, loss: f64) -> Pair {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let isn = IsnGenerator::from_rng(&mut rng);
        let a = TcpSocket::connect(
            Instant::ZERO,
            config.clone(),
            addr_a(),
            addr_b(),
            isn.isn(Instant::ZERO, addr_a(), addr_b()),
        );
        Pair {
            a,
            b: None,
            b_config: config,
            now: Instant::ZERO,
            rng,
            loss,
            delay: Duration::from_millis(10),
            jitter_us: 3000,
            wire: Vec::new(),
            dropped: 0,
            slow_reader: None,
            next_read: Instant::ZERO,
        }
    }

    fn put(&mut self, to_b: bool, seg: Segment) {
        if self.rng.random_bool(self.loss) {
            self.dropped += 1;
            return;
        }
        let jitter = Duration::from_micros(self.rng.random_range(0..=self.jitter_us));
        self.wire.push((self.now + self.delay + jitter, to_b, seg));
    }

    /// Move segments; returns whether anything happened at `now`.
    fn step(&mut self) -> bool {
        let mut busy = false;
        while let Some(seg) = self.a.poll_transmit(self.now) {
            self.put(true, seg);
            busy = true;
        }
        if let Some(b) = self.b.as_mut() {
            let mut out = Vec::new();
            while let Some(seg) = b.poll_transmit(self.now) {
                out.push(seg);
            }
            for seg in out {
                self.put(false, seg);
                busy = true;
            }
        }
        self.wire.sort_by_key(|w| w.0);
        while self.wire.first().is_some_and(|w| w.0 <= self.now) {
            let (_, to_b, seg) = self.wire.remove(0);
            busy = true;
            if to_b {
                match self.b.as_mut() {
                    Some(b) => b.handle_segment(self.now, &seg.repr()),
                    None => {
                        if let Ok(b) = TcpSocket::accept(
                            self.now,
                            self.b_config.clone(),
                            addr_b(),
                            addr_a(),
                            &seg.repr(),
                            SeqNum(0x8000_0000),
                        ) {
                            self.b = Some(b);
                        }
                    }
                }
            } else {
                self.a.handle_segment(self.now, &seg.repr());
            }
        }
        busy
    }

    /// Jump to the next wake-up.
    fn advance(&mut self) {
        let next = [
            self.wire.first().map(|w| w.0),
            self.a.poll_timeout(),
            self.b.as_ref().and_then(TcpSocket::poll_timeout),
        ]
        .into_iter()
        .flatten()
        .chain(self.slow_reader.map(|_| self.next_read))
        .filter(|&t| t > self.now || self.wire.first().is_some_and(|w| w.0 == t))
        .min();
        let Some(next) = next else {
            panic!(
                "deadlock at {:?}: a {:?} {:?} timers {:?}, b {:?} {:?} timers {:?}",
                self.now,
                self.a,
                self.a.stats(),
                self.a.timers,
                self.b,
                self.b.as_ref().map(TcpSocket::stats),
                self.b.as_ref().map(|b| b.timers)
            );
        };
        self.now = self.now.max(next);
        self.a.handle_timeout(self.now);
        if let Some(b) = self.b.as_mut() {
            b.handle_timeout(self.now);
        }
    }

    /// Send `source` from a to b, close, and return what b read.
    fn transfer(&mut self, source: &[u8]) -> Vec<u8> {
        let mut written = 0;
        let mut sink = Vec::with_capacity(source.len());
        let mut buf = vec![0u8; 64 * 1024];
        while self.now < Instant::from_secs(600) {
            if self.a.state().can_send() && written < source.len() {
                written += self.a.write(&source[written..]);
                if written == source.len() {
                    self.a.close();
                }
            }
            if let Some(b) = self.b.as_mut() {
                let budget = match self.slow_reader {
                    Some(_) if self.now < self.next_read => 0,
                    Some(chunk) => {
                        self.next_read = self.now + Duration::from_millis(100);
                        chunk
                    }
                    None => usize::MAX,
                };
                let mut left = budget;
                while left > 0 {
                    let want = left.min(buf.len());
                    let n = b.read(&mut buf[..want]);
                    if n == 0 {
                        break;
                    }
                    left -= n;
                    sink.extend_from_slice(&buf[..n]);
                }
                if b.is_read_closed() {
                    if b.state() == State::CloseWait {
                        b.close();
                    }
                    if b.state() == State::Closed && self.a.state() != State::FinWait1 {
                        break;
                    }
                }
            }
            if !self.step() {
                self.advance();
            }
        }
        sink
    }
}

fn pair_transfer(seed: u64, config: Config, loss: f64) {
    let mut p = Pair::new(seed, config, loss);
    let mut source = vec![0u8; 1 << 20];
    p.rng.fill_bytes(&mut source);
    let sink = p.transfer(&source);
    assert_eq!(sink.len(), source.len(), "seed {seed}: length");
    assert!(sink == source, "seed {seed}: bytes differ");
    let st = p.a.stats();
    assert!(loss == 0.0 || st.retransmitted_segments > 0);
    assert!(p.b.as_ref().is_some_and(|b| b.state() == State::Closed));
    println!("seed {seed}: {st:?} dropped={} t={:?}", p.dropped, p.now);
}

/// A slow reader closes the window; persist probes and window updates keep
/// the transfer going until every byte arrives.
#[test]
fn pair_slow_reader_zero_window() {
    let config = Config {
        recv_buffer: 16 * 1024,
        ..Config::default()
    };
    let mut p = Pair::new(11, config, 0.02);
    p.slow_reader = Some(8 * 1024);
    let mut source = vec![0u8; 256 * 1024];
    p.rng.fill_bytes(&mut source);
    let sink = p.transfer(&source);
    assert!(
        sink == source,
        "bytes differ ({} of {})",
        sink.len(),
        source.len()
    );
    // Paced by the reader: 8 KiB per 100 ms.
    assert!(p.now >= Instant::from_secs(3), "{:?}", p.now);
}

#[test]
fn pair_transfers_1mib_lossless() {
    pair_transfer(1, Config::default(), 0.0);
}

#[test]
fn pair_transfers_1mib_with_5_percent_loss() {
    for seed in 1..=3 {
        pair_transfer(seed, Config::default(), 0.05);
    }
}

#[test]
fn pair_transfers_1mib_with_loss_newreno_no_sack_no_timestamps() {
    let config = Config {
        sack: false,
        timestamps: false,
        window_scaling: false,
        congestion: CcAlgorithm::NewReno,
        ..Config::default()
    };
    pair_transfer(7, config, 0.05);
}

#[test]
#[ignore = "seed sweep, run by hand"]
fn pair_seed_sweep() {
    for seed in 100..140 {
        pair_transfer(seed, Config::default(), 0.10);
        let cfg = Config {
            sack: false,
            timestamps: false,
            congestion: CcAlgorithm::NewReno,
            ..Config::default()
        };
        pair_transfer(seed, cfg, 0.10);
    }
}
