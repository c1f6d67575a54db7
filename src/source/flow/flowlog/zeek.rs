//! Zeek `conn.log` and `tunnel.log`, TSV (the `#separator`, `#fields`,
//! `#unset_field`, `#empty_field` and `#path` headers) or JSON lines.
//!
//! `conn.log`: `id.orig_h`/`id.resp_h`/ports, `proto`, `ts`, `duration`,
//! `orig_pkts`/`orig_ip_bytes` (originator to responder) and
//! `resp_pkts`/`resp_ip_bytes` (the reverse direction). A VXLAN or Geneve
//! outer connection is UDP to its port.
//!
//! `tunnel.log`: `tunnel_type` names the family (`Tunnel::GRE`,
//! `Tunnel::VXLAN`, `Tunnel::GENEVE`; `Tunnel::TEREDO`, `Tunnel::AYIYA`,
//! `Tunnel::IP` and the others are not mirror encapsulations) between
//! `id.orig_h` and `id.resp_h`; `action` (`DISCOVER`, `CLOSE`, `EXPIRE`)
//! gives times, not counts.
use std::borrow::Cow;

use serde_json::Value;

use super::{Ctx, Parsed, log_record};
use crate::decode::Encap;
use crate::source::flow::FlowFormat;

/// The TSV header state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    sep: String,
    unset: String,
    empty: String,
    path: Option<String>,
    fields: Vec<String>,
}

impl Header {
    fn new() -> Self {
        Header {
            sep: "\t".to_owned(),
            unset: "-".to_owned(),
            empty: "(empty)".to_owned(),
            path: None,
            fields: Vec::new(),
        }
    }

    fn tunnel(&self) -> bool {
        self.path.as_deref() == Some("tunnel") || self.fields.iter().any(|f| f == "tunnel_type")
    }

    /// What its records are called in warnings.
    pub fn what(&self) -> &'static str {
        if self.tunnel() {
            "tunnel.log record"
        } else {
            "conn.log record"
        }
    }
}

/// `\x09` escapes as Zeek writes the separator.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("\\x") {
        out.push_str(&rest[..i]);
        let hex = rest.get(i + 2..i + 4);
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(b) => {
                out.push(char::from(b));
                rest = &rest[i + 4..];
            }
            None => {
                out.push_str("\\x");
                rest = &rest[i + 2..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A `#...` header line.
pub fn directive(ctx: &mut Ctx<'_>, line: &str, lineno: u64) {
    if let Some(v) = line.strip_prefix("#separator ") {
        let mut h = Header::new();
        h.sep = unescape(v.trim_end_matches(['\r', '\n']));
        if h.sep.is_empty() {
            ctx.malformed(lineno, "zeek: empty #separator");
            return;
        }
        ctx.zeek = Some(h);
        ctx.formats[FlowFormat::Zeek as usize] = true;
        return;
    }
    let h = ctx.zeek.get_or_insert_with(Header::new);
    let sep = h.sep.clone();
    let Some((key, rest)) = line.split_once(sep.as_str()) else {
        return;
    };
    match key {
        "#fields" => h.fields = rest.split(sep.as_str()).map(str::to_owned).collect(),
        "#unset_field" => h.unset = rest.to_owned(),
        "#empty_field" => h.empty = rest.to_owned(),
        "#path" => h.path = Some(rest.to_owned()),
        _ => return,
    }
    ctx.formats[FlowFormat::Zeek as usize] = true;
}

/// One TSV data line under `h`.
pub fn tsv_line(h: &Header, line: &str) -> Parsed {
    if h.fields.is_empty() {
        return Err("a data line before the #fields header".to_owned());
    }
    let values: Vec<&str> = line.split(h.sep.as_str()).collect();
    if values.len() != h.fields.len() {
        return Err(format!(
            "{} fields where #fields names {}",
            values.len(),
            h.fields.len()
        ));
    }
    let get = |name: &str| -> Option<Cow<'_, str>> {
        let i = h.fields.iter().position(|f| f == name)?;
        let v = values.get(i)?;
        (*v != h.unset && *v != h.empty).then_some(Cow::Borrowed(*v))
    };
    if h.tunnel() { tunnel(&get) } else { conn(&get) }
}

/// One JSON record (`conn` or `tunnel` by its fields).
pub fn json(v: &Value) -> Parsed {
    let get = |name: &str| -> Option<Cow<'_, str>> {
        match v.get(name)? {
            Value::String(s) => Some(Cow::Borrowed(s.as_str())),
            Value::Number(n) => Some(Cow::Owned(n.to_string())),
            Value::Bool(b) => Some(Cow::Owned(b.to_string())),
            _ => None,
        }
    };
    if v.get("tunnel_type").is_some() {
        tunnel(&get)
    } else {
        conn(&get)
    }
}

type Get<'g> = dyn Fn(&str) -> Option<Cow<'g, str>> + 'g;

