//! Proptest strategies for MPTCP option reprs, for reuse by the TCP option
//! and connection tests.

use super::*;
use core::net::IpAddr;
use proptest::prelude::*;

/// Any IPv4 or IPv6 address.
pub(crate) fn ip_addr() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(IpAddr::from),
    ]
}

/// A valid MP_CAPABLE of each of the five shapes.
pub(crate) fn mp_capable() -> impl Strategy<Value = MpCapable> {
    (
        0usize..5,
        1u8..=15,
        any::<u8>(),
        any::<u64>(),
        any::<u64>(),
        any::<u16>(),
        any::<u16>(),
    )
        .prop_map(|(shape, syn_version, flags, ks, kr, dl, cs)| MpCapable {
            version: if shape == 0 { syn_version } else { VERSION },
            flags,
            sender_key: (shape >= 1).then_some(ks),
            receiver_key: (shape >= 2).then_some(kr),
            data_len: (shape >= 3).then_some(dl),
            checksum: (shape >= 4).then_some(cs),
        })
}

/// Any MP_JOIN.
pub(crate) fn mp_join() -> impl Strategy<Value = MpJoin> {
    prop_oneof![
        (any::<bool>(), any::<u8>(), any::<u32>(), any::<u32>()).prop_map(
            |(backup, addr_id, token, nonce)| MpJoin::Syn {
                backup,
                addr_id,
                token,
                nonce
            }
        ),
        (any::<bool>(), any::<u8>(), any::<u64>(), any::<u32>()).prop_map(
            |(backup, addr_id, hmac, nonce)| MpJoin::SynAck {
                backup,
                addr_id,
                hmac,
                nonce
            }
        ),
        any::<[u8; 20]>().prop_map(|hmac| MpJoin::Ack { hmac }),
    ]
}

/// A sequence number of 8 octets, or of 4 octets (then below 2^32).
fn seq_field() -> impl Strategy<Value = (u64, bool)> {
    prop_oneof![
        any::<u64>().prop_map(|v| (v, true)),
        any::<u32>().prop_map(|v| (u64::from(v), false)),
    ]
}

/// A valid DSS mapping.
pub(crate) fn dss_mapping() -> impl Strategy<Value = DssMapping> {
    (
        seq_field(),
        any::<u32>(),
        any::<u16>(),
        any::<Option<u16>>(),
    )
        .prop_map(
            |((dsn, dsn_64), subflow_seq, data_len, checksum)| DssMapping {
                dsn,
                dsn_64,
                subflow_seq,
                data_len,
                checksum,
            },
        )
}

/// A valid DSS: any combination of DATA_ACK, mapping and DATA_FIN.
pub(crate) fn dss() -> impl Strategy<Value = Dss> {
    (
        proptest::option::of(seq_field()),
        proptest::option::of(dss_mapping()),
        any::<bool>(),
    )
        .prop_map(|(data_ack, mapping, data_fin)| Dss {
            data_ack,
            mapping,
            data_fin,
        })
}

/// Any ADD_ADDR (echo or not, with or without port).
pub(crate) fn add_addr() -> impl Strategy<Value = AddAddr> {
    (
        any::<u8>(),
        ip_addr(),
        any::<Option<u16>>(),
        any::<Option<u64>>(),
    )
        .prop_map(|(addr_id, addr, port, hmac)| AddAddr {
            addr_id,
            addr,
            port,
            hmac,
        })
}

/// A REMOVE_ADDR list of 1 to 37 IDs.
pub(crate) fn remove_addr_ids() -> impl Strategy<Value = ArrayVec<u8, 37>> {
    proptest::collection::vec(any::<u8>(), 1..=37).prop_map(|v| v.into_iter().collect())
}

/// Any valid MPTCP option: `emit` succeeds and `parse` gives it back.
pub(crate) fn mptcp_option() -> impl Strategy<Value = MptcpOption> {
    prop_oneof![
        mp_capable().prop_map(MptcpOption::MpCapable),
        mp_join().prop_map(MptcpOption::MpJoin),
        dss().prop_map(MptcpOption::Dss),
        add_addr().prop_map(MptcpOption::AddAddr),
        remove_addr_ids().prop_map(MptcpOption::RemoveAddr),
        any::<bool>().prop_map(|backup| MptcpOption::MpPrio { backup }),
        any::<u64>().prop_map(|dsn| MptcpOption::MpFail { dsn }),
        any::<u64>().prop_map(|receiver_key| MptcpOption::MpFastclose { receiver_key }),
        (0u8..16, any::<u8>()).prop_map(|(flags, reason)| MptcpOption::MpTcpRst { flags, reason }),
    ]
}

/// Any repr, including inconsistent ones `emit` must refuse.
pub(crate) fn any_mptcp_option_repr() -> impl Strategy<Value = MptcpOption> {
    let capable = (
        any::<u8>(),
        any::<u8>(),
        any::<Option<u64>>(),
        any::<Option<u64>>(),
        any::<Option<u16>>(),
        any::<Option<u16>>(),
    )
        .prop_map(
            |(version, flags, sender_key, receiver_key, data_len, checksum)| MpCapable {
                version,
                flags,
                sender_key,
                receiver_key,
                data_len,
                checksum,
            },
        );
    let mapping = (
        any::<u64>(),
        any::<bool>(),
        any::<u32>(),
        any::<u16>(),
        any::<Option<u16>>(),
    )
        .prop_map(
            |(dsn, dsn_64, subflow_seq, data_len, checksum)| DssMapping {
                dsn,
                dsn_64,
                subflow_seq,
                data_len,
                checksum,
            },
        );
    let dss = (
        any::<Option<(u64, bool)>>(),
        proptest::option::of(mapping),
        any::<bool>(),
    )
        .prop_map(|(data_ack, mapping, data_fin)| Dss {
            data_ack,
            mapping,
            data_fin,
        });
    prop_oneof![
        capable.prop_map(MptcpOption::MpCapable),
        dss.prop_map(MptcpOption::Dss),
        proptest::collection::vec(any::<u8>(), 0..=37)
            .prop_map(|v| MptcpOption::RemoveAddr(v.into_iter().collect())),
        (any::<u8>(), any::<u8>())
            .prop_map(|(flags, reason)| MptcpOption::MpTcpRst { flags, reason }),
        mptcp_option(),
    ]
}
