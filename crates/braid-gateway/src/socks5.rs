//! The server side of SOCKS version 5 (RFC 1928): method negotiation, the
//! username/password method (RFC 1929), the CONNECT request and its reply.
//!
//! Written here rather than taken from a crate: the server side of CONNECT
//! is about a hundred lines, and the gateway needs to see every step (which
//! method, which reply code) to apply its policy and count failures.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The protocol version byte (RFC 1928 section 3).
pub const VERSION: u8 = 5;

/// Authentication methods (RFC 1928 section 3).
pub mod method {
    /// NO AUTHENTICATION REQUIRED.
    pub const NO_AUTH: u8 = 0x00;
    /// USERNAME/PASSWORD (RFC 1929).
    pub const USER_PASS: u8 = 0x02;
    /// NO ACCEPTABLE METHODS.
    pub const NONE_ACCEPTABLE: u8 = 0xff;
}

/// Reply codes (RFC 1928 section 6, field REP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Reply {
    /// X'00' succeeded.
    Succeeded = 0,
    /// X'01' general SOCKS server failure.
    GeneralFailure = 1,
    /// X'02' connection not allowed by ruleset.
    NotAllowed = 2,
    /// X'03' Network unreachable.
    NetworkUnreachable = 3,
    /// X'04' Host unreachable.
    HostUnreachable = 4,
    /// X'05' Connection refused.
    ConnectionRefused = 5,
    /// X'06' TTL expired.
    TtlExpired = 6,
    /// X'07' Command not supported.
    CommandNotSupported = 7,
    /// X'08' Address type not supported.
    AddressTypeNotSupported = 8,
}

/// Where the client wants to go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An IP address and port (ATYP 1 or 4).
    Addr(SocketAddr),
    /// A domain name and port (ATYP 3), to be resolved by the server.
    Domain(String, u16),
}

impl Target {
    /// The address, resolving a domain name (an IP literal in a domain
    /// name, as `curl --socks5-hostname` sends it, needs no lookup).
    pub async fn resolve(&self) -> std::io::Result<SocketAddr> {
        match self {
            Target::Addr(a) => Ok(*a),
            Target::Domain(name, port) => {
                if let Ok(ip) = name.parse::<IpAddr>() {
                    return Ok(SocketAddr::new(ip, *port));
                }
                tokio::net::lookup_host((name.as_str(), *port))
                    .await?
                    .next()
                    .ok_or_else(|| {
                        std::io::Error::new(
                            std::io::ErrorKind::NotFound,
                            format!("{name} has no address"),
                        )
                    })
            }
        }
    }
}

/// Which methods the server accepts.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    /// Accepted username/password pairs; empty: no authentication (method
    /// X'00') is accepted instead.
    pub users: Vec<(String, String)>,
}

/// Why a SOCKS5 handshake failed; [`HandshakeError::reply`] is what the
/// server sent (or should send) before closing.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// Not SOCKS version 5.
    #[error("not SOCKS5 (version byte {0})")]
    Version(u8),
    /// None of the client's methods is acceptable (X'FF' was sent).
    #[error("no acceptable authentication method")]
    NoMethod,
    /// Username/password refused (RFC 1929 status non-zero was sent).
    #[error("bad username or password")]
    BadCredentials,
    /// A malformed field.
    #[error("malformed SOCKS5 {0}")]
    Malformed(&'static str),
    /// A command other than CONNECT.
    #[error("unsupported SOCKS5 command {0}")]
    Command(u8),
    /// An unknown address type.
    #[error("unsupported SOCKS5 address type {0}")]
    AddressType(u8),
    /// The transport failed or closed early.
    #[error("SOCKS5 handshake: {0}")]
    Io(#[from] std::io::Error),
}

impl HandshakeError {
    /// The request reply this failure calls for, if the handshake got as
    /// far as a request.
    pub fn reply(&self) -> Option<Reply> {
        match self {
            HandshakeError::Command(_) => Some(Reply::CommandNotSupported),
            HandshakeError::AddressType(_) => Some(Reply::AddressTypeNotSupported),
            HandshakeError::Malformed("request") => Some(Reply::GeneralFailure),
            _ => None,
        }
    }

    /// A short name for metric labels.
    pub fn name(&self) -> &'static str {
        match self {
            HandshakeError::Version(_) => "socks_version",
            HandshakeError::NoMethod => "socks_no_method",
            HandshakeError::BadCredentials => "not_authorized",
            HandshakeError::Malformed(_) => "socks_malformed",
            HandshakeError::Command(_) => "socks_command",
            HandshakeError::AddressType(_) => "socks_address_type",
            HandshakeError::Io(_) => "socks_io",
        }
    }
}

/// Runs the server side up to the CONNECT request: negotiates a method,
/// authenticates, and returns the target and the user (if one logged in).
/// On a request error it has already sent the reply; the caller answers a
/// good request with [`send_reply`].
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    auth: &Auth,
) -> Result<(Target, Option<String>), HandshakeError> {
    // Greeting: VER, NMETHODS, METHODS (section 3).
    let version = stream.read_u8().await?;
    if version != VERSION {
        return Err(HandshakeError::Version(version));
    }
    accept_after_version(stream, auth).await
}

