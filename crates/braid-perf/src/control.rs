//! The control protocol: what the client tells the server at the start of a
//! connection, and what the receiving side reports at its end.
//!
//! Everything runs on the one measured connection; there is no second
//! control connection, so the figures describe exactly the stream under test.
//!
//! ```text
//! client -> server  Header, 40 bytes, big-endian integers
//!   0..4   magic     "BRPF"
//!   4      version   1
//!   5      mode      0 = bulk, 1 = request/response
//!   6      direction 0 = upload (client sends), 1 = download (server sends)
//!   7      limit     0 = a fixed number of bytes, 1 = a fixed duration
//!   8..16  amount    bytes, or milliseconds
//!   16..20 rr_size   bytes per request and per response (rr mode)
//!   20..28 seed      seed of the pseudo-random payload
//!   28..40 reserved  zero
//! server -> client  Ack, 8 bytes
//!   0..4   magic     "BRPF"
//!   4      version   1
//!   5      status    0 = accepted, 1 = unsupported version, 2 = bad header
//!   6..8   reserved  zero
//! ```
//!
//! Then the data phase. Bulk: the sender writes the payload and half-closes
//! (`shutdown(SHUT_WR)`, a DATA_FIN on MPTCP). Request/response: the client
//! writes `rr_size` request bytes, the server answers `rr_size` bytes, and so
//! on; the client half-closes after the last response.
//!
//! After it has read the end of the stream, the receiving side (the server in
//! upload and rr, the client in download) writes a [`Report`] as a 4-byte
//! big-endian length followed by that many bytes of JSON, then closes. The
//! client thus learns what the receiving application saw, whichever way the
//! data flowed.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// One subflow in a [`Report`]; part of the control protocol, so that this
/// module needs nothing from `report` (which builds them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubflowReport {
    /// Subflow id (MPTCP), 0 for plain TCP.
    pub id: u32,
    /// Local address.
    pub local: Option<SocketAddr>,
    /// Remote address.
    pub remote: Option<SocketAddr>,
    /// Payload-direction bytes of the subflow seen from this end (see
    /// [`Role`](crate::report::Role)).
    pub bytes: u64,
    /// `tcpi_bytes_acked`.
    pub bytes_acked: u64,
    /// `tcpi_bytes_received`.
    pub bytes_received: u64,
    /// `tcpi_bytes_retrans`.
    pub bytes_retrans: u64,
    /// Smoothed RTT at the last sample, microseconds.
    pub rtt_us: u32,
}

/// The four bytes that open a header and an ack.
pub const MAGIC: [u8; 4] = *b"BRPF";
/// The protocol version this build speaks.
pub const VERSION: u8 = 1;
/// Length of an encoded [`Header`].
pub const HEADER_LEN: usize = 40;
/// Length of an encoded ack.
pub const ACK_LEN: usize = 8;
/// Largest report accepted from a peer.
pub const MAX_REPORT_LEN: u32 = 1 << 20;

/// Status byte of an ack: the server will run the test.
pub const STATUS_OK: u8 = 0;
/// Status byte of an ack: the server does not speak the client's version.
pub const STATUS_BAD_VERSION: u8 = 1;
/// Status byte of an ack: the header is malformed.
pub const STATUS_BAD_HEADER: u8 = 2;

/// What kind of workload runs over the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One-way transfer of a fixed amount or for a fixed time.
    Bulk,
    /// Small requests, each answered by a response of the same size.
    Rr,
}

/// Which way the bulk data flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// The client sends, the server receives.
    Upload,
    /// The server sends, the client receives.
    Download,
}

/// When the workload ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// After this many payload bytes (bulk) or request bytes (rr).
    Bytes(u64),
    /// After this much time.
    Time(Duration),
}

/// The test the client asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Bulk or request/response.
    pub mode: Mode,
    /// Who sends the bulk data.
    pub direction: Direction,
    /// When the workload ends.
    pub limit: Limit,
    /// Request and response size in rr mode.
    pub rr_size: u32,
    /// Seed of the pseudo-random payload.
    pub seed: u64,
}

/// A header the server cannot accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The first four bytes are not [`MAGIC`].
    #[error("not a braid perf client (bad magic)")]
    BadMagic,
    /// The version byte is not [`VERSION`].
    #[error("unsupported control protocol version {0}")]
    BadVersion(u8),
    /// A field holds a value this version does not define.
    #[error("malformed header: {0}")]
    BadField(&'static str),
}

impl Header {
    /// Encodes the header in its wire form.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&MAGIC);
        b[4] = VERSION;
        b[5] = match self.mode {
            Mode::Bulk => 0,
            Mode::Rr => 1,
        };
        b[6] = match self.direction {
            Direction::Upload => 0,
            Direction::Download => 1,
        };
        let (kind, amount) = match self.limit {
            Limit::Bytes(n) => (0, n),
            Limit::Time(d) => (1, u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        };
        b[7] = kind;
        b[8..16].copy_from_slice(&amount.to_be_bytes());
        b[16..20].copy_from_slice(&self.rr_size.to_be_bytes());
        b[20..28].copy_from_slice(&self.seed.to_be_bytes());
        b
    }

