//! Azure flow logs: VNet flow logs (`records[].flowRecords.flows[]
//! .flowGroups[].flowTuples[]`) and NSG flow logs (`records[].properties
//! .flows[].flows[].flowTuples[]`, version 2 with counts; version 1 tuples
//! carry none). A tuple is comma-separated:
//!
//! - VNet: time (ms since the epoch), source and destination address and
//!   port, protocol (IANA number), direction `I`/`O`, state `B`/`C`/`E`/`D`,
//!   encryption, then packets and bytes source to destination and
//!   destination to source;
//! - NSG v2: time (s), addresses, ports, protocol `T`/`U`, direction,
//!   decision `A`/`D`, state `B`/`C`/`E`, then the same four counts.
//!
//! Denied flows (state `D`, decision `D`) carried nothing and are counted
//! as skipped. Each tuple is one record; a bad tuple is warned about by
//! record, flow, group and tuple number, the others are read.
use serde_json::Value;

use super::{Ctx, Doc, Parsed, log_record};
use crate::source::flow::capture::MAX_WARNINGS;
use crate::source::flow::{Direction, FlowFormat};

/// A single NSG record (no `records` wrapper around it).
pub fn is_nsg_record(v: &Value) -> bool {
    v.get("properties")
        .and_then(|p| p.get("flows"))
        .is_some_and(Value::is_array)
}

fn arr<'v>(v: &'v Value, key: &str) -> &'v [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A document (`{"records": [...]}`) or a single record.
pub(crate) fn document(ctx: &mut Ctx<'_>, v: &Value, line: u64, at: &str, doc: Option<Doc<'_>>) {
    let f = FlowFormat::AzureVnet;
    ctx.formats[f as usize] = true;
    let single = std::slice::from_ref(v);
    let records: &[Value] = match v.get("records") {
        Some(Value::Array(a)) => a,
        Some(_) => {
            ctx.malformed(line, format_args!("{f} {at}records is not an array"));
            return;
        }
        None => single,
    };
    for (ri, rec) in records.iter().enumerate() {
        if let Some(fr) = rec.get("flowRecords") {
            for (fi, flow) in arr(fr, "flows").iter().enumerate() {
                for (gi, group) in arr(flow, "flowGroups").iter().enumerate() {
                    for (ti, t) in arr(group, "flowTuples").iter().enumerate() {
                        let p = t
                            .as_str()
                            .ok_or("not a string".to_owned())
                            .and_then(vnet_tuple);
                        let what = format!("{at}record {ri} flow {fi} group {gi} tuple {ti}");
                        let l = tuple_line(ctx, &p, t, line, doc);
                        ctx.take(f, l, &what, p);
                    }
                }
            }
        } else if is_nsg_record(rec) {
            let props = rec.get("properties").unwrap_or(&Value::Null);
            for (fi, rule) in arr(props, "flows").iter().enumerate() {
                for (gi, group) in arr(rule, "flows").iter().enumerate() {
                    for (ti, t) in arr(group, "flowTuples").iter().enumerate() {
                        let p = t
                            .as_str()
                            .ok_or("not a string".to_owned())
                            .and_then(nsg_tuple);
                        let what = format!("{at}record {ri} rule {fi} flow {gi} tuple {ti}");
                        let l = tuple_line(ctx, &p, t, line, doc);
                        ctx.take(f, l, &what, p);
                    }
                }
            }
        } else {
            ctx.malformed(
                line,
                format_args!("{f} {at}record {ri}: no flowRecords or properties.flows"),
            );
        }
    }
}

/// The line a bad tuple is on in a multi-line document (looked up only
/// for warnings that are kept); else the line of the value.
fn tuple_line(ctx: &Ctx<'_>, p: &Parsed, t: &Value, line: u64, doc: Option<Doc<'_>>) -> u64 {
    if p.is_ok() || ctx.input.warnings.len() >= MAX_WARNINGS {
        return line;
    }
    let (Some(d), Some(s)) = (doc, t.as_str()) else {
        return line;
    };
    d.line_of(&format!("\"{s}\""), line).unwrap_or(line)
}

fn count(s: Option<&str>, name: &str) -> Result<u64, String> {
    match s.map(str::trim) {
        None | Some("") => Ok(0),
        Some(v) => v
            .parse()
            .map_err(|_| format!("{name} {v:?} is not a number")),
    }
}

