//! Network namespaces for interop tests: a Braid side and a kernel side
//! joined by a veth, Braid owning its own address through a TUN device
//! (the recipe of DESIGN.md, "How Braid owns addresses next to a kernel").
//!
//! ```text
//!  ns "braid" (forwarding)                         ns "kernel"
//!  Braid --TUN bt*-- 10.201.1.1/24 vb* ======== vk* 10.201.1.2/24  Linux TCP
//!  owns 10.201.1.100 (route /32 -> TUN, proxy_arp on vb*, rule from .100)
//! ```
//! Names are unique per process and per lab; [`Lab`]'s `Drop` deletes both
//! namespaces (and with them the veth and the TUN), also when a test panics.

use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Braid's address.
pub const BRAID_IP: Ipv4Addr = Ipv4Addr::new(10, 201, 1, 100);
/// The kernel host's address.
pub const KERNEL_IP: Ipv4Addr = Ipv4Addr::new(10, 201, 1, 2);
/// The Braid namespace's own address on the veth (the "router").
const ROUTER_IP: &str = "10.201.1.1/24";
const KERNEL_CIDR: &str = "10.201.1.2/24";
const SUBNET: &str = "10.201.1.0/24";
const TABLE: &str = "101";

/// Why these tests cannot run here, if they cannot.
pub fn unavailable() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not root".into());
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Some("no /dev/net/tun".into());
    }
    match Command::new("ip").args(["netns", "list"]).output() {
        Ok(o) if o.status.success() => None,
        _ => Some("`ip netns` unavailable".into()),
    }
}

/// Two namespaces, a veth between them and the routing for a TUN.
#[derive(Debug)]
pub struct Lab {
    /// The namespace Braid's TUN lives in.
    pub braid_ns: String,
    /// The namespace of the kernel host.
    pub kernel_ns: String,
    /// The TUN device's name (created by the test in `braid_ns`).
    pub tun: String,
    veth_braid: String,
}

impl Lab {
    /// Create the namespaces and the veth; the TUN routes come with
    /// [`Lab::route_tun`] once the device exists.
    pub fn new() -> io::Result<Lab> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let tag = format!(
            "{:04x}{:02x}",
            std::process::id() & 0xffff,
            NEXT.fetch_add(1, Ordering::Relaxed) & 0xff
        );
        let lab = Lab {
            braid_ns: format!("braid-b-{tag}"),
            kernel_ns: format!("braid-k-{tag}"),
            tun: format!("bt{tag}"),
            veth_braid: format!("vb{tag}"),
        };
        let veth_kernel = format!("vk{tag}");
        // From here on `Drop` cleans up whatever was made.
        run("ip", &["netns", "add", &lab.braid_ns])?;
        run("ip", &["netns", "add", &lab.kernel_ns])?;
        run(
            "ip",
            &[
                "link",
                "add",
                &lab.veth_braid,
                "netns",
                &lab.braid_ns,
                "type",
                "veth",
                "peer",
                "name",
                &veth_kernel,
                "netns",
                &lab.kernel_ns,
            ],
        )?;
        let b = lab.braid_ns.as_str();
        let k = lab.kernel_ns.as_str();
        run("ip", &["-n", b, "link", "set", "lo", "up"])?;
        run("ip", &["-n", k, "link", "set", "lo", "up"])?;
        run(
            "ip",
            &["-n", b, "addr", "add", ROUTER_IP, "dev", &lab.veth_braid],
        )?;
        run(
            "ip",
            &["-n", k, "addr", "add", KERNEL_CIDR, "dev", &veth_kernel],
        )?;
        run("ip", &["-n", b, "link", "set", &lab.veth_braid, "up"])?;
        run("ip", &["-n", k, "link", "set", &veth_kernel, "up"])?;
        let v = &lab.veth_braid;
        lab.sysctl(&[
            "net.ipv4.ip_forward=1".into(),
            "net.ipv4.conf.all.rp_filter=0".into(),
            "net.ipv4.conf.default.rp_filter=0".into(),
            format!("net.ipv4.conf.{v}.rp_filter=0"),
            format!("net.ipv4.conf.{v}.proxy_arp=1"),
            // Answer proxy ARP at once (the default delays it up to 0.8 s).
            format!("net.ipv4.neigh.{v}.proxy_delay=0"),
        ])?;
        Ok(lab)
    }

    /// The Braid namespace's veth (`10.201.1.1/24`).
    #[allow(dead_code)]
    pub fn veth_braid(&self) -> &str {
        &self.veth_braid
    }

    fn sysctl(&self, settings: &[String]) -> io::Result<()> {
        let mut args = vec!["netns", "exec", &self.braid_ns, "sysctl", "-qw"];
        args.extend(settings.iter().map(String::as_str));
        run("ip", &args)
    }

    /// Route Braid's address to the TUN and its packets out by the veth.
    pub fn route_tun(&self) -> io::Result<()> {
        let b = self.braid_ns.as_str();
        let braid = format!("{BRAID_IP}/32");
        self.sysctl(&[format!("net.ipv4.conf.{}.rp_filter=0", self.tun)])?;
        run("ip", &["-n", b, "route", "add", &braid, "dev", &self.tun])?;
        run(
            "ip",
            &["-n", b, "rule", "add", "from", &braid, "table", TABLE],
        )?;
        run(
            "ip",
            &[
                "-n",
                b,
                "route",
                "add",
                SUBNET,
                "dev",
                &self.veth_braid,
                "table",
                TABLE,
            ],
        )
    }

    /// Run `f` on a thread inside namespace `ns` (sockets and devices it
    /// creates belong to that namespace) and return its result.
    pub fn in_netns<T: Send + 'static>(
        ns: &str,
        f: impl FnOnce() -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        let path = format!("/run/netns/{ns}");
        std::thread::spawn(move || {
            let file = File::open(&path)?;
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(io::Error::from)?;
            f()
        })
        .join()
        .map_err(|_| io::Error::other("netns thread panicked"))?
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in [&self.braid_ns, &self.kernel_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn run(cmd: &str, args: &[&str]) -> io::Result<()> {
    let out = Command::new(cmd).args(args).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "`{cmd} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}
