//! The 0-RTT TCP Convert Protocol (RFC 8803): the messages a client and a
//! Transport Converter exchange at the start of a connection's byte stream.
//!
//! A Convert message is a 4-byte fixed header (RFC 8803 section 4.1)
//! followed by TLVs (section 4.2); both count their lengths in 32-bit
//! words, so a message is at most 255 words (1,020 bytes). The client
//! sends one in front of its data (a Connect TLV naming the destination);
//! the converter answers with one in front of the server's data (empty, or
//! an Extended TCP Header TLV, or an Error TLV followed by the close).
//!
//! Parsing never panics: every malformation maps to the Error TLV code the
//! converter sends back ([`ConvertError`]).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// The protocol version this module speaks (RFC 8803 section 4.1: "This
/// document specifies version 1").
pub const VERSION: u8 = 1;
/// Length of the fixed header in bytes.
pub const HEADER_LEN: usize = 4;
/// Largest message: Total Length is an 8-bit count of 32-bit words.
pub const MAX_MESSAGE_LEN: usize = 255 * 4;

/// TLV types (RFC 8803 section 8.2, the "Convert TLVs" registry).
pub mod tlv_type {
    /// Info TLV (section 4.2.2).
    pub const INFO: u8 = 1;
    /// Connect TLV (section 4.2.4).
    pub const CONNECT: u8 = 10;
    /// Extended TCP Header TLV (section 4.2.5).
    pub const EXTENDED_TCP_HEADER: u8 = 20;
    /// Supported TCP Extensions TLV (section 4.2.3).
    pub const SUPPORTED_TCP_EXTENSIONS: u8 = 21;
    /// Cookie TLV (section 4.2.6).
    pub const COOKIE: u8 = 22;
    /// Error TLV (section 4.2.7).
    pub const ERROR: u8 = 30;
}

/// Error codes of the Error TLV (RFC 8803 section 4.2.7 and the "Convert
/// Errors" registry, section 8.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 0: the version in the fixed header is not supported; the value is
    /// the version the converter supports.
    UnsupportedVersion,
    /// 1: the message is malformed (lengths, padding, field values).
    MalformedMessage,
    /// 2: a TLV the receiver does not support; the value is its type.
    UnsupportedMessage,
    /// 3: the converter requires a Cookie TLV and none came.
    MissingCookie,
    /// 32: the client is not authorized to use the converter (or to reach
    /// this destination).
    NotAuthorized,
    /// 33: a TCP option in the Connect TLV the converter cannot use.
    UnsupportedTcpOption,
    /// 64: the converter lacks the resources (connection limits).
    ResourceExceeded,
    /// 65: the converter could not reach the destination for a network
    /// failure of its own.
    NetworkFailure,
    /// 96: the destination answered with a reset (refused).
    ConnectionReset,
    /// 97: the destination is unreachable.
    DestinationUnreachable,
    /// Any other code (unassigned or private use), kept as received.
    Other(u8),
}

impl ErrorCode {
    /// The code on the wire.
    pub fn code(self) -> u8 {
        match self {
            ErrorCode::UnsupportedVersion => 0,
            ErrorCode::MalformedMessage => 1,
            ErrorCode::UnsupportedMessage => 2,
            ErrorCode::MissingCookie => 3,
            ErrorCode::NotAuthorized => 32,
            ErrorCode::UnsupportedTcpOption => 33,
            ErrorCode::ResourceExceeded => 64,
            ErrorCode::NetworkFailure => 65,
            ErrorCode::ConnectionReset => 96,
            ErrorCode::DestinationUnreachable => 97,
            ErrorCode::Other(c) => c,
        }
    }

    /// The code for a byte on the wire.
    pub fn from_code(code: u8) -> ErrorCode {
        match code {
            0 => ErrorCode::UnsupportedVersion,
            1 => ErrorCode::MalformedMessage,
            2 => ErrorCode::UnsupportedMessage,
            3 => ErrorCode::MissingCookie,
            32 => ErrorCode::NotAuthorized,
            33 => ErrorCode::UnsupportedTcpOption,
            64 => ErrorCode::ResourceExceeded,
            65 => ErrorCode::NetworkFailure,
            96 => ErrorCode::ConnectionReset,
            97 => ErrorCode::DestinationUnreachable,
            c => ErrorCode::Other(c),
        }
    }

