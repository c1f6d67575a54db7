//! GCP VPC Flow Logs: Cloud Logging entries (one per line as exported to
//! Cloud Storage or Pub/Sub, or a JSON array as `gcloud logging read
//! --format=json` writes) whose `jsonPayload` has `connection {src_ip,
//! dest_ip, src_port, dest_port, protocol}`, `bytes_sent`, `packets_sent`
//! (int64 values as strings), `start_time`, `end_time` and `reporter`. A
//! bare payload (no `jsonPayload` around it) is read too.
//!
//! Both ends of a flow between two VMs may report it: a `DEST` report
//! whose source is a VM (`src_instance`) is counted as skipped, the
//! source's own `SRC` report being the one counted. Entries that are not
//! flows (firewall rule logs, other payloads) are skipped.
use serde_json::Value;

use super::j;
use super::{Parsed, log_record};
use crate::source::flow::FlowFormat;

/// Is this payload a VPC flow (not a firewall rule log or another log)?
fn is_flow(entry: &Value, p: &Value) -> bool {
    let log = entry.get("logName").and_then(Value::as_str);
    log.is_some_and(|l| l.contains("vpc_flows"))
        || p.get("bytes_sent").is_some()
        || p.get("packets_sent").is_some()
        || p.get("reporter").is_some()
}

/// One log entry (or bare payload).
pub fn entry(v: &Value) -> Parsed {
    let p = v.get("jsonPayload").unwrap_or(v);
    let Some(c) = p.get("connection") else {
        return if v.get("jsonPayload").is_some() {
            Ok(None)
        } else {
            Err("no jsonPayload.connection".to_owned())
        };
    };
    if !is_flow(v, p) {
        return Ok(None);
    }
    if p.get("reporter").and_then(Value::as_str) == Some("DEST") && p.get("src_instance").is_some()
    {
        return Ok(None);
    }
    let start = j::time_us(p.get("start_time"))
        .or_else(|| j::time_us(v.get("timestamp")))
        .ok_or("no start_time")?;
    let end = j::time_us(p.get("end_time")).unwrap_or(start);
    let mut r = log_record(FlowFormat::GcpVpc, start, end);
    r.src = j::ip(c.get("src_ip"), "connection.src_ip")?;
    r.dst = j::ip(c.get("dest_ip"), "connection.dest_ip")?;
    r.src_port = j::port(c.get("src_port"))?;
    r.dst_port = j::port(c.get("dest_port"))?;
    let proto = j::count(c.get("protocol"))?;
    r.protocol = u8::try_from(proto).map_err(|_| format!("protocol {proto} out of range"))?;
    r.packets = j::count(p.get("packets_sent"))?;
    r.bytes = j::count(p.get("bytes_sent"))?;
    Ok(Some(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_payloads_and_duplicates() {
        let e: Value = serde_json::from_str(
            r#"{"jsonPayload":{"connection":{"src_ip":"10.128.0.7","dest_ip":"198.51.100.20","src_port":0,"dest_port":0,"protocol":47},
            "bytes_sent":"150000","packets_sent":"100","start_time":"2026-03-02T10:00:00.000Z","end_time":"2026-03-02T10:00:05Z","reporter":"SRC"},
            "logName":"projects/p/logs/compute.googleapis.com%2Fvpc_flows"}"#,
        )
        .expect("json");
        let r = entry(&e).expect("ok").expect("record");
        assert_eq!((r.protocol, r.packets, r.bytes), (47, 100, 150_000));
        assert_eq!(r.end_us - r.start_us, 5_000_000);
        let dup: Value = serde_json::from_str(
            r#"{"connection":{"src_ip":"10.0.0.1","dest_ip":"10.0.0.2","protocol":17},"reporter":"DEST","src_instance":{"vm_name":"a"}}"#,
        )
        .expect("json");
        assert_eq!(entry(&dup), Ok(None));
        let bad: Value = serde_json::from_str(
            r#"{"connection":{"src_ip":"10.0.0.999","dest_ip":"10.0.0.2","protocol":17},"reporter":"SRC","start_time":"2026-03-02T10:00:00Z"}"#,
        )
        .expect("json");
        assert!(entry(&bad).is_err_and(|e| e.contains("src_ip")));
    }
}
