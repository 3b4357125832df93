//! One subflow: a complete sans-IO TCP (RFC 9293) with the hooks MPTCP needs.