/// [`accept`] after the caller has read the version byte (and found 5):
/// a server telling SOCKS5 from another protocol by the first byte.
pub async fn accept_after_version<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    auth: &Auth,
) -> Result<(Target, Option<String>), HandshakeError> {
    let nmethods = stream.read_u8().await?;
    if nmethods == 0 {
        stream
            .write_all(&[VERSION, method::NONE_ACCEPTABLE])
            .await?;
        return Err(HandshakeError::Malformed("greeting"));
    }
    let mut methods = vec![0u8; usize::from(nmethods)];
    stream.read_exact(&mut methods).await?;
    let wanted = if auth.users.is_empty() {
        method::NO_AUTH
    } else {
        method::USER_PASS
    };
    if !methods.contains(&wanted) {
        // "If the selected METHOD is X'FF', none of the methods listed by
        // the client are acceptable, and the client MUST close the
        // connection."
        stream
            .write_all(&[VERSION, method::NONE_ACCEPTABLE])
            .await?;
        return Err(HandshakeError::NoMethod);
    }
    stream.write_all(&[VERSION, wanted]).await?;
    let user = if wanted == method::USER_PASS {
        Some(user_pass(stream, auth).await?)
    } else {
        None
    };
    let target = request(stream).await?;
    Ok((target, user))
}

/// RFC 1929 section 2: VER (1), ULEN, UNAME, PLEN, PASSWD; the answer is
/// VER, STATUS (0 success). "If the server returns a `failure' (STATUS
/// value other than X'00') status, it MUST close the connection."
async fn user_pass<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    auth: &Auth,
) -> Result<String, HandshakeError> {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).await?;
    if head[0] != 1 {
        stream.write_all(&[1, 1]).await?;
        return Err(HandshakeError::Malformed("username/password version"));
    }
    let mut name = vec![0u8; usize::from(head[1])];
    stream.read_exact(&mut name).await?;
    let plen = stream.read_u8().await?;
    let mut pass = vec![0u8; usize::from(plen)];
    stream.read_exact(&mut pass).await?;
    let ok = auth
        .users
        .iter()
        .any(|(u, p)| constant_eq(u.as_bytes(), &name) & constant_eq(p.as_bytes(), &pass));
    if !ok {
        stream.write_all(&[1, 1]).await?;
        return Err(HandshakeError::BadCredentials);
    }
    stream.write_all(&[1, 0]).await?;
    Ok(String::from_utf8_lossy(&name).into_owned())
}

/// Compares without stopping at the first difference.
pub(crate) fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The request (section 4): VER, CMD, RSV, ATYP, DST.ADDR, DST.PORT.
async fn request<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
) -> Result<Target, HandshakeError> {
    let mut head = [0u8; 4];
    stream.read_exact(&mut head).await?;
    if head[0] != VERSION {
        send_reply(stream, Reply::GeneralFailure, None).await?;
        return Err(HandshakeError::Malformed("request"));
    }
    let target = match head[3] {
        1 => {
            let mut b = [0u8; 6];
            stream.read_exact(&mut b).await?;
            let ip = Ipv4Addr::new(b[0], b[1], b[2], b[3]);
            Target::Addr(SocketAddr::new(ip.into(), u16::from_be_bytes([b[4], b[5]])))
        }
        4 => {
            let mut b = [0u8; 18];
            stream.read_exact(&mut b).await?;
            let mut ip = [0u8; 16];
            ip.copy_from_slice(&b[..16]);
            let port = u16::from_be_bytes([b[16], b[17]]);
            Target::Addr(SocketAddr::new(Ipv6Addr::from(ip).into(), port))
        }
        3 => {
            let len = stream.read_u8().await?;
            let mut name = vec![0u8; usize::from(len)];
            stream.read_exact(&mut name).await?;
            let port = stream.read_u16().await?;
            match String::from_utf8(name) {
                Ok(n) if !n.is_empty() => Target::Domain(n, port),
                _ => {
                    send_reply(stream, Reply::GeneralFailure, None).await?;
                    return Err(HandshakeError::Malformed("request"));
                }
            }
        }
        other => {
            send_reply(stream, Reply::AddressTypeNotSupported, None).await?;
            return Err(HandshakeError::AddressType(other));
        }
    };
    // CMD: only CONNECT (X'01'); BIND and UDP ASSOCIATE are refused.
    if head[1] != 1 {
        send_reply(stream, Reply::CommandNotSupported, None).await?;
        return Err(HandshakeError::Command(head[1]));
    }
    Ok(target)
}

