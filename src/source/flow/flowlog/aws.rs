//! AWS VPC Flow Logs: space-separated records of the default format (v2:
//! `version account-id interface-id srcaddr dstaddr srcport dstport
//! protocol packets bytes start end action log-status`) or of a custom
//! format (v2-v7) named by the header line S3 files start with (the
//! `${field}` names without the braces). `-` is an absent value; `NODATA`
//! and `SKIPDATA` records and rejected flows carry no traffic and are
//! counted as skipped. Where the record has `pkt-srcaddr` / `pkt-dstaddr`
//! (the addresses of the packets, not of the interface) they are used.
use core::net::{IpAddr, Ipv4Addr};

use super::{Ctx, Parsed, log_record};
use crate::source::flow::{Direction, FlowFormat};

/// The fields of the default format, in order.
pub const DEFAULT_FIELDS: [&str; 14] = [
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
];

/// Positions of the fields used, from a header line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    n: usize,
    srcaddr: Option<usize>,
    dstaddr: Option<usize>,
    pkt_srcaddr: Option<usize>,
    pkt_dstaddr: Option<usize>,
    srcport: Option<usize>,
    dstport: Option<usize>,
    protocol: Option<usize>,
    packets: Option<usize>,
    bytes: Option<usize>,
    start: Option<usize>,
    end: Option<usize>,
    action: Option<usize>,
    log_status: Option<usize>,
    flow_direction: Option<usize>,
}

impl Header {
    pub fn new(names: &[&str]) -> Self {
        let at = |f: &str| names.iter().position(|n| *n == f);
        Header {
            n: names.len(),
            srcaddr: at("srcaddr"),
            dstaddr: at("dstaddr"),
            pkt_srcaddr: at("pkt-srcaddr"),
            pkt_dstaddr: at("pkt-dstaddr"),
            srcport: at("srcport"),
            dstport: at("dstport"),
            protocol: at("protocol"),
            packets: at("packets"),
            bytes: at("bytes"),
            start: at("start"),
            end: at("end"),
            action: at("action"),
            log_status: at("log-status"),
            flow_direction: at("flow-direction"),
        }
    }

    pub fn default_format() -> Self {
        Header::new(&DEFAULT_FIELDS)
    }
}

/// A field name as AWS writes it (`pkt-srcaddr`, `${pkt-srcaddr}`).
fn field_name(t: &str) -> Option<&str> {
    let t = t
        .strip_prefix("${")
        .and_then(|x| x.strip_suffix('}'))
        .unwrap_or(t);
    let ok = t.starts_with(|c: char| c.is_ascii_lowercase())
        && t.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    ok.then_some(t)
}

/// The field names of a header line, if it is one.
fn header(tokens: &[&str]) -> Option<Vec<String>> {
    let names: Vec<&str> = tokens
        .iter()
        .map(|t| field_name(t))
        .collect::<Option<_>>()?;
    let has_addr = names
        .iter()
        .any(|n| matches!(*n, "srcaddr" | "dstaddr" | "pkt-srcaddr" | "pkt-dstaddr"));
    has_addr.then(|| names.into_iter().map(str::to_owned).collect())
}

/// Reads one line: a header (kept for the lines after it) or a record.
pub fn line(ctx: &mut Ctx<'_>, line: &str, lineno: u64) {
    let tokens: Vec<&str> = line.split_ascii_whitespace().collect();
    if let Some(names) = header(&tokens) {
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        ctx.aws = Some(Header::new(&refs));
        ctx.formats[FlowFormat::AwsVpc as usize] = true;
        return;
    }
    let p = match &ctx.aws {
        Some(h) => record(h, &tokens),
        // No header: only the default format can be read.
        None if tokens.len() == DEFAULT_FIELDS.len() && tokens.first() == Some(&"2") => {
            record(&Header::default_format(), &tokens)
        }
        None => Err(format!(
            "{} fields and no header line naming them (not the default format)",
            tokens.len()
        )),
    };
    ctx.take(FlowFormat::AwsVpc, lineno, "record", p);
}

fn value<'t>(tokens: &[&'t str], at: Option<usize>) -> Option<&'t str> {
    at.and_then(|i| tokens.get(i))
        .copied()
        .filter(|v| *v != "-")
}

fn num<T: core::str::FromStr>(
    tokens: &[&str],
    at: Option<usize>,
    name: &str,
) -> Result<Option<T>, String> {
    match value(tokens, at) {
        None => Ok(None),
        Some(v) => v
            .parse::<T>()
            .map(Some)
            .map_err(|_| format!("{name} {v:?} is not a number")),
    }
}

fn addr(tokens: &[&str], at: Option<usize>, name: &str) -> Result<Option<IpAddr>, String> {
    match value(tokens, at) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| format!("{name} {v:?} is not an IP address")),
    }
}