fn time(get: &Get<'_>, name: &str) -> Result<i64, String> {
    let v = get(name).ok_or(format!("no {name}"))?;
    super::secs_us(&v)
        .or_else(|| crate::logs::parse_rfc3339_us(&v))
        .ok_or(format!("{name} {v:?} is not a time"))
}

fn num<T: core::str::FromStr + Default>(get: &Get<'_>, name: &str) -> Result<T, String> {
    match get(name) {
        None => Ok(T::default()),
        Some(v) => v
            .parse()
            .map_err(|_| format!("{name} {v:?} is not a number")),
    }
}

fn endpoints(
    get: &Get<'_>,
    r: &mut crate::source::flow::FlowRecord<'static>,
) -> Result<(), String> {
    let ip = |name: &str| -> Result<core::net::IpAddr, String> {
        let v = get(name).ok_or(format!("no {name}"))?;
        v.parse()
            .map_err(|_| format!("{name} {v:?} is not an IP address"))
    };
    r.src = ip("id.orig_h")?;
    r.dst = ip("id.resp_h")?;
    r.src_port = num(get, "id.orig_p")?;
    r.dst_port = num(get, "id.resp_p")?;
    Ok(())
}

fn conn(get: &Get<'_>) -> Parsed {
    let start = time(get, "ts")?;
    let dur = match get("duration") {
        Some(d) => {
            let f: f64 = d.parse().map_err(|_| format!("duration {d:?}"))?;
            if !f.is_finite() || f < 0.0 {
                return Err(format!("duration {d:?}"));
            }
            (f * 1e6) as i64
        }
        None => 0,
    };
    let mut r = log_record(FlowFormat::Zeek, start, start.saturating_add(dur));
    endpoints(get, &mut r)?;
    r.protocol = match get("proto").as_deref() {
        Some("tcp") => 6,
        Some("udp") => 17,
        Some("icmp") if r.src.is_ipv6() => 58,
        Some("icmp") => 1,
        Some("unknown_transport") | None => 0,
        Some(other) => return Err(format!("proto {other:?}")),
    };
    r.packets = num(get, "orig_pkts")?;
    r.bytes = num(get, "orig_ip_bytes")?;
    r.rev_packets = num(get, "resp_pkts")?;
    r.rev_bytes = num(get, "resp_ip_bytes")?;
    Ok(Some(r))
}

fn tunnel(get: &Get<'_>) -> Parsed {
    let ts = time(get, "ts")?;
    let mut r = log_record(FlowFormat::Zeek, ts, ts);
    endpoints(get, &mut r)?;
    let kind = get("tunnel_type").ok_or("no tunnel_type")?;
    let (proto, family) = match kind.trim_start_matches("Tunnel::") {
        "GRE" => (47, Some(Encap::Gre)),
        "VXLAN" => (17, Some(Encap::Vxlan)),
        "GENEVE" => (17, Some(Encap::Geneve)),
        "TEREDO" | "AYIYA" | "GTPv1" => (17, None),
        "IP" => (4, None),
        "SOCKS" | "HTTP" => (6, None),
        other => return Err(format!("tunnel_type {other:?}")),
    };
    r.protocol = proto;
    r.tunnel = family;
    Ok(Some(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separator_escapes() {
        assert_eq!(unescape("\\x09"), "\t");
        assert_eq!(unescape("\\x2c"), ",");
        assert_eq!(unescape("\\xZZ"), "\\xZZ");
        assert_eq!(unescape("|"), "|");
    }

    #[test]
    fn json_conn_and_tunnel_records() {
        let v: Value = serde_json::from_str(
            r#"{"ts":1591367999.305988,"uid":"C1","id.orig_h":"10.0.0.5","id.orig_p":51234,"id.resp_h":"203.0.113.50","id.resp_p":4789,"proto":"udp","duration":2.5,"orig_pkts":40,"orig_ip_bytes":60000,"resp_pkts":0,"resp_ip_bytes":0}"#,
        )
        .expect("json");
        let r = json(&v).expect("ok").expect("record");
        assert_eq!(
            (r.protocol, r.dst_port, r.packets, r.bytes),
            (17, 4789, 40, 60_000)
        );
        assert_eq!(r.end_us - r.start_us, 2_500_000);
        let t: Value = serde_json::from_str(
            r#"{"ts":"2026-03-02T10:00:00.000000Z","uid":"C2","id.orig_h":"10.0.0.5","id.orig_p":0,"id.resp_h":"203.0.113.50","id.resp_p":0,"tunnel_type":"Tunnel::GRE","action":"Tunnel::DISCOVER"}"#,
        )
        .expect("json");
        let r = json(&t).expect("ok").expect("record");
        assert_eq!((r.protocol, r.tunnel), (47, Some(Encap::Gre)));
        let bad: Value = serde_json::from_str(
            r#"{"ts":1.0,"id.orig_h":"10.0.0.5","id.resp_h":"x","tunnel_type":"Tunnel::GRE"}"#,
        )
        .expect("json");
        assert!(json(&bad).is_err_and(|e| e.contains("id.resp_h")));
    }
}