    /// Decodes and validates a header received from a client.
    pub fn decode(b: &[u8; HEADER_LEN]) -> Result<Self, HeaderError> {
        if b[0..4] != MAGIC {
            return Err(HeaderError::BadMagic);
        }
        if b[4] != VERSION {
            return Err(HeaderError::BadVersion(b[4]));
        }
        let mode = match b[5] {
            0 => Mode::Bulk,
            1 => Mode::Rr,
            _ => return Err(HeaderError::BadField("mode")),
        };
        let direction = match b[6] {
            0 => Direction::Upload,
            1 => Direction::Download,
            _ => return Err(HeaderError::BadField("direction")),
        };
        let amount = u64::from_be_bytes(field(b, 8));
        let limit = match b[7] {
            0 => Limit::Bytes(amount),
            1 => Limit::Time(Duration::from_millis(amount)),
            _ => return Err(HeaderError::BadField("limit")),
        };
        let rr_size = u32::from_be_bytes(field(b, 16));
        if mode == Mode::Rr && !(1..=crate::MAX_RR_SIZE).contains(&rr_size) {
            return Err(HeaderError::BadField("rr_size"));
        }
        let seed = u64::from_be_bytes(field(b, 20));
        Ok(Self {
            mode,
            direction,
            limit,
            rr_size,
            seed,
        })
    }
}

/// Copies `N` bytes of `b` starting at `at`; callers pass in-bounds offsets.
fn field<const N: usize>(b: &[u8; HEADER_LEN], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&b[at..at + N]);
    out
}

/// Encodes an ack with the given status.
pub fn encode_ack(status: u8) -> [u8; ACK_LEN] {
    let mut b = [0u8; ACK_LEN];
    b[0..4].copy_from_slice(&MAGIC);
    b[4] = VERSION;
    b[5] = status;
    b
}

/// Checks an ack from the server; `Err` names why the server refused.
pub fn check_ack(b: &[u8; ACK_LEN]) -> Result<(), String> {
    if b[0..4] != MAGIC {
        return Err("the peer is not a braid perf server (bad magic in its answer)".into());
    }
    match b[5] {
        STATUS_OK => Ok(()),
        STATUS_BAD_VERSION => Err(format!(
            "the server does not speak control protocol version {VERSION} (it speaks {})",
            b[4]
        )),
        STATUS_BAD_HEADER => Err("the server refused the test parameters".into()),
        s => Err(format!("the server answered with unknown status {s}")),
    }
}

/// What the receiving application saw, sent back at the end of a test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Payload bytes the receiving application read.
    pub bytes: u64,
    /// True if every byte equalled the seeded payload and none was missing.
    pub verified: bool,
    /// Offset of the first byte that differed, if any.
    pub first_mismatch: Option<u64>,
    /// Longest gap between two successive reads that returned data.
    pub max_stall_ms: f64,
    /// From the receiver being ready (ack sent or read) to the last byte.
    pub duration_s: f64,
    /// CPU seconds (user + system) the receiver's process used meanwhile.
    pub cpu_s: f64,
    /// The receiver's view of its subflows at the end.
    pub subflows: Vec<SubflowReport>,
}

/// Writes a report: 4-byte big-endian length, then JSON.
pub async fn write_report<W: AsyncWrite + Unpin + ?Sized>(
    w: &mut W,
    report: &Report,
) -> std::io::Result<()> {
    let json = serde_json::to_vec(report).map_err(std::io::Error::other)?;
    let len = u32::try_from(json.len()).map_err(std::io::Error::other)?;
    w.write_all(&len.to_be_bytes()).await?;
    w.write_all(&json).await?;
    w.flush().await
}

/// Reads a report written by [`write_report`].
pub async fn read_report<R: AsyncRead + Unpin + ?Sized>(r: &mut R) -> std::io::Result<Report> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len);
    if len > MAX_REPORT_LEN {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("peer report of {len} bytes is too long"),
        ));
    }
    let mut json = vec![0u8; len as usize];
    r.read_exact(&mut json).await?;
    serde_json::from_slice(&json)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let h = Header {
            mode: Mode::Rr,
            direction: Direction::Download,
            limit: Limit::Time(Duration::from_millis(2500)),
            rr_size: 64,
            seed: 0xdead_beef,
        };
        assert_eq!(Header::decode(&h.encode()), Ok(h));
    }

    #[test]
    fn header_rejects_bad_fields() {
        let h = Header {
            mode: Mode::Bulk,
            direction: Direction::Upload,
            limit: Limit::Bytes(1),
            rr_size: 0,
            seed: 1,
        };
        let mut b = h.encode();
        b[4] = 9;
        assert_eq!(Header::decode(&b), Err(HeaderError::BadVersion(9)));
        let mut b = h.encode();
        b[6] = 7;
        assert_eq!(Header::decode(&b), Err(HeaderError::BadField("direction")));
        let mut b = h.encode();
        b[0] = b'X';
        assert_eq!(Header::decode(&b), Err(HeaderError::BadMagic));
    }

    #[test]
    fn ack_status_is_checked() {
        assert!(check_ack(&encode_ack(STATUS_OK)).is_ok());
        assert!(check_ack(&encode_ack(STATUS_BAD_HEADER)).is_err());
    }
}
