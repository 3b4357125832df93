//! A Linux TUN device (through `tun-rs`): IP packets without a link-layer
//! header, one `read`/`write` per packet.
//!
//! No offloads yet (no `IFF_VNET_HDR`): the kernel segments and checksums
//! every packet before it reaches us. GSO/GRO through the virtio-net header
//! can come later behind the same [`Device`] trait.

use super::{Batch, Device};
use std::io;

/// A TUN device opened in the calling thread's network namespace.
///
/// The device is brought up but given no address: routes decide which
/// packets reach it (see the crate documentation for the recipe).
pub struct TunDevice {
    dev: tun_rs::AsyncDevice,
    name: String,
    mtu: usize,
}

impl std::fmt::Debug for TunDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunDevice")
            .field("name", &self.name)
            .field("mtu", &self.mtu)
            .finish_non_exhaustive()
    }
}

impl TunDevice {
    /// Create (or attach to) the TUN device `name` with `mtu`. Needs
    /// `CAP_NET_ADMIN` and a tokio runtime.
    pub fn create(name: &str, mtu: u16) -> io::Result<TunDevice> {
        let dev = tun_rs::DeviceBuilder::new()
            .name(name)
            .mtu(mtu)
            .enable(true)
            .build_async()?;
        let name = dev.name()?;
        Ok(TunDevice {
            dev,
            name,
            mtu: usize::from(mtu),
        })
    }

    /// The interface name the kernel gave the device.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Device for TunDevice {
    fn mtu(&self) -> usize {
        self.mtu
    }

    fn interface_name(&self) -> Option<&str> {
        Some(&self.name)
    }

    async fn recv(&mut self, batch: &mut Batch) -> io::Result<()> {
        let size = batch.packet_size().max(self.mtu);
        // Wait for readiness only: cancelling here loses nothing.
        loop {
            self.dev.readable().await?;
            let mut got = 0;
            while let Some(buf) = batch.next_buf() {
                buf.resize(size, 0);
                match self.dev.try_recv(buf) {
                    Ok(n) => {
                        buf.truncate(n);
                        batch.commit();
                        got += 1;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
            if got > 0 || batch.free() == 0 {
                return Ok(());
            }
        }
    }

    async fn send(&mut self, batch: &Batch) -> io::Result<()> {
        for packet in batch.iter() {
            match self.dev.send(packet).await {
                Ok(_) => {}
                // The kernel refused this packet (no route back, too big):
                // a link would drop it too.
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(code) if code == EINVAL || code == EMSGSIZE || code == ENOBUFS
                    ) =>
                {
                    tracing::debug!(error = %e, "tun dropped a packet");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

// errno values (Linux, all architectures).
const EINVAL: i32 = 22;
const EMSGSIZE: i32 = 90;
const ENOBUFS: i32 = 105;