    /// A short name, for logs and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::MalformedMessage => "malformed_message",
            ErrorCode::UnsupportedMessage => "unsupported_message",
            ErrorCode::MissingCookie => "missing_cookie",
            ErrorCode::NotAuthorized => "not_authorized",
            ErrorCode::UnsupportedTcpOption => "unsupported_tcp_option",
            ErrorCode::ResourceExceeded => "resource_exceeded",
            ErrorCode::NetworkFailure => "network_failure",
            ErrorCode::ConnectionReset => "connection_reset",
            ErrorCode::DestinationUnreachable => "destination_unreachable",
            ErrorCode::Other(_) => "other",
        }
    }
}

/// Why a received message was refused: the Error TLV to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("convert error {} ({}), value {value}", code.code(), code.name())]
pub struct ConvertError {
    /// The error code.
    pub code: ErrorCode,
    /// The error's value byte (the supported version, the offending TLV
    /// type or option kind, or the byte offset of a malformation).
    pub value: u8,
}

impl ConvertError {
    fn malformed(offset: usize) -> ConvertError {
        ConvertError {
            code: ErrorCode::MalformedMessage,
            // The offset in bytes, capped: a message is at most 1,020 bytes.
            value: u8::try_from(offset).unwrap_or(u8::MAX),
        }
    }
}

/// One TLV of a Convert message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tlv {
    /// Info TLV (section 4.2.2): the client asks which TCP extensions the
    /// converter supports.
    Info,
    /// Supported TCP Extensions TLV (section 4.2.3): option kinds the
    /// converter supports.
    SupportedTcpExtensions(Vec<u8>),
    /// Connect TLV (section 4.2.4): the destination, and TCP options the
    /// client wants on the converter's SYN to it (kept raw).
    Connect {
        /// Destination address and port; IPv4 travels as an IPv4-mapped
        /// IPv6 address.
        remote: SocketAddr,
        /// TCP options, padded to 32 bits.
        options: Vec<u8>,
    },
    /// Extended TCP Header TLV (section 4.2.5): the TCP header (with
    /// options) of the server's SYN+ACK, as the converter received it.
    ExtendedTcpHeader(Vec<u8>),
    /// Cookie TLV (section 4.2.6): an opaque value the converter checks.
    Cookie(Vec<u8>),
    /// Error TLV (section 4.2.7).
    Error {
        /// The error code.
        code: ErrorCode,
        /// The code-specific value.
        value: Vec<u8>,
    },
}

/// A whole Convert message: the fixed header's version and the TLVs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// The TLVs, in order.
    pub tlvs: Vec<Tlv>,
}

/// How many bytes the message at the start of `buf` takes, once its fixed
/// header has arrived: `Ok(None)` while fewer than 2 bytes are there.
/// Refuses another version (section 4.1) and a Total Length below one word.
pub fn message_len(buf: &[u8]) -> Result<Option<usize>, ConvertError> {
    let Some(&version) = buf.first() else {
        return Ok(None);
    };
    if version != VERSION {
        return Err(ConvertError {
            code: ErrorCode::UnsupportedVersion,
            value: VERSION,
        });
    }
    let Some(&words) = buf.get(1) else {
        return Ok(None);
    };
    if words == 0 {
        return Err(ConvertError::malformed(1));
    }
    Ok(Some(usize::from(words) * 4))
}

impl Message {
    /// Parses one whole message, `buf` being exactly its Total Length.
    pub fn parse(buf: &[u8]) -> Result<Message, ConvertError> {
        let Some(total) = message_len(buf)? else {
            return Err(ConvertError::malformed(0));
        };
        if buf.len() != total {
            return Err(ConvertError::malformed(1));
        }
        // Bytes 2..4 are Unused: "MUST be set to zero by the sender and
        // MUST be ignored by the receiver" (section 4.1).
        let mut tlvs = Vec::new();
        let mut at = HEADER_LEN;
        // Bounded: each turn consumes at least one word of `buf`.
        while at < buf.len() {
            let (tlv, len) = parse_tlv(&buf[at..]).map_err(|e| match e {
                TlvError::Malformed(off) => ConvertError::malformed(at + off),
                TlvError::Unsupported(t) => ConvertError {
                    code: ErrorCode::UnsupportedMessage,
                    value: t,
                },
            })?;
            tlvs.push(tlv);
            at += len;
        }
        Ok(Message { tlvs })
    }

