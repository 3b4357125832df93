//! The kernel's own TCP over the lossy interop path (1 % loss each way,
//! 10 ms each way), as the reference Braid's sender is compared with: an
//! iperf3 run client -> server, `ss -ti` of the sending socket sampled
//! during the run, and the sender's `nstat` counters of loss recovery.
//!
//! A measurement, not a check: `#[ignore]`d; run it as root with
//! `cargo test --release -p braid-lab --test kernel_reference -- --ignored --nocapture`
//! (`KREF_SECS` sets the run length, default 20; `KREF_CC` the kernel's
//! congestion control, default cubic; `KREF_LOSS` the loss in percent each
//! way, default 1; `KREF_WINDOW` an iperf3 `-w` socket
//! buffer size such as `128K`, to make the receiver's window the limit).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use braid_lab::{Lab, Scenario, Side};

const LOSSY: &str = r#"
name = "kref-lossy"
seed = 8684
[[path]]
delay_ms = 10
loss_pct = LOSS
queue_packets = 1000
"#;

fn tool(name: &str) -> bool {
    Command::new(name)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

#[test]
#[ignore = "measurement; needs root and iperf3"]
fn kernel_to_kernel_lossy() {
    if braid_lab::ensure_root().is_err() || !tool("iperf3") || !tool("ss") {
        braid_testkit::skip("needs root, iperf3, ss");
        return;
    }
    let secs: u64 = std::env::var("KREF_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
        .clamp(1, 300);
    let cc = std::env::var("KREF_CC").unwrap_or_else(|_| "cubic".into());
    let loss: f64 = std::env::var("KREF_LOSS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let scenario = LOSSY.replace("LOSS", &format!("{loss:.2}"));
    let lab = Lab::up(&Scenario::parse(&scenario, Path::new(".")).unwrap()).unwrap();
    let server = lab.server_addr(1).to_string();
    let mut srv = lab
        .command(Side::Server, "iperf3")
        .args(["-s", "-1", "-p", "5410"])
        .stdout(Stdio::null())
        .spawn()
        .expect("iperf3 -s");
    std::thread::sleep(Duration::from_millis(500));
    let _ = lab.command(Side::Client, "nstat").arg("-n").status();
    let mut client = lab.command(Side::Client, "iperf3");
    client
        .args(["-c", &server, "-p", "5410", "-t", &secs.to_string()])
        .args(["-C", &cc, "-f", "M", "-i", "5"]);
    if let Ok(w) = std::env::var("KREF_WINDOW") {
        client.args(["-w", &w]);
    }
    let client = client.stdout(Stdio::piped()).spawn().expect("iperf3 -c");
    // `ss -ti` of the sender a few times during the run (bounded).
    for i in 0..secs.min(20) {
        std::thread::sleep(Duration::from_millis(secs * 1000 / secs.min(20)));
        if i % 2 == 1 {
            let out = lab
                .command(Side::Client, "ss")
                .args(["-tin", "dst", &server, "dport", "= :5410"])
                .output()
                .expect("ss");
            let text = String::from_utf8_lossy(&out.stdout);
            let info = text.lines().last().unwrap_or("").trim().to_owned();
            println!("SS t={}s {info}", i + 1);
        }
    }
    let out = client.wait_with_output().expect("iperf3 -c ran");
    println!("{}", String::from_utf8_lossy(&out.stdout));
    let _ = srv.wait();
    let nstat = lab
        .command(Side::Client, "nstat")
        .arg("-az")
        .output()
        .expect("nstat");
    for line in String::from_utf8_lossy(&nstat.stdout).lines() {
        let interesting = [
            "TcpRetransSegs",
            "TcpOutSegs",
            "TCPLossProbes",
            "TCPLossProbeRecovery",
            "TCPSackRecovery",
            "TCPSACKReorder",
            "TCPTSReorder",
            "TCPLossUndo",
            "TCPPartialUndo",
            "TCPDSACKUndo",
            "TCPSackRecoveryFail",
            "TCPTimeouts",
            "TCPSpuriousRTOs",
            "TCPDSACKRecv",
            "TCPDSACKOldSent",
            "TCPFullUndo",
            "TCPLostRetransmit",
            "TCPFastRetrans",
            "TCPSlowStartRetrans",
            "TCPDelivered",
        ];
        let name = line.split_whitespace().next().unwrap_or("");
        let name = name.strip_prefix("TcpExt").unwrap_or(name);
        if interesting.contains(&name) {
            println!("NSTAT {line}");
        }
    }
    let stats = lab.down().unwrap();
    println!(
        "emulator: up {} delivered {} lost; down {} delivered {} lost",
        stats[0].up.delivered_packets,
        stats[0].up.dropped_loss,
        stats[0].down.delivered_packets,
        stats[0].down.dropped_loss
    );
}