/// One record under `h`.
pub fn record(h: &Header, tokens: &[&str]) -> Parsed {
    if tokens.len() != h.n {
        return Err(format!(
            "{} fields where the format has {}",
            tokens.len(),
            h.n
        ));
    }
    if let Some(s) = value(tokens, h.log_status) {
        match s {
            "OK" => {}
            "NODATA" | "SKIPDATA" => return Ok(None),
            other => return Err(format!("log-status {other:?}")),
        }
    }
    if value(tokens, h.action) == Some("REJECT") {
        return Ok(None);
    }
    let start: Option<i64> = num(tokens, h.start, "start")?;
    let end: Option<i64> = num(tokens, h.end, "end")?;
    let start_us = start.unwrap_or(0).saturating_mul(1_000_000);
    let end_us = end.map_or(start_us, |e| e.saturating_mul(1_000_000));
    let mut r = log_record(FlowFormat::AwsVpc, start_us, end_us);
    let src = addr(tokens, h.pkt_srcaddr, "pkt-srcaddr")?.or(addr(tokens, h.srcaddr, "srcaddr")?);
    let dst = addr(tokens, h.pkt_dstaddr, "pkt-dstaddr")?.or(addr(tokens, h.dstaddr, "dstaddr")?);
    let none = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    r.src = src.unwrap_or(none);
    r.dst = dst.unwrap_or(none);
    r.src_port = num(tokens, h.srcport, "srcport")?.unwrap_or(0);
    r.dst_port = num(tokens, h.dstport, "dstport")?.unwrap_or(0);
    r.protocol = num(tokens, h.protocol, "protocol")?.unwrap_or(0);
    r.packets = num(tokens, h.packets, "packets")?.unwrap_or(0);
    r.bytes = num(tokens, h.bytes, "bytes")?.unwrap_or(0);
    r.direction = match value(tokens, h.flow_direction) {
        Some("ingress") => Some(Direction::Ingress),
        Some("egress") => Some(Direction::Egress),
        Some(other) => return Err(format!("flow-direction {other:?}")),
        None => None,
    };
    Ok(Some(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<&str> {
        s.split_ascii_whitespace().collect()
    }

    #[test]
    fn default_format_records() {
        let h = Header::default_format();
        let r = record(
            &h,
            &toks("2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"),
        )
        .expect("ok")
        .expect("record");
        assert_eq!(r.src.to_string(), "172.31.16.139");
        assert_eq!((r.src_port, r.dst_port, r.protocol), (20641, 22, 6));
        assert_eq!((r.packets, r.bytes), (20, 4249));
        assert_eq!(
            (r.start_us, r.end_us),
            (1_418_530_010_000_000, 1_418_530_070_000_000)
        );
        let nodata = toks(
            "2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA",
        );
        assert_eq!(record(&h, &nodata), Ok(None));
        let bad = toks("2 123456789010 eni-1 10.0.0.1 10.0.0.2 x 22 6 20 4249 1 2 ACCEPT OK");
        assert!(record(&h, &bad).is_err_and(|e| e.contains("srcport \"x\"")));
        assert!(record(&h, &bad[..5]).is_err());
    }

    /// The fields of versions 3 and 7 (ECS fields and reject-reason, `-`
    /// where absent) read by name, whatever their number and order.
    #[test]
    fn version_3_and_7_headers() {
        let v3 = "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status";
        let names = header(&toks(v3)).expect("v3 header");
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let h = Header::new(&refs);
        let r = record(&h, &toks("3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 123456789010 IPv4 52.213.180.42 10.0.0.62 43416 5001 52.213.180.42 10.0.0.62 6 568 8 1566848875 1566848933 ACCEPT 2 OK"))
            .expect("ok")
            .expect("record");
        assert_eq!((r.packets, r.bytes, r.dst_port), (8, 568, 5001));
        let v7 = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr region az-id sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path ecs-cluster-arn ecs-cluster-name ecs-container-instance-arn ecs-container-instance-id ecs-container-id ecs-second-container-id ecs-service-name ecs-task-definition-arn ecs-task-arn ecs-task-id reject-reason";
        let names = header(&toks(v7)).expect("v7 header");
        assert_eq!(names.len(), 40);
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let h = Header::new(&refs);
        let line = "7 123456789010 eni-0a1b2c3d4e5f60718 10.0.4.9 198.51.100.61 0 0 47 33 42000 1767261600 1767261660 ACCEPT OK vpc-1 subnet-1 i-1 0 IPv4 10.0.4.9 198.51.100.61 eu-west-1 euw1-az2 - - - - egress 8 - - - - - - - - - - -";
        let r = record(&h, &toks(line)).expect("ok").expect("record");
        assert_eq!(
            (r.protocol, r.packets, r.dst.to_string()),
            (47, 33, "198.51.100.61".to_owned())
        );
        assert_eq!(r.direction, Some(Direction::Egress));
    }

    #[test]
    fn custom_header_uses_packet_addresses() {
        let names = toks(
            "version srcaddr dstaddr pkt-srcaddr pkt-dstaddr protocol packets bytes flow-direction",
        );
        let hdr = header(&names).expect("a header");
        let refs: Vec<&str> = hdr.iter().map(String::as_str).collect();
        let h = Header::new(&refs);
        let r = record(
            &h,
            &toks("5 10.0.1.5 10.0.2.9 10.0.1.5 203.0.113.7 47 9 900 egress"),
        )
        .expect("ok")
        .expect("record");
        assert_eq!(r.dst.to_string(), "203.0.113.7");
        assert_eq!(r.direction, Some(Direction::Egress));
        assert!(header(&toks("2 123 eni-1 10.0.0.1")).is_none());
        assert!(header(&toks("${version} ${srcaddr}")).is_some());
    }
}