/// Sends the reply to a request (section 6): VER, REP, RSV, ATYP,
/// BND.ADDR, BND.PORT (0.0.0.0:0 when there is no bound address).
pub async fn send_reply<S: AsyncWrite + Unpin>(
    stream: &mut S,
    reply: Reply,
    bound: Option<SocketAddr>,
) -> std::io::Result<()> {
    let bound = bound.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    let mut out = vec![VERSION, reply as u8, 0];
    match bound.ip() {
        IpAddr::V4(v4) => {
            out.push(1);
            out.extend_from_slice(&v4.octets());
        }
        IpAddr::V6(v6) => {
            out.push(4);
            out.extend_from_slice(&v6.octets());
        }
    }
    out.extend_from_slice(&bound.port().to_be_bytes());
    stream.write_all(&out).await?;
    stream.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    /// Runs `accept` against a client that writes `input` and returns
    /// the result and every byte the server wrote.
    async fn run(
        input: Vec<u8>,
        auth: Auth,
    ) -> (Result<(Target, Option<String>), String>, Vec<u8>) {
        let (mut client, mut server) = duplex(4096);
        let task = tokio::spawn(async move {
            let r = accept(&mut server, &auth).await.map_err(|e| e.to_string());
            drop(server);
            r
        });
        client.write_all(&input).await.unwrap();
        client.shutdown().await.unwrap();
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.unwrap();
        (task.await.unwrap(), out)
    }

    fn connect_v4(ip: [u8; 4], port: u16) -> Vec<u8> {
        let mut v = vec![5, 1, 0, 1];
        v.extend_from_slice(&ip);
        v.extend_from_slice(&port.to_be_bytes());
        v
    }

    #[tokio::test]
    async fn no_auth_connect_ipv4() {
        let mut input = vec![5, 1, 0];
        input.extend(connect_v4([192, 0, 2, 7], 8080));
        let (r, out) = run(input, Auth::default()).await;
        assert_eq!(
            r.unwrap(),
            (Target::Addr("192.0.2.7:8080".parse().unwrap()), None)
        );
        assert_eq!(out, [5, 0]);
    }

    #[tokio::test]
    async fn domain_target() {
        let mut input = vec![5, 1, 0, 5, 1, 0, 3, 11];
        input.extend_from_slice(b"example.org");
        input.extend_from_slice(&443u16.to_be_bytes());
        let (r, _) = run(input, Auth::default()).await;
        assert_eq!(r.unwrap().0, Target::Domain("example.org".into(), 443));
    }

    #[tokio::test]
    async fn user_pass_accepted() {
        let auth = Auth {
            users: vec![("ann".into(), "s3cret".into())],
        };
        let mut input = vec![5, 2, 0, 2, 1, 3];
        input.extend_from_slice(b"ann");
        input.push(6);
        input.extend_from_slice(b"s3cret");
        input.extend(connect_v4([192, 0, 2, 7], 80));
        let (r, out) = run(input, auth).await;
        assert_eq!(r.unwrap().1.as_deref(), Some("ann"));
        assert_eq!(out, [5, 2, 1, 0]);
    }

    #[tokio::test]
    async fn user_pass_refused() {
        let auth = Auth {
            users: vec![("ann".into(), "s3cret".into())],
        };
        let mut input = vec![5, 1, 2, 1, 3];
        input.extend_from_slice(b"ann");
        input.push(5);
        input.extend_from_slice(b"wrong");
        let (r, out) = run(input, auth).await;
        assert!(r.unwrap_err().contains("bad username"));
        // Method 2 chosen, then status 1 (failure).
        assert_eq!(out, [5, 2, 1, 1]);
    }

    #[tokio::test]
    async fn no_acceptable_method() {
        let auth = Auth {
            users: vec![("ann".into(), "x".into())],
        };
        // The client offers only "no authentication".
        let (r, out) = run(vec![5, 1, 0], auth).await;
        assert!(r.is_err());
        assert_eq!(out, [5, 0xff]);
    }

    #[tokio::test]
    async fn bind_command_not_supported() {
        let mut input = vec![5, 1, 0];
        let mut req = connect_v4([192, 0, 2, 7], 80);
        req[1] = 2; // BIND
        input.extend(req);
        let (r, out) = run(input, Auth::default()).await;
        assert!(r.is_err());
        assert_eq!(out[..4], [5, 0, 5, 7]);
    }

    #[tokio::test]
    async fn unknown_address_type() {
        let (r, out) = run(vec![5, 1, 0, 5, 1, 0, 9, 1, 2, 3], Auth::default()).await;
        assert!(r.is_err());
        assert_eq!(out[..4], [5, 0, 5, 8]);
    }

    #[tokio::test]
    async fn garbage_is_refused_without_reply() {
        let (r, out) = run(b"GET / HTTP/1.1\r\n\r\n".to_vec(), Auth::default()).await;
        assert!(r.unwrap_err().contains("not SOCKS5"));
        assert!(out.is_empty());
    }

    #[tokio::test]
    async fn truncated_greeting_is_an_error() {
        let (r, _) = run(vec![5, 3, 0], Auth::default()).await;
        assert!(r.is_err());
    }

    #[tokio::test]
    async fn reply_bytes() {
        let mut out = Vec::new();
        send_reply(&mut out, Reply::ConnectionRefused, None)
            .await
            .unwrap();
        assert_eq!(out, [5, 5, 0, 1, 0, 0, 0, 0, 0, 0]);
    }
}