/// The fields both tuple kinds share: addresses, ports, direction, counts
/// (from index `c`).
fn common(fields: &[&str], time_us: i64, c: usize) -> Parsed {
    let mut r = log_record(FlowFormat::AzureVnet, time_us, time_us);
    let get = |i: usize| fields.get(i).copied();
    r.src = get(1)
        .unwrap_or("")
        .parse()
        .map_err(|_| format!("source address {:?}", get(1).unwrap_or("")))?;
    r.dst = get(2)
        .unwrap_or("")
        .parse()
        .map_err(|_| format!("destination address {:?}", get(2).unwrap_or("")))?;
    let port = |i: usize, name: &str| -> Result<u16, String> {
        let v = get(i).unwrap_or("");
        v.parse().map_err(|_| format!("{name} {v:?}"))
    };
    r.src_port = port(3, "source port")?;
    r.dst_port = port(4, "destination port")?;
    r.direction = match get(6) {
        Some("I") => Some(Direction::Ingress),
        Some("O") => Some(Direction::Egress),
        other => return Err(format!("direction {:?}", other.unwrap_or(""))),
    };
    r.packets = count(get(c), "packets")?;
    r.bytes = count(get(c + 1), "bytes")?;
    r.rev_packets = count(get(c + 2), "packets")?;
    r.rev_bytes = count(get(c + 3), "bytes")?;
    Ok(Some(r))
}

/// A VNet flow log tuple (13 fields).
pub fn vnet_tuple(t: &str) -> Parsed {
    let fields: Vec<&str> = t.split(',').collect();
    if fields.len() != 13 {
        return Err(format!("{} fields, VNet tuples have 13", fields.len()));
    }
    let ms: i64 = fields[0]
        .parse()
        .map_err(|_| format!("time {:?}", fields[0]))?;
    match fields[7] {
        "B" | "C" | "E" => {}
        "D" => return Ok(None),
        other => return Err(format!("state {other:?}")),
    }
    let proto: u8 = fields[5]
        .parse()
        .map_err(|_| format!("protocol {:?}", fields[5]))?;
    let mut p = common(&fields, ms.saturating_mul(1000), 9)?;
    if let Some(r) = p.as_mut() {
        r.protocol = proto;
    }
    Ok(p)
}

/// An NSG flow log tuple (13 fields in version 2, 8 in version 1).
pub fn nsg_tuple(t: &str) -> Parsed {
    let fields: Vec<&str> = t.split(',').collect();
    if fields.len() != 13 && fields.len() != 8 {
        return Err(format!(
            "{} fields, NSG tuples have 13 (version 2) or 8 (version 1)",
            fields.len()
        ));
    }
    let s: i64 = fields[0]
        .parse()
        .map_err(|_| format!("time {:?}", fields[0]))?;
    let proto = match fields[5] {
        "T" => 6,
        "U" => 17,
        other => return Err(format!("protocol {other:?}")),
    };
    match fields[7] {
        "A" => {}
        "D" => return Ok(None),
        other => return Err(format!("decision {other:?}")),
    }
    if let Some(st) = fields
        .get(8)
        .filter(|s| !matches!(**s, "B" | "C" | "E" | ""))
    {
        return Err(format!("state {st:?}"));
    }
    let mut p = common(&fields, s.saturating_mul(1_000_000), 9)?;
    if let Some(r) = p.as_mut() {
        r.protocol = proto;
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vnet_and_nsg_tuples() {
        let r = vnet_tuple("1663146003606,10.0.0.6,192.0.2.180,23956,443,6,O,E,NX,3,767,2,1580")
            .expect("ok")
            .expect("record");
        assert_eq!(
            (r.protocol, r.packets, r.bytes, r.rev_packets, r.rev_bytes),
            (6, 3, 767, 2, 1580)
        );
        assert_eq!(r.start_us, 1_663_146_003_606_000);
        assert_eq!(r.direction, Some(Direction::Egress));
        assert_eq!(
            vnet_tuple("1663146003606,10.0.0.6,192.0.2.180,1,2,6,O,D,NX,0,0,0,0"),
            Ok(None)
        );
        assert!(vnet_tuple("1663146003606,10.0.0.6,192.0.2.180,1,2,6,O,E").is_err());
        let n = nsg_tuple("1542110377,10.0.0.4,13.67.143.118,44931,4789,U,O,A,C,30,4200,0,0")
            .expect("ok")
            .expect("record");
        assert_eq!((n.protocol, n.dst_port, n.packets), (17, 4789, 30));
        assert_eq!(
            nsg_tuple("1542110377,10.0.0.4,13.67.143.118,44931,443,T,O,D,B,,,,"),
            Ok(None)
        );
        assert!(nsg_tuple("1542110377,10.0.0.4,13.67.143.118,44931,443,X,O,A,B,,,,").is_err());
    }
}
