//! Introspection of Linux kernel TCP and MPTCP sockets.
//!
//! - [`tcp_info`]: `getsockopt(IPPROTO_TCP, TCP_INFO)` on a plain TCP socket
//!   (or on an MPTCP socket that fell back to TCP).
//! - [`mptcp_full_info`]: `getsockopt(SOL_MPTCP, MPTCP_FULL_INFO)` (Linux 6.6
//!   and later) on an MPTCP socket: the connection-level `mptcp_info` plus,
//!   for every subflow, its address pair and its `tcp_info`, read under one
//!   socket lock so the two arrays describe the same subflows.
//!
//! The `#[repr(C)]` structures below mirror `include/uapi/linux/tcp.h` and
//! `include/uapi/linux/mptcp.h`. The kernel copies `min(user size, kernel
//! size)` bytes of each structure, so an older or newer kernel leaves the
//! fields it does not know at zero instead of overrunning our buffers.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, BorrowedFd};

/// `IPPROTO_MPTCP`: the protocol number that asks `socket(2)` for an MPTCP
/// socket.
pub const IPPROTO_MPTCP: i32 = 262;
/// `SOL_MPTCP`: the `getsockopt` level of MPTCP-specific options.
pub const SOL_MPTCP: libc::c_int = 284;
/// `MPTCP_FULL_INFO` option name at level `SOL_MPTCP`.
const MPTCP_FULL_INFO: libc::c_int = 4;
/// `MPTCP_INFO_FLAG_FALLBACK`: the connection fell back to plain TCP.
pub const MPTCP_INFO_FLAG_FALLBACK: u32 = 1 << 0;
/// Largest number of subflows [`mptcp_full_info`] asks the kernel for.
const MAX_SUBFLOWS: usize = 256;
/// Subflows asked for on the first try; grown once if the kernel has more.
const FIRST_TRY_SUBFLOWS: usize = 8;

/// `struct tcp_info` up to `tcpi_snd_wnd` (Linux 5.19 layout).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct TcpInfoRaw {
    state: u8,
    ca_state: u8,
    retransmits: u8,
    probes: u8,
    backoff: u8,
    options: u8,
    wscale: u8,
    app_limited_and_tfo: u8,
    rto: u32,
    ato: u32,
    snd_mss: u32,
    rcv_mss: u32,
    unacked: u32,
    sacked: u32,
    lost: u32,
    retrans: u32,
    fackets: u32,
    last_data_sent: u32,
    last_ack_sent: u32,
    last_data_recv: u32,
    last_ack_recv: u32,
    pmtu: u32,
    rcv_ssthresh: u32,
    rtt: u32,
    rttvar: u32,
    snd_ssthresh: u32,
    snd_cwnd: u32,
    advmss: u32,
    reordering: u32,
    rcv_rtt: u32,
    rcv_space: u32,
    total_retrans: u32,
    pacing_rate: u64,
    max_pacing_rate: u64,
    bytes_acked: u64,
    bytes_received: u64,
    segs_out: u32,
    segs_in: u32,
    notsent_bytes: u32,
    min_rtt: u32,
    data_segs_in: u32,
    data_segs_out: u32,
    delivery_rate: u64,
    busy_time: u64,
    rwnd_limited: u64,
    sndbuf_limited: u64,
    delivered: u32,
    delivered_ce: u32,
    bytes_sent: u64,
    bytes_retrans: u64,
    dsack_dups: u32,
    reord_seen: u32,
    rcv_ooopack: u32,
    snd_wnd: u32,
}

/// `struct mptcp_info` (Linux 6.10 layout).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct MptcpInfoRaw {
    subflows: u8,
    add_addr_signal: u8,
    add_addr_accepted: u8,
    subflows_max: u8,
    add_addr_signal_max: u8,
    add_addr_accepted_max: u8,
    flags: u32,
    token: u32,
    write_seq: u64,
    snd_una: u64,
    rcv_nxt: u64,
    local_addr_used: u8,
    local_addr_max: u8,
    csum_enabled: u8,
    retransmits: u32,
    bytes_retrans: u64,
    bytes_sent: u64,
    bytes_received: u64,
    bytes_acked: u64,
    subflows_total: u8,
    reserved: [u8; 3],
    last_data_sent: u32,
    last_data_recv: u32,
    last_ack_recv: u32,
}

