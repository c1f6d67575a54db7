//! Suricata EVE JSON `flow` and `netflow` events. A `flow` event covers
//! both directions (`flow.pkts_toserver`/`bytes_toserver` from `src_ip` to
//! `dest_ip`, `pkts_toclient`/`bytes_toclient` back); a `netflow` event one
//! (`netflow.pkts`, `netflow.bytes`). `proto` is a name (`TCP`, `UDP`,
//! `GRE`, ...) or a number.
//!
//! Where the event has a `tunnel` object (`src_ip`, `dest_ip`, `proto`,
//! ports for UDP tunnels, `depth`), the flow was seen inside a tunnel: the
//! record is the tunnel's, from `tunnel.src_ip` to `tunnel.dest_ip`,
//! carrying all the inner flow's packets (a mirror carries both directions
//! of what it copies one way). Other event types are skipped.
use serde_json::Value;

use super::j;
use super::{Parsed, log_record};
use crate::decode::Encap;
use crate::source::flow::FlowFormat;

/// The IP protocol number and, for names of tunnel protocols Suricata
/// decodes, the family.
fn proto(v: Option<&Value>) -> Result<(u8, Option<Encap>), String> {
    let Some(v) = v else {
        return Ok((0, None));
    };
    if let Some(n) = v.as_u64() {
        return u8::try_from(n)
            .map(|p| (p, None))
            .map_err(|_| format!("proto {n}"));
    }
    let s = v.as_str().ok_or("proto is not a string")?;
    Ok(match s.to_ascii_uppercase().as_str() {
        "TCP" => (6, None),
        "UDP" => (17, None),
        "ICMP" => (1, None),
        "IPV6-ICMP" | "ICMPV6" => (58, None),
        "GRE" => (47, None),
        "SCTP" => (132, None),
        "ESP" => (50, None),
        "VXLAN" => (17, Some(Encap::Vxlan)),
        "GENEVE" => (17, Some(Encap::Geneve)),
        "ERSPAN" => (47, Some(Encap::Gre)),
        other => match other.parse::<u8>() {
            Ok(p) => (p, None),
            Err(_) => return Err(format!("proto {s:?}")),
        },
    })
}

/// One EVE event.
pub fn event(v: &Value) -> Parsed {
    let kind = v
        .get("event_type")
        .and_then(Value::as_str)
        .ok_or("no event_type")?;
    let (body, both) = match kind {
        "flow" => (v.get("flow").ok_or("no flow object")?, true),
        "netflow" => (v.get("netflow").ok_or("no netflow object")?, false),
        _ => return Ok(None),
    };
    let start = j::time_us(body.get("start"))
        .or_else(|| j::time_us(v.get("timestamp")))
        .ok_or("no flow start or timestamp")?;
    let end = j::time_us(body.get("end")).unwrap_or(start);
    let mut r = log_record(FlowFormat::Suricata, start, end);
    let (packets, bytes, rev_packets, rev_bytes) = if both {
        (
            j::count(body.get("pkts_toserver"))?,
            j::count(body.get("bytes_toserver"))?,
            j::count(body.get("pkts_toclient"))?,
            j::count(body.get("bytes_toclient"))?,
        )
    } else {
        (
            j::count(body.get("pkts"))?,
            j::count(body.get("bytes"))?,
            0,
            0,
        )
    };
    let inner_src = j::ip(v.get("src_ip"), "src_ip")?;
    let inner_dst = j::ip(v.get("dest_ip"), "dest_ip")?;
    let (inner_proto, _) = proto(v.get("proto"))?;
    match v.get("tunnel").filter(|t| t.is_object()) {
        Some(t) => {
            r.src = j::ip(t.get("src_ip"), "tunnel.src_ip")?;
            r.dst = j::ip(t.get("dest_ip"), "tunnel.dest_ip")?;
            let (p, family) = proto(t.get("proto"))?;
            r.protocol = p;
            r.tunnel = family;
            r.src_port = j::port(t.get("src_port"))?;
            r.dst_port = j::port(t.get("dest_port"))?;
            r.packets = packets.saturating_add(rev_packets);
            r.bytes = bytes.saturating_add(rev_bytes);
        }
        None => {
            r.src = inner_src;
            r.dst = inner_dst;
            r.protocol = inner_proto;
            r.src_port = j::port(v.get("src_port"))?;
            r.dst_port = j::port(v.get("dest_port"))?;
            r.packets = packets;
            r.bytes = bytes;
            r.rev_packets = rev_packets;
            r.rev_bytes = rev_bytes;
        }
    }
    Ok(Some(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_netflow_tunnel_and_other_events() {
        let f: Value = serde_json::from_str(
            r#"{"timestamp":"2026-03-02T10:00:09.000000+0100","event_type":"flow","src_ip":"10.1.0.2","src_port":0,"dest_ip":"198.51.100.9","dest_port":0,"proto":"GRE",
            "flow":{"pkts_toserver":12,"pkts_toclient":0,"bytes_toserver":9000,"bytes_toclient":0,"start":"2026-03-02T10:00:00.000000+0100","end":"2026-03-02T10:00:08.000000+0100"}}"#,
        )
        .expect("json");
        let r = event(&f).expect("ok").expect("record");
        assert_eq!((r.protocol, r.packets, r.bytes), (47, 12, 9000));
        assert_eq!(r.end_us - r.start_us, 8_000_000);
        let t: Value = serde_json::from_str(
            r#"{"event_type":"flow","src_ip":"192.168.1.5","dest_ip":"192.168.1.6","proto":"TCP","src_port":1,"dest_port":443,
            "flow":{"pkts_toserver":3,"pkts_toclient":2,"bytes_toserver":300,"bytes_toclient":200,"start":"2026-03-02T10:00:00Z"},
            "tunnel":{"src_ip":"10.1.0.3","dest_ip":"203.0.113.77","proto":"UDP","src_port":40000,"dest_port":4789,"depth":1}}"#,
        )
        .expect("json");
        let r = event(&t).expect("ok").expect("record");
        assert_eq!(
            (r.src.to_string(), r.dst_port, r.packets, r.rev_packets),
            ("10.1.0.3".to_owned(), 4789, 5, 0)
        );
        let a: Value =
            serde_json::from_str(r#"{"event_type":"alert","src_ip":"1.1.1.1"}"#).expect("json");
        assert_eq!(event(&a), Ok(None));
        let bad: Value = serde_json::from_str(r#"{"event_type":"netflow","src_ip":"1.1.1.1","dest_ip":"2.2.2.2","netflow":{"pkts":"x","start":"2026-03-02T10:00:00Z"}}"#)
            .expect("json");
        assert!(event(&bad).is_err());
    }
}