    /// The message's length on the wire (a multiple of 4).
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.tlvs.iter().map(tlv_len).sum::<usize>()
    }

    /// Writes the message; `None` if it would exceed 255 words.
    pub fn to_bytes(&self) -> Option<Vec<u8>> {
        let len = self.buffer_len();
        if len > MAX_MESSAGE_LEN {
            return None;
        }
        let mut out = Vec::with_capacity(len);
        // Fits: checked against MAX_MESSAGE_LEN just above.
        out.extend_from_slice(&[VERSION, (len / 4) as u8, 0, 0]);
        for tlv in &self.tlvs {
            emit_tlv(tlv, &mut out)?;
        }
        debug_assert_eq!(out.len(), len);
        Some(out)
    }

    /// The destination of the first Connect TLV.
    pub fn connect(&self) -> Option<SocketAddr> {
        self.tlvs.iter().find_map(|t| match t {
            Tlv::Connect { remote, .. } => Some(*remote),
            _ => None,
        })
    }

    /// The value of the first Cookie TLV.
    pub fn cookie(&self) -> Option<&[u8]> {
        self.tlvs.iter().find_map(|t| match t {
            Tlv::Cookie(v) => Some(v.as_slice()),
            _ => None,
        })
    }

    /// The first Error TLV's code and value.
    pub fn error(&self) -> Option<(ErrorCode, &[u8])> {
        self.tlvs.iter().find_map(|t| match t {
            Tlv::Error { code, value } => Some((*code, value.as_slice())),
            _ => None,
        })
    }

    /// A message holding one Error TLV for `err`.
    pub fn error_reply(err: ConvertError) -> Message {
        Message {
            tlvs: vec![Tlv::Error {
                code: err.code,
                value: vec![err.value],
            }],
        }
    }
}

enum TlvError {
    /// Malformed at this offset from the TLV's start.
    Malformed(usize),
    /// A type this module does not know.
    Unsupported(u8),
}

/// Parses the TLV at the start of `buf`: the TLV and its length in bytes.
fn parse_tlv(buf: &[u8]) -> Result<(Tlv, usize), TlvError> {
    // Generic format (section 4.2.1): Type (8 bits), Length (8 bits, the
    // TLV's length in 32-bit words, Type and Length included), Value.
    let (Some(&ty), Some(&words)) = (buf.first(), buf.get(1)) else {
        return Err(TlvError::Malformed(0));
    };
    let len = usize::from(words) * 4;
    if len == 0 {
        return Err(TlvError::Malformed(1));
    }
    let Some(tlv) = buf.get(..len) else {
        return Err(TlvError::Malformed(1));
    };
    let body = &tlv[2..];
    let tlv = match ty {
        // Info TLV: Type, Length = 1, Unused (16 bits).
        tlv_type::INFO if len == 4 => Tlv::Info,
        tlv_type::INFO => return Err(TlvError::Malformed(1)),
        // Supported TCP Extensions: Type, Length, Unused (16 bits), then one
        // byte per supported option kind, zero-padded.
        tlv_type::SUPPORTED_TCP_EXTENSIONS => {
            let kinds = body[2..].iter().copied().filter(|&k| k != 0).collect();
            Tlv::SupportedTcpExtensions(kinds)
        }
        // Connect TLV: Type, Length, Remote Peer Port (16 bits), Remote Peer
        // IP Address (128 bits), TCP Options (variable, padded).
        tlv_type::CONNECT => {
            if len < 20 {
                return Err(TlvError::Malformed(1));
            }
            let port = u16::from_be_bytes([body[0], body[1]]);
            let mut ip = [0u8; 16];
            ip.copy_from_slice(&body[2..18]);
            let ip = Ipv6Addr::from(ip);
            // "IPv4 addresses MUST be encoded using the IPv4-Mapped IPv6
            // Address format" (section 4.2.4).
            let ip = match ip.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(ip),
            };
            if port == 0 || ip.is_unspecified() || ip.is_multicast() {
                return Err(TlvError::Malformed(2));
            }
            Tlv::Connect {
                remote: SocketAddr::new(ip, port),
                options: body[18..].to_vec(),
            }
        }
        // Extended TCP Header TLV: Type, Length, Unused (16 bits), the
        // returned TCP header.
        tlv_type::EXTENDED_TCP_HEADER => Tlv::ExtendedTcpHeader(body[2..].to_vec()),
        // Cookie TLV: Type, Length, Zero (16 bits), Opaque Value.
        tlv_type::COOKIE => {
            if len < 8 {
                return Err(TlvError::Malformed(1));
            }
            Tlv::Cookie(body[2..].to_vec())
        }
        // Error TLV: Type, Length, Error Code (8 bits), Value (variable).
        tlv_type::ERROR => Tlv::Error {
            code: ErrorCode::from_code(body[0]),
            value: body[1..].to_vec(),
        },
        other => return Err(TlvError::Unsupported(other)),
    };
    Ok((tlv, len))
}

