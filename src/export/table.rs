//! The human-readable replay summary.
use std::fmt::Write as _;

use crate::report::Report;

/// Bytes with a binary-free SI suffix, e.g. `1.5 MB`.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Renders the session table, the totals and the decode errors.
/// Alert kinds as `a,b`, or `-` for none.
pub fn alert_list(kinds: &[crate::detect::alert::AlertKind]) -> String {
    if kinds.is_empty() {
        return "-".to_owned();
    }
    kinds
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Appends `headers` and `rows` as columns two spaces apart, each as wide
/// as its widest cell; columns marked in `numeric` are right-aligned, the
/// rest (and any beyond `numeric`) left-aligned.
pub fn aligned<R: AsRef<[String]>>(
    out: &mut String,
    headers: &[&str],
    rows: &[R],
    numeric: &[bool],
) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row.as_ref()) {
            *w = (*w).max(c.len());
        }
    }
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (i, c) in cells.enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            let w = widths.get(i).copied().unwrap_or(0);
            if numeric.get(i).copied().unwrap_or(false) {
                let _ = write!(l, "{c:>w$}");
            } else {
                let _ = write!(l, "{c:<w$}");
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut headers.iter().copied());
    for row in rows {
        line(&mut row.as_ref().iter().map(String::as_str));
    }
}

pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let headers: [&str; 15] = [
        "ENCAP",
        "SOURCE",
        "DESTINATION",
        "ID",
        "CLASS",
        "VERDICT",
        "PACKETS",
        "BYTES",
        "INNER",
        "FLOWS",
        "DUPS",
        "VLANS",
        "FIRST SEEN",
        "LAST SEEN",
        "ALERTS",
    ];
    let rows: Vec<[String; 15]> = r
        .sessions
        .iter()
        .map(|s| {
            let vlans = match s.inner_vlans.len() {
                0 => "-".to_owned(),
                1..=3 => s
                    .inner_vlans
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
                n => format!("{n} ids"),
            };
            [
                s.encap.to_string(),
                s.src.clone(),
                s.dst.clone(),
                s.id.map_or_else(|| "-".to_owned(), |i| i.to_string()),
                s.dst_class.as_str().to_owned(),
                s.verdict.as_str().to_owned(),
                s.packets.to_string(),
                human_bytes(s.bytes),
                human_bytes(s.inner_bytes),
                s.inner_flows.to_string(),
                s.duplicates.packets.to_string(),
                vlans,
                s.first_seen.clone(),
                s.last_seen.clone(),
                alert_list(&s.alerts),
            ]
        })
        .collect();
    // Once flow records were read, who saw each session.
    let flows = r.flows.is_some();
    let mut headers: Vec<&str> = headers.to_vec();
    let mut rows: Vec<Vec<String>> = rows.into_iter().map(Vec::from).collect();
    if flows {
        headers.insert(14, "SEEN BY");
        for (row, s) in rows.iter_mut().zip(&r.sessions) {
            let est = if s.estimated == Some(true) { "~" } else { "" };
            let seen = s.seen_by.as_deref().unwrap_or_default().join(",");
            row.insert(14, format!("{seen}{est}"));
        }
    }
    if rows.is_empty() {
        out.push_str("No mirror or tunnel sessions found.\n");
    } else {
        let numeric = [
            false, false, false, true, false, false, true, true, true, true, true, false, false,
            false, false,
        ];
        aligned(&mut out, &headers, &rows, &numeric);
    }
    let encapsulated: u64 = r.sessions.iter().map(|s| s.packets).sum();
    let _ = writeln!(
        out,
        "\n{} file(s), {} packets ({}), {} in {} session(s){}",
        r.files.len(),
        r.packets,
        human_bytes(r.bytes),
        encapsulated,
        r.sessions.len(),
        if r.sessions_evicted > 0 {
            format!(", {} session(s) evicted", r.sessions_evicted)
        } else {
            String::new()
        }
    );
    let d = &r.duplicates;
    let _ = writeln!(
        out,
        "duplicates: {} native/encapsulated, {} session/session, {} native/native{}",
        d.paths.native_encapsulated,
        d.paths.session_session,
        d.paths.native_native,
        if d.flow_pairs.is_empty() {
            String::new()
        } else {
            format!("; {} flow pair(s) with shared payloads", d.flow_pairs.len())
        }
    );
    if let Some(f) = &r.flows {
        let c = &f.collector;
        let _ = writeln!(
            out,
            "flows: {} records ({} input(s), {} datagrams), {} errors, {} templates, {} data sets before their template ({} dropped)",
            f.records,
            f.inputs.len(),
            c.counters.datagrams,
            f.inputs.iter().map(|i| i.errors).sum::<u64>() + c.counters.errors,
            c.templates,
            c.counters.pending_held,
            c.counters.pending_dropped
        );
    }
    if r.alerts.is_empty() {
        out.push_str("alerts: none\n");
    } else {
        let list: Vec<String> = r.alerts.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(out, "alerts: {}", list.join(", "));
    }
    let total = r.decode_errors.total();
    if total == 0 {
        out.push_str("decode errors: none\n");
    } else {
        let list: Vec<String> = r
            .decode_errors
            .iter()
            .map(|(e, n)| format!("{e} {n}"))
            .collect();
        let _ = writeln!(out, "decode errors: {total} ({})", list.join(", "));
    }
    // pcapng blocks the reader skipped: malformed ones lost what they held.
    for f in r
        .files
        .iter()
        .filter(|f| f.malformed_blocks > 0 || f.skipped_blocks > 0)
    {
        let _ = writeln!(
            out,
            "blocks skipped: {}: {} malformed, {} of unknown type",
            f.path, f.malformed_blocks, f.skipped_blocks
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1500), "1.5 kB");
        assert_eq!(human_bytes(2_000_000_000), "2.0 GB");
    }
}
