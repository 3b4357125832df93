//! Path-manager endpoints with the flags of Linux's in-kernel path
//! manager (`ip mptcp endpoint add ADDR [port PORT] [id ID] [signal]
//! [subflow] [backup] [fullmesh]`, ip-mptcp(8)), for servers and clients
//! configured the way kernel users already know.

use core::fmt;
use core::net::IpAddr;
use core::str::FromStr;

/// What a [`PmEndpoint`] is used for (ip-mptcp(8)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointFlags {
    /// Announce the address to the peer (ADD_ADDR), on either side.
    pub signal: bool,
    /// The client opens a subflow from it to the peer's initial address.
    pub subflow: bool,
    /// Subflows from it join as backup (flag B; RFC 8684 section 3.3.8).
    pub backup: bool,
    /// The client opens a subflow from it to the peer's initial address
    /// and to every address the peer announces.
    pub fullmesh: bool,
}

/// A local address and how the [`super::FullMesh`] path manager uses it
/// (`PmConfig::endpoints`). Parses from Linux's words:
/// `"10.0.2.1 subflow backup"`, `"10.0.3.1 port 8080 id 7 signal"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PmEndpoint {
    /// The address.
    pub addr: IpAddr,
    /// Port to announce (`signal`); by default the listener's.
    pub port: Option<u16>,
    /// Address ID to announce it under (`signal`); by default the next
    /// free one.
    pub id: Option<u8>,
    /// Its flags.
    pub flags: EndpointFlags,
}

impl PmEndpoint {
    /// An endpoint for `addr` with `flags`.
    pub fn new(addr: IpAddr, flags: EndpointFlags) -> PmEndpoint {
        PmEndpoint {
            addr,
            port: None,
            id: None,
            flags,
        }
    }
}

/// Why an endpoint did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointParseError {
    /// No address first.
    #[error("endpoint {0:?}: expected an IP address first")]
    Address(String),
    /// `port` or `id` without a valid number (ID 0 is the initial
    /// subflow's, RFC 8684 section 3.4.1).
    #[error("endpoint {0:?}: {1} needs a number (port 1-65535, id 1-255)")]
    Number(String, &'static str),
    /// A word that is not a flag.
    #[error("endpoint {0:?}: unknown word {1:?} (flags: signal, subflow, backup, fullmesh)")]
    Word(String, String),
    /// No flag at all: the endpoint would do nothing.
    #[error("endpoint {0:?}: give at least one of signal, subflow, fullmesh")]
    NoUse(String),
    /// Linux rejects these together (`fullmesh` with `signal`).
    #[error("endpoint {0:?}: fullmesh and signal exclude each other (as in Linux)")]
    FullmeshSignal(String),
}

impl FromStr for PmEndpoint {
    type Err = EndpointParseError;

    fn from_str(s: &str) -> Result<PmEndpoint, EndpointParseError> {
        let mut words = s.split_whitespace();
        let addr = words
            .next()
            .and_then(|w| w.parse::<IpAddr>().ok())
            .ok_or_else(|| EndpointParseError::Address(s.to_string()))?;
        let mut ep = PmEndpoint::new(addr, EndpointFlags::default());
        while let Some(w) = words.next() {
            match w {
                "signal" => ep.flags.signal = true,
                "subflow" => ep.flags.subflow = true,
                "backup" => ep.flags.backup = true,
                "fullmesh" => ep.flags.fullmesh = true,
                "port" => {
                    let p = words.next().and_then(|n| n.parse::<u16>().ok());
                    ep.port = Some(
                        p.filter(|p| *p != 0)
                            .ok_or_else(|| EndpointParseError::Number(s.to_string(), "port"))?,
                    );
                }
                "id" => {
                    let id = words.next().and_then(|n| n.parse::<u8>().ok());
                    ep.id = Some(
                        id.filter(|id| *id != 0)
                            .ok_or_else(|| EndpointParseError::Number(s.to_string(), "id"))?,
                    );
                }
                other => return Err(EndpointParseError::Word(s.to_string(), other.to_string())),
            }
        }
        let f = ep.flags;
        if !(f.signal || f.subflow || f.fullmesh) {
            return Err(EndpointParseError::NoUse(s.to_string()));
        }
        if f.signal && f.fullmesh {
            return Err(EndpointParseError::FullmeshSignal(s.to_string()));
        }
        Ok(ep)
    }
}

impl fmt::Display for PmEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.addr)?;
        if let Some(p) = self.port {
            write!(f, " port {p}")?;
        }
        if let Some(id) = self.id {
            write!(f, " id {id}")?;
        }
        let flags = self.flags;
        for (on, name) in [
            (flags.signal, "signal"),
            (flags.subflow, "subflow"),
            (flags.backup, "backup"),
            (flags.fullmesh, "fullmesh"),
        ] {
            if on {
                write!(f, " {name}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_linux_words_and_round_trips() {
        for s in [
            "10.0.2.1 subflow",
            "10.0.2.1 subflow backup",
            "10.0.3.1 port 8080 id 7 signal",
            "fd00::2 subflow fullmesh",
            "10.0.4.1 signal backup",
        ] {
            let ep: PmEndpoint = s.parse().unwrap();
            assert_eq!(ep.to_string(), s);
        }
        let ep: PmEndpoint = "10.0.2.1 backup subflow".parse().unwrap();
        assert!(ep.flags.backup && ep.flags.subflow && !ep.flags.signal);
    }

    #[test]
    fn bad_endpoints_are_named() {
        let err = |s: &str| s.parse::<PmEndpoint>().unwrap_err().to_string();
        assert_eq!(
            err("subflow 10.0.2.1"),
            "endpoint \"subflow 10.0.2.1\": expected an IP address first"
        );
        assert_eq!(
            err("10.0.2.1 port x signal"),
            "endpoint \"10.0.2.1 port x signal\": port needs a number (port 1-65535, id 1-255)"
        );
        assert!(err("10.0.2.1 id 0 signal").contains("id needs a number"));
        assert!(err("10.0.2.1 id").contains("id needs a number"));
        assert!(err("10.0.2.1 subflow laser").contains("unknown word \"laser\""));
        assert!(err("10.0.2.1 backup").contains("at least one of"));
        assert!(err("10.0.2.1 signal fullmesh").contains("exclude each other"));
    }
}