/// `struct __kernel_sockaddr_storage`: 128 bytes, 8-byte aligned.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct SockaddrStorage([u8; 128]);

/// `struct mptcp_subflow_info`: a subflow id and its address pair.
#[repr(C)]
#[derive(Clone, Copy)]
struct SubflowInfoRaw {
    id: u32,
    local: SockaddrStorage,
    remote: SockaddrStorage,
}

impl Default for SubflowInfoRaw {
    fn default() -> Self {
        Self {
            id: 0,
            local: SockaddrStorage([0; 128]),
            remote: SockaddrStorage([0; 128]),
        }
    }
}

/// `struct mptcp_full_info`.
#[repr(C)]
#[derive(Debug, Default)]
struct FullInfoRaw {
    size_tcpinfo_kernel: u32,
    size_tcpinfo_user: u32,
    size_sfinfo_kernel: u32,
    size_sfinfo_user: u32,
    num_subflows: u32,
    size_arrays_user: u32,
    subflow_info: u64,
    tcp_info: u64,
    mptcp_info: MptcpInfoRaw,
}

/// What the kernel reports about one TCP connection or one MPTCP subflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubflowInfo {
    /// MPTCP subflow id (0 for a plain TCP socket).
    pub id: u32,
    /// Local address, when the kernel reported one.
    pub local: Option<SocketAddr>,
    /// Remote address, when the kernel reported one.
    pub remote: Option<SocketAddr>,
    /// `tcpi_bytes_acked`: bytes sent and acknowledged by the peer.
    pub bytes_acked: u64,
    /// `tcpi_bytes_received`: bytes received in order.
    pub bytes_received: u64,
    /// `tcpi_bytes_retrans`: bytes retransmitted.
    pub bytes_retrans: u64,
    /// `tcpi_rtt`: smoothed round-trip time in microseconds.
    pub rtt_us: u32,
    /// `tcpi_snd_cwnd`: congestion window in segments.
    pub snd_cwnd: u32,
    /// `tcpi_state`: the TCP state number (1 = ESTABLISHED).
    pub state: u8,
}

/// Connection-level MPTCP information and the subflows it has now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MptcpFullInfo {
    /// `mptcpi_flags` (see [`MPTCP_INFO_FLAG_FALLBACK`]).
    pub flags: u32,
    /// `mptcpi_token`: the local connection token.
    pub token: u32,
    /// The subflows the connection has at the time of the call, in the
    /// kernel's list order; closed subflows are gone from this list.
    pub subflows: Vec<SubflowInfo>,
}

impl MptcpFullInfo {
    /// True if the connection fell back to plain TCP.
    pub fn fallback(&self) -> bool {
        self.flags & MPTCP_INFO_FLAG_FALLBACK != 0
    }
}

/// Reads `TCP_INFO` of a TCP socket.
///
/// Addresses are left `None`; the caller knows them from the socket.
pub fn tcp_info(fd: BorrowedFd<'_>) -> io::Result<SubflowInfo> {
    let mut raw = TcpInfoRaw::default();
    let mut len = socklen_of::<TcpInfoRaw>();
    // SAFETY: `raw` is a plain-old-data `repr(C)` struct that lives for the
    // whole call; `len` holds its exact size, so the kernel writes at most
    // that many bytes into it. `fd` is a valid open descriptor for the
    // duration of the borrow.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut raw).cast::<libc::c_void>(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(subflow_from_raw(0, None, None, &raw))
}

