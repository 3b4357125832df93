//! MPTCP cryptography (RFC 8684 sections 3.1, 3.2, 3.3.1, 3.4.1): keys,
//! tokens, initial data sequence numbers, HMAC-SHA256 for MP_JOIN and
//! ADD_ADDR, and the DSS checksum.
