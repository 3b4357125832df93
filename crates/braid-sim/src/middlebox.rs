//! Middleboxes for tests: rewrite a packet's TCP segment in a link
//! filter ([`crate::Sim::set_filter`]), as a NAT, an option-stripping
//! firewall or an injector of resets would.

use braid_proto::wire::{IpProtocol, IpRepr, TcpOptions, TcpRepr};

/// Rewrite a packet through its parsed TCP segment: `f` edits the header
/// and payload and returns whether to re-emit (checksums recomputed, as a
/// middlebox that rewrites would). A packet that does not parse, or whose
/// rewritten segment cannot be emitted (options over TCP's 40 bytes), is
/// left as it was.
pub fn rewrite(packet: &mut Vec<u8>, f: impl FnOnce(&mut TcpRepr<'static>, &mut Vec<u8>) -> bool) {
    let (src, dst, mut hdr, mut data) = {
        let Ok((ip, bytes)) = IpRepr::parse(packet) else {
            return;
        };
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let Ok(seg) = TcpRepr::parse(bytes, src, dst) else {
            return;
        };
        let o = &seg.options;
        let options = TcpOptions {
            mss: o.mss,
            window_scale: o.window_scale,
            sack_permitted: o.sack_permitted,
            sack_blocks: o.sack_blocks.clone(),
            timestamps: o.timestamps,
            mptcp: o.mptcp.clone(),
            unknown: Default::default(),
            ignored: Default::default(),
        };
        let hdr = TcpRepr {
            src_port: seg.src_port,
            dst_port: seg.dst_port,
            seq_number: seg.seq_number,
            ack_number: seg.ack_number,
            flags: seg.flags,
            window_len: seg.window_len,
            urgent_ptr: seg.urgent_ptr,
            options,
            payload: &[],
        };
        (src, dst, hdr, seg.payload.to_vec())
    };
    if !f(&mut hdr, &mut data) {
        return;
    }
    let seg = TcpRepr {
        payload: &data,
        ..hdr
    };
    let Ok(ip) = IpRepr::new(src, dst, IpProtocol::Tcp, seg.buffer_len(), 64) else {
        return;
    };
    let mut out = vec![0; ip.total_len()];
    if ip.emit(&mut out).is_ok() && seg.emit(&mut out[ip.header_len()..], src, dst).is_ok() {
        *packet = out;
    }
}