/// Reads `MPTCP_FULL_INFO` of an MPTCP socket.
///
/// Fails with the kernel's error (for example `EOPNOTSUPP` on a kernel older
/// than 6.6, or on a socket that is not MPTCP).
pub fn mptcp_full_info(fd: BorrowedFd<'_>) -> io::Result<MptcpFullInfo> {
    let mut want = FIRST_TRY_SUBFLOWS;
    loop {
        let mut sf = vec![SubflowInfoRaw::default(); want];
        let mut tcp = vec![TcpInfoRaw::default(); want];
        let mut full = FullInfoRaw {
            size_tcpinfo_user: size_u32::<TcpInfoRaw>(),
            size_sfinfo_user: size_u32::<SubflowInfoRaw>(),
            // `want` is at most MAX_SUBFLOWS, far below u32::MAX.
            size_arrays_user: want as u32,
            subflow_info: sf.as_mut_ptr() as u64,
            tcp_info: tcp.as_mut_ptr() as u64,
            ..FullInfoRaw::default()
        };
        let mut len = socklen_of::<FullInfoRaw>();
        // SAFETY: `full` is a `repr(C)` struct of `len` bytes that lives for
        // the whole call. Its two pointers address live vectors of `want`
        // elements whose element sizes are exactly `size_sfinfo_user` and
        // `size_tcpinfo_user`; the kernel writes at most `size_arrays_user`
        // (= `want`) elements of at most those sizes into each, and nothing
        // else reads or moves the vectors until the call returns.
        let rc = unsafe {
            libc::getsockopt(
                fd.as_raw_fd(),
                SOL_MPTCP,
                MPTCP_FULL_INFO,
                (&raw mut full).cast::<libc::c_void>(),
                &mut len,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        let have = full.num_subflows as usize;
        if have > want && want < MAX_SUBFLOWS {
            want = have.min(MAX_SUBFLOWS);
            continue;
        }
        let filled = have.min(want);
        let subflows = sf[..filled]
            .iter()
            .zip(&tcp[..filled])
            .map(|(s, t)| {
                subflow_from_raw(s.id, parse_sockaddr(&s.local), parse_sockaddr(&s.remote), t)
            })
            .collect();
        return Ok(MptcpFullInfo {
            flags: full.mptcp_info.flags,
            token: full.mptcp_info.token,
            subflows,
        });
    }
}

fn subflow_from_raw(
    id: u32,
    local: Option<SocketAddr>,
    remote: Option<SocketAddr>,
    t: &TcpInfoRaw,
) -> SubflowInfo {
    SubflowInfo {
        id,
        local,
        remote,
        bytes_acked: t.bytes_acked,
        bytes_received: t.bytes_received,
        bytes_retrans: t.bytes_retrans,
        rtt_us: t.rtt,
        snd_cwnd: t.snd_cwnd,
        state: t.state,
    }
}

/// Decodes a `sockaddr_in` / `sockaddr_in6` held in a storage buffer.
fn parse_sockaddr(ss: &SockaddrStorage) -> Option<SocketAddr> {
    let b = &ss.0;
    let family = i32::from(u16::from_ne_bytes([b[0], b[1]]));
    let port = u16::from_be_bytes([b[2], b[3]]);
    if family == libc::AF_INET {
        let ip = Ipv4Addr::new(b[4], b[5], b[6], b[7]);
        Some(SocketAddr::V4(SocketAddrV4::new(ip, port)))
    } else if family == libc::AF_INET6 {
        let flowinfo = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&b[8..24]);
        let scope_id = u32::from_ne_bytes([b[24], b[25], b[26], b[27]]);
        let ip = Ipv6Addr::from(octets);
        Some(SocketAddr::V6(SocketAddrV6::new(
            ip, port, flowinfo, scope_id,
        )))
    } else {
        None
    }
}

fn size_u32<T>() -> u32 {
    // Every structure here is a few hundred bytes.
    std::mem::size_of::<T>() as u32
}

fn socklen_of<T>() -> libc::socklen_t {
    size_u32::<T>() as libc::socklen_t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_the_kernel_abi() {
        assert_eq!(std::mem::size_of::<TcpInfoRaw>(), 232);
        assert_eq!(std::mem::size_of::<MptcpInfoRaw>(), 96);
        assert_eq!(std::mem::size_of::<SubflowInfoRaw>(), 264);
        assert_eq!(std::mem::offset_of!(FullInfoRaw, mptcp_info), 40);
        assert_eq!(std::mem::offset_of!(TcpInfoRaw, bytes_acked), 120);
    }

    #[test]
    fn sockaddr_in_decodes() {
        let mut ss = SockaddrStorage([0; 128]);
        ss.0[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        ss.0[2..4].copy_from_slice(&5201u16.to_be_bytes());
        ss.0[4..8].copy_from_slice(&[127, 0, 0, 1]);
        assert_eq!(parse_sockaddr(&ss), Some("127.0.0.1:5201".parse().unwrap()));
        assert_eq!(parse_sockaddr(&SockaddrStorage([0; 128])), None);
    }
}
