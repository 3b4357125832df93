//! What the `braid perf` lab tests (`perf_braid`, `perf_udp`,
//! `links_lab`) share: the lab of a scenario, the JSON and stderr of a
//! run, a bounded wait for the server of a run, and the `braid` binary run
//! as `nobody`.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use braid_lab::{Lab, LabGuard, Scenario, Side};

/// The user `nobody`'s uid and gid.
const NOBODY: &str = "65534";

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

/// A `braid` binary copied where `nobody` may run it (the build
/// directory may not be reachable for other users); removed on drop.
pub struct NobodyBin {
    dir: PathBuf,
    path: PathBuf,
}

impl NobodyBin {
    /// A copy of `bin` for test `test`.
    pub fn new(test: &str, bin: &str) -> NobodyBin {
        let dir = std::env::temp_dir().join(format!("braid-udp-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let path = dir.join("braid");
        std::fs::copy(bin, &path).expect("copy braid");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        NobodyBin { dir, path }
    }

    /// `braid ARGS` as `nobody` inside `side`'s namespace.
    pub fn command(&self, lab: &LabGuard, side: Side) -> Command {
        let mut cmd = lab.command(side, "setpriv");
        cmd.args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            "--",
        ])
        .arg(&self.path);
        cmd
    }
}

impl Drop for NobodyBin {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