/// A TLV's length on the wire, padded to a word.
fn tlv_len(tlv: &Tlv) -> usize {
    let body = match tlv {
        Tlv::Info => 2,
        Tlv::SupportedTcpExtensions(k) => 2 + k.len(),
        Tlv::Connect { options, .. } => 18 + options.len(),
        Tlv::ExtendedTcpHeader(h) => 2 + h.len(),
        Tlv::Cookie(v) => 2 + v.len(),
        Tlv::Error { value, .. } => 1 + value.len().max(1),
    };
    (2 + body).div_ceil(4) * 4
}

fn emit_tlv(tlv: &Tlv, out: &mut Vec<u8>) -> Option<()> {
    let len = tlv_len(tlv);
    let start = out.len();
    let words = u8::try_from(len / 4).ok()?;
    match tlv {
        Tlv::Info => out.extend_from_slice(&[tlv_type::INFO, words, 0, 0]),
        Tlv::SupportedTcpExtensions(kinds) => {
            out.extend_from_slice(&[tlv_type::SUPPORTED_TCP_EXTENSIONS, words, 0, 0]);
            out.extend_from_slice(kinds);
        }
        Tlv::Connect { remote, options } => {
            out.extend_from_slice(&[tlv_type::CONNECT, words]);
            out.extend_from_slice(&remote.port().to_be_bytes());
            let ip = match remote.ip() {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => v6,
            };
            out.extend_from_slice(&ip.octets());
            out.extend_from_slice(options);
        }
        Tlv::ExtendedTcpHeader(h) => {
            out.extend_from_slice(&[tlv_type::EXTENDED_TCP_HEADER, words, 0, 0]);
            out.extend_from_slice(h);
        }
        Tlv::Cookie(v) => {
            out.extend_from_slice(&[tlv_type::COOKIE, words, 0, 0]);
            out.extend_from_slice(v);
        }
        Tlv::Error { code, value } => {
            out.extend_from_slice(&[tlv_type::ERROR, words, code.code()]);
            if value.is_empty() {
                out.push(0);
            }
            out.extend_from_slice(value);
        }
    }
    // Zero padding to the word.
    out.resize(start + len, 0);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v4(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn connect_ipv4_byte_exact() {
        // Fixed header (version 1, 6 words) + Connect TLV (5 words) for
        // 192.0.2.1:80 as an IPv4-mapped IPv6 address (section 4.2.4).
        let msg = Message {
            tlvs: vec![Tlv::Connect {
                remote: v4("192.0.2.1:80"),
                options: vec![],
            }],
        };
        let bytes = msg.to_bytes().unwrap();
        assert_eq!(
            bytes,
            [
                1, 6, 0, 0, // fixed header
                10, 5, 0, 80, // Connect, 5 words, port 80
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1,
            ]
        );
        assert_eq!(Message::parse(&bytes).unwrap(), msg);
    }

    #[test]
    fn every_tlv_round_trips() {
        let msg = Message {
            tlvs: vec![
                Tlv::Info,
                Tlv::SupportedTcpExtensions(vec![30, 34]),
                Tlv::Connect {
                    remote: "[2001:db8::1]:443".parse().unwrap(),
                    options: vec![1, 1, 1, 0],
                },
                Tlv::ExtendedTcpHeader(vec![7; 20]),
                Tlv::Cookie(vec![0xab; 6]),
                Tlv::Error {
                    code: ErrorCode::DestinationUnreachable,
                    value: vec![0],
                },
            ],
        };
        let bytes = msg.to_bytes().unwrap();
        assert_eq!(bytes.len() % 4, 0);
        assert_eq!(usize::from(bytes[1]) * 4, bytes.len());
        let back = Message::parse(&bytes).unwrap();
        // The cookie was padded to 8 bytes of value; everything else exact.
        assert_eq!(back.tlvs[..4], msg.tlvs[..4]);
        assert_eq!(back.cookie().unwrap()[..6], [0xab; 6]);
        assert_eq!(back.error().unwrap().0, ErrorCode::DestinationUnreachable);
    }

    #[test]
    fn error_tlv_byte_exact() {
        let bytes = Message::error_reply(ConvertError {
            code: ErrorCode::NotAuthorized,
            value: 0,
        })
        .to_bytes()
        .unwrap();
        assert_eq!(bytes, [1, 2, 0, 0, 30, 1, 32, 0]);
    }

    #[test]
    fn error_codes_are_the_registry_values() {
        // RFC 8803 section 8.3.
        let table = [
            (ErrorCode::UnsupportedVersion, 0),
            (ErrorCode::MalformedMessage, 1),
            (ErrorCode::UnsupportedMessage, 2),
            (ErrorCode::MissingCookie, 3),
            (ErrorCode::NotAuthorized, 32),
            (ErrorCode::UnsupportedTcpOption, 33),
            (ErrorCode::ResourceExceeded, 64),
            (ErrorCode::NetworkFailure, 65),
            (ErrorCode::ConnectionReset, 96),
            (ErrorCode::DestinationUnreachable, 97),
        ];
        for (code, byte) in table {
            assert_eq!(code.code(), byte);
            assert_eq!(ErrorCode::from_code(byte), code);
        }
    }

    #[test]
    fn wrong_version_is_unsupported_version() {
        let err = message_len(&[2, 1, 0, 0]).unwrap_err();
        assert_eq!(err.code, ErrorCode::UnsupportedVersion);
        assert_eq!(err.value, VERSION);
    }

    #[test]
    fn zero_total_length_is_malformed() {
        assert_eq!(
            message_len(&[1, 0]).unwrap_err().code,
            ErrorCode::MalformedMessage
        );
        assert_eq!(message_len(&[1]), Ok(None));
        assert_eq!(message_len(&[]), Ok(None));
    }

    #[test]
    fn tlv_overrunning_the_message_is_malformed() {
        // Total Length 2 words, but the Connect TLV says 5.
        let err = Message::parse(&[1, 2, 0, 0, 10, 5, 0, 80]).unwrap_err();
        assert_eq!(err.code, ErrorCode::MalformedMessage);
    }

    #[test]
    fn zero_length_tlv_is_malformed() {
        let err = Message::parse(&[1, 2, 0, 0, 10, 0, 0, 0]).unwrap_err();
        assert_eq!(err.code, ErrorCode::MalformedMessage);
        assert_eq!(err.value, 5);
    }

    #[test]
    fn short_connect_tlv_is_malformed() {
        let err = Message::parse(&[1, 2, 0, 0, 10, 1, 0, 80]).unwrap_err();
        assert_eq!(err.code, ErrorCode::MalformedMessage);
    }

    #[test]
    fn connect_to_port_zero_is_malformed() {
        let mut bytes = Message {
            tlvs: vec![Tlv::Connect {
                remote: v4("192.0.2.1:80"),
                options: vec![],
            }],
        }
        .to_bytes()
        .unwrap();
        bytes[6] = 0;
        bytes[7] = 0;
        let err = Message::parse(&bytes).unwrap_err();
        assert_eq!(err.code, ErrorCode::MalformedMessage);
    }

    #[test]
    fn unknown_tlv_type_is_unsupported_message() {
        let err = Message::parse(&[1, 2, 0, 0, 99, 1, 0, 0]).unwrap_err();
        assert_eq!(err.code, ErrorCode::UnsupportedMessage);
        assert_eq!(err.value, 99);
    }

    #[test]
    fn oversized_message_is_not_emitted() {
        let msg = Message {
            tlvs: vec![Tlv::Cookie(vec![1; MAX_MESSAGE_LEN])],
        };
        assert_eq!(msg.to_bytes(), None);
    }

    proptest! {
        #[test]
        fn parsing_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1100)) {
            let _ = message_len(&bytes);
            match Message::parse(&bytes) {
                // Whatever parses re-emits to a message that parses the same.
                Ok(msg) => {
                    let again = msg.to_bytes().expect("a parsed message fits");
                    prop_assert_eq!(Message::parse(&again).unwrap(), msg);
                }
                Err(e) => prop_assert!(matches!(
                    e.code,
                    ErrorCode::UnsupportedVersion
                        | ErrorCode::MalformedMessage
                        | ErrorCode::UnsupportedMessage
                )),
            }
        }

        #[test]
        fn valid_header_with_garbage_tlvs_never_panics(
            words in 1u8..=255,
            tail in proptest::collection::vec(any::<u8>(), 0..1020),
        ) {
            let mut bytes = vec![VERSION, words, 0, 0];
            bytes.extend(tail);
            bytes.truncate(usize::from(words) * 4);
            let _ = Message::parse(&bytes);
        }

        #[test]
        fn connect_round_trips(ip in any::<[u8; 4]>(), port in 1u16.., opts in proptest::collection::vec(1u8.., 0..16)) {
            let remote = SocketAddr::new(IpAddr::from(ip), port);
            prop_assume!(!remote.ip().is_unspecified() && !remote.ip().is_multicast());
            let mut options = opts;
            options.resize(options.len().div_ceil(4) * 4, 0);
            let msg = Message { tlvs: vec![Tlv::Connect { remote, options }] };
            let bytes = msg.to_bytes().unwrap();
            prop_assert_eq!(Message::parse(&bytes).unwrap(), msg);
        }
    }
}
