//! What the `braid perf` lab tests (`perf_braid`, `perf_udp`) share: the
//! lab of a scenario, the JSON and stderr of a run, and a bounded wait for
//! the server of a run.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Output};
use std::time::{Duration, Instant};

use braid_lab::{Lab, LabGuard, Scenario};

/// Longest a server may take to finish after its client did.
pub const SERVER_WAIT: Duration = Duration::from_secs(15);

/// The lab of scenario `text` (TOML).
pub fn lab_of(text: &str) -> LabGuard {
    let scenario = Scenario::parse(text, Path::new(".")).expect("scenario");
    Lab::up(&scenario).expect("lab up")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// Waits (bounded) for the server to finish; kills it if it does not
/// (and fails, showing `client`'s output).
pub fn server_output(mut child: Child, client: &Output) -> Output {
    let deadline = Instant::now() + SERVER_WAIT;
    while Instant::now() < deadline {
        if child.try_wait().expect("wait server").is_some() {
            return child.wait_with_output().expect("server output");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("server output");
    panic!(
        "server did not finish: {}\nclient ({}): {}{}",
        stderr(&out),
        client.status,
        String::from_utf8_lossy(&client.stdout),
        stderr(client)
    );
}
