//! Feeds arbitrary bytes through Braid's IP, TCP and MPTCP parsers, and
//! re-emits whatever parses: parsing must never panic, and anything that
//! parses must survive `parse(emit(parse(x))) == parse(x)`.
#![no_main]

use braid_proto::wire::checksum;
use braid_proto::wire::{IpRepr, MptcpOption, TcpRepr};
use core::net::{IpAddr, Ipv4Addr};
use libfuzzer_sys::fuzz_target;

const SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 1, 2));
const DST: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1));

fn tcp_round_trip(segment: &[u8], src: IpAddr, dst: IpAddr) {
    let Ok(mut repr) = TcpRepr::parse(segment, src, dst) else {
        return;
    };
    // Options the parser skipped (as Linux does) are counted, not emitted.
    repr.options.ignored = Default::default();
    // Options that a peer packed without padding may not fit our canonical
    // (padded) layout; that is a refusal to emit, checked here, not a crash.
    if repr.options.buffer_len() > braid_proto::wire::tcp::MAX_OPTIONS_LEN {
        let mut out = vec![0u8; 60 + repr.payload.len()];
        assert!(repr.emit(&mut out, src, dst).is_err());
        return;
    }
    let mut out = vec![0u8; repr.buffer_len()];
    let n = repr
        .emit(&mut out, src, dst)
        .expect("a parsed segment re-emits");
    let again = TcpRepr::parse(&out[..n], src, dst).expect("re-emitted segment parses");
    assert_eq!(again, repr);
}

fuzz_target!(|data: &[u8]| {
    // 1. As a whole IP packet.
    if let Ok((ip, payload)) = IpRepr::parse(data) {
        let mut hdr = vec![0u8; ip.header_len()];
        ip.emit(&mut hdr).expect("a parsed IP header re-emits");
        tcp_round_trip(payload, ip.src_addr(), ip.dst_addr());
    }

    // 2. As a TCP segment with a correct checksum patched in, so the option
    //    parsers are reached for almost every input.
    if data.len() >= 20 {
        let mut seg = data.to_vec();
        seg[16] = 0;
        seg[17] = 0;
        let sum = checksum::pseudo_header(SRC, DST, 6, seg.len() as u32);
        let c = !checksum::fold(checksum::sum(sum, &seg));
        seg[16..18].copy_from_slice(&c.to_be_bytes());
        tcp_round_trip(&seg, SRC, DST);
    }

    // 3. As one MPTCP option, with kind and length patched to fit.
    if data.len() >= 3 && data.len() <= 40 {
        let mut opt = data.to_vec();
        opt[0] = 30;
        opt[1] = opt.len() as u8;
        if let Ok(o) = MptcpOption::parse(&opt) {
            let mut out = vec![0u8; o.buffer_len()];
            let n = o.emit(&mut out).expect("a parsed option re-emits");
            assert_eq!(
                MptcpOption::parse(&out[..n]).expect("re-emitted option parses"),
                o
            );
        }
    }
});
