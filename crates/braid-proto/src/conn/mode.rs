//! What an application asks of its paths, after Apple's MPTCP service
//! types: one word instead of a scheduler and a backup flag per address.
//!
//! The primary path is the initial subflow's: its local address on the
//! side that opened the connection (a phone's WiFi), its remote address on
//! the side that accepted it. Subflows that share it are on the primary
//! path; the others are on other paths.

use core::fmt;

/// A connection's mode (`ConnConfig::mode`, per connection through the
/// endpoint's `ConnOptions`, or changed at runtime with
/// `Connection::set_mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// Every path carries data at once, as the configured scheduler
    /// decides (the default; Linux's behaviour).
    #[default]
    Aggregate,
    /// Only the primary path carries data; subflows on other paths are
    /// backup (flag B in MP_JOIN, MP_PRIO when the mode changes), kept
    /// established and used only while the primary is failing (down, or
    /// stalled on a probe or retransmission timeout). The data moves back
    /// as soon as the primary acknowledges again.
    Handover,
    /// The lowest latency: the [`crate::sched::Interactive`] scheduler
    /// replaces the configured one. Bytes go on the fastest path, and are
    /// duplicated on the others while it degrades.
    Interactive,
}

impl Mode {
    /// Every mode, in the order of [`Mode::NAMES`].
    pub const ALL: [Mode; 3] = [Mode::Aggregate, Mode::Handover, Mode::Interactive];
    /// Their names, as the command line takes them.
    pub const NAMES: [&'static str; 3] = ["aggregate", "handover", "interactive"];

    /// Its name.
    pub fn name(self) -> &'static str {
        let i = Self::ALL.iter().position(|m| *m == self).unwrap_or(0);
        Self::NAMES[i]
    }

    /// The mode called `name`, or an error naming the choices.
    pub fn from_name(name: &str) -> Result<Mode, UnknownMode> {
        Self::NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))
            .map(|i| Self::ALL[i])
            .ok_or_else(|| UnknownMode(name.to_string()))
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl core::str::FromStr for Mode {
    type Err = UnknownMode;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_name(s)
    }
}

/// A mode name that is not one of [`Mode::NAMES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown mode {0:?} (choices: aggregate, handover, interactive)")]
pub struct UnknownMode(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_names_are_named() {
        for m in Mode::ALL {
            assert_eq!(m.name().parse::<Mode>(), Ok(m));
        }
        assert_eq!("Handover".parse::<Mode>(), Ok(Mode::Handover));
        assert_eq!(
            "fast".parse::<Mode>().unwrap_err().to_string(),
            "unknown mode \"fast\" (choices: aggregate, handover, interactive)"
        );
    }
}
