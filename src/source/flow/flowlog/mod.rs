//! Flow records from log files: AWS VPC Flow Logs ([`aws`]), GCP VPC Flow
//! Logs ([`gcp`]), Azure VNet and NSG flow logs ([`azure`]), Zeek
//! `conn.log` / `tunnel.log` ([`zeek`]) and Suricata EVE `flow` / `netflow`
//! events ([`suricata`]), each turned into the one [`FlowRecord`] type.
//!
//! Files are plain, gzip or zstd (told by the magic bytes, every member or
//! frame read), one or many; directories are walked. The kind is told per line
//! or JSON record by content unless forced. Lines are streamed: memory
//! holds one line (at most [`MAX_LINE`] bytes) or, for a pretty-printed
//! JSON document (Azure blobs, `gcloud logging read --format=json`), that
//! document up to [`MAX_DOCUMENT`] bytes. A malformed line or record is
//! counted and warned about with file and line; what was read before it
//! stays.
pub mod aws;
pub mod azure;
pub mod gcp;
pub mod suricata;
pub mod zeek;

use core::net::{IpAddr, Ipv4Addr};
use std::fmt::Display;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::compress::{self, Compression};
use crate::source::reader;
use serde_json::Value;

use super::capture::{FlowInput, MAX_WARNINGS};
use super::{FlowFormat, FlowRecord};

/// Longest line read; longer lines are skipped (counted, warned).
pub const MAX_LINE: usize = 64 << 20;
/// Largest multi-line JSON document held to be parsed.
pub const MAX_DOCUMENT: usize = 64 << 20;
/// Files taken from the walk of all directories given.
pub const MAX_FILES: usize = 100_000;
/// Directory levels walked.
const MAX_DEPTH: usize = 32;

/// The exporter address of records from logs: none.
pub const NO_EXPORTER: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

/// What a parser made of one line or record.
pub type Parsed = Result<Option<FlowRecord<'static>>, String>;

/// Per-file state the parsers use: counters, warnings, the record sink and
/// the header state of the text formats.
pub struct Ctx<'a> {
    name: &'a str,
    force: Option<FlowFormat>,
    input: &'a mut FlowInput,
    formats: [bool; FlowFormat::COUNT],
    sink: &'a mut dyn FnMut(&FlowRecord<'_>),
    aws: Option<aws::Header>,
    zeek: Option<zeek::Header>,
}

impl Ctx<'_> {
    fn emit(&mut self, r: &FlowRecord<'_>) {
        self.input.records += 1;
        self.formats[r.format as usize] = true;
        (self.sink)(r);
    }

    fn skip(&mut self, f: FlowFormat) {
        self.input.skipped += 1;
        self.formats[f as usize] = true;
    }

    fn malformed(&mut self, line: u64, reason: impl Display) {
        self.input.errors += 1;
        if self.input.warnings.len() < MAX_WARNINGS {
            self.input
                .warnings
                .push(format!("{}:{line}: {reason}; skipped", self.name));
        }
    }

    /// Takes what a parser made of a record of format `f` at `line`.
    fn take(&mut self, f: FlowFormat, line: u64, what: &str, p: Parsed) {
        self.formats[f as usize] = true;
        match p {
            Ok(Some(r)) => self.emit(&r),
            Ok(None) => self.skip(f),
            Err(e) => self.malformed(line, format_args!("{f} {what}: {e}")),
        }
    }
}

/// Expands directories (walked, sorted, regular files only; symbolic links
/// to directories are not followed) into files. Each entry is a path and,
/// if it cannot be read, why.
pub fn expand(paths: &[String]) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for p in paths {
        let path = Path::new(p);
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => {
                let before = out.len();
                walk(path, 0, &mut out);
                if out.len() == before {
                    out.push((p.clone(), Some("no files in the directory".to_owned())));
                }
            }
            _ => out.push((p.clone(), None)),
        }
        if out.len() >= MAX_FILES {
            out.truncate(MAX_FILES);
            out.push((
                p.clone(),
                Some(format!("more than {MAX_FILES} files; the rest not read")),
            ));
            break;
        }
    }
    out
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<(String, Option<String>)>) {
    let shown = dir.display().to_string();
    if depth > MAX_DEPTH {
        out.push((
            shown,
            Some(format!("deeper than {MAX_DEPTH} levels; not read")),
        ));
        return;
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            out.push((shown, Some(format!("cannot read directory: {e}"))));
            return;
        }
    };
    let mut list: Vec<(PathBuf, bool)> = entries
        .flatten()
        .filter_map(|e| {
            let t = e.file_type().ok()?;
            if t.is_dir() {
                Some((e.path(), true))
            } else if t.is_file() || (t.is_symlink() && e.path().is_file()) {
                Some((e.path(), false))
            } else {
                None
            }
        })
        .collect();
    list.sort();
    for (p, is_dir) in list {
        if out.len() >= MAX_FILES {
            return;
        }
        if is_dir {
            walk(&p, depth + 1, out);
        } else {
            out.push((p.display().to_string(), None));
        }
    }
}

/// Is this file for the capture reader rather than a log? Told by its
/// first bytes as the capture reader tells them
/// ([`crate::source::reader::is_for_reader`]: pcap in every form it reads,
/// pcapng, compressors it names); for gzip and zstd, by the first bytes
/// inside, since compressed logs are read here. Standard input and
/// anything that is not a regular file are taken as captures, as before
/// log files were read.
pub fn is_capture(path: &str) -> bool {
    if path == "-" {
        return true;
    }
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => {}
        _ => return true,
    }
    let Ok(f) = File::open(path) else {
        return true;
    };
    let head = first_bytes(f);
    match Compression::of(&head) {
        Some(c) => File::open(path)
            .and_then(|f| c.decoder(f))
            .is_ok_and(|dec| reader::is_capture_magic(&first_bytes(dec))),
        None => reader::is_for_reader(&head),
    }
}

/// Up to the first 6 bytes of `src` (fewer at its end or on an error).
fn first_bytes(src: impl Read) -> Vec<u8> {
    let mut head = Vec::with_capacity(6);
    // An error leaves what was read before it.
    let _ = src.take(6).read_to_end(&mut head);
    head
}

/// Reads one log file, handing each flow record to `sink`. `force` makes
/// every record be read as that format.
pub fn read_log(
    path: &str,
    force: Option<FlowFormat>,
    sink: &mut dyn FnMut(&FlowRecord<'_>),
) -> FlowInput {
    let mut input = FlowInput::new(path);
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            input.error = Some(format!("{path}: {e}"));
            return input;
        }
    };
    read_log_from(file, path, force, sink, &mut input);
    input
}

/// Reads from any byte source; `name` is used in warnings (`name:line`).
pub fn read_log_from<R: Read>(
    src: R,
    name: &str,
    force: Option<FlowFormat>,
    sink: &mut dyn FnMut(&FlowRecord<'_>),
    input: &mut FlowInput,
) {
    let mut ctx = Ctx {
        name,
        force,
        input,
        formats: [false; FlowFormat::COUNT],
        sink,
        aws: None,
        zeek: None,
    };
    let mut br = BufReader::with_capacity(64 << 10, src);
    let opened = compress::sniff(&mut br).and_then(|c| match c {
        Some(c) => c.decoder(br).map(Ok),
        None => Ok(Err(br)),
    });
    match opened {
        Ok(Ok(dec)) => read_text(BufReader::with_capacity(64 << 10, dec), &mut ctx),
        Ok(Err(plain)) => read_text(plain, &mut ctx),
        Err(e) => {
            ctx.input.error = Some(format!("{name}: read error: {e}"));
            return;
        }
    }
    let names: Vec<&str> = FlowFormat::ALL
        .into_iter()
        .filter(|f| ctx.formats[*f as usize])
        .map(FlowFormat::as_str)
        .collect();
    if !names.is_empty() {
        ctx.input.format = names.join("+");
    }
}

/// Reads a line into `buf` (without the line end), keeping at most `max`
/// bytes; returns the line's whole length, or None at the end.
fn read_line_capped<R: BufRead>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<Option<usize>> {
    buf.clear();
    let mut total = 0usize;
    let mut any = false;
    let mut last = 0u8;
    loop {
        let chunk = match r.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(any.then_some(total));
        }
        any = true;
        let (part, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (&chunk[..i], Some(i + 1)),
            None => (chunk, None),
        };
        let room = max.saturating_sub(buf.len());
        buf.extend_from_slice(&part[..part.len().min(room)]);
        total = total.saturating_add(part.len());
        if let Some(&b) = part.last() {
            last = b;
        }
        let used = done.unwrap_or(chunk.len());
        r.consume(used);
        if done.is_some() {
            if last == b'\r' {
                total -= 1;
                buf.truncate(total);
            }
            return Ok(Some(total));
        }
    }
}

fn read_text<R: BufRead>(mut r: R, ctx: &mut Ctx<'_>) {
    if let Err(e) = compress::skip_utf8_bom(&mut r) {
        ctx.input.error = Some(format!("{}: read error: {e}", ctx.name));
        return;
    }
    // Binary content is no log: say so once rather than warn per line.
    let head = loop {
        match r.fill_buf() {
            Ok(b) => break b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                ctx.input.error = Some(format!("{}: read error: {e}", ctx.name));
                return;
            }
        }
    };
    let probe = head.get(..head.len().min(4096)).unwrap_or(head);
    if probe.contains(&0) {
        // Read here only when a log format was forced (or from the fuzz
        // target): `is_capture` sends captures to the capture reader.
        let what = if reader::is_capture_magic(probe) {
            "a capture (pcap or pcapng), not a flow log: `--input-format pcap` reads it"
        } else {
            "binary data, neither a capture (pcap, pcapng) nor a flow log"
        };
        ctx.input.error = Some(format!("{}: {what}", ctx.name));
        return;
    }
    let mut buf = Vec::new();
    let mut lineno = 0u64;
    let mut seen_content = false;
    loop {
        let total = match read_line_capped(&mut r, &mut buf, MAX_LINE) {
            Ok(None) => return,
            Ok(Some(t)) => t,
            Err(e) => {
                ctx.input.error = Some(format!(
                    "{}:{}: read error: {e}; the rest not read",
                    ctx.name,
                    lineno + 1
                ));
                return;
            }
        };
        lineno += 1;
        ctx.input.lines += 1;
        if total > buf.len() {
            ctx.malformed(
                lineno,
                format_args!("line of {total} bytes exceeds the {MAX_LINE}-byte limit"),
            );
            continue;
        }
        let Ok(text) = std::str::from_utf8(&buf) else {
            ctx.malformed(lineno, "not UTF-8 text");
            continue;
        };
        let t = text.trim();
        if t.is_empty() {
            continue;
        }
        let first = !seen_content;
        seen_content = true;
        if !t.starts_with(['{', '[']) {
            text_line(ctx, text, lineno);
            continue;
        }
        match serde_json::from_str::<Value>(t) {
            Ok(v) => json_value(ctx, &v, lineno, None),
            Err(e) if e.is_eof() && first => {
                // A pretty-printed document: hold it (bounded) and parse.
                let mut doc = std::mem::take(&mut buf);
                doc.push(b'\n');
                let room = MAX_DOCUMENT.saturating_sub(doc.len()) as u64 + 1;
                if let Err(e) = (&mut r).take(room).read_to_end(&mut doc) {
                    ctx.input.error = Some(format!(
                        "{}: read error: {e}; the document is not read",
                        ctx.name
                    ));
                    return;
                }
                if doc.len() > MAX_DOCUMENT {
                    ctx.malformed(
                        lineno,
                        format_args!("JSON document larger than {MAX_DOCUMENT} bytes (not read)"),
                    );
                    return;
                }
                let tail = u64::from(doc.last() != Some(&b'\n'));
                ctx.input.lines += newlines(&doc).saturating_sub(1) + tail;
                document(ctx, &doc, lineno);
                return;
            }
            Err(e) => ctx.malformed(lineno, format_args!("invalid JSON: {e}")),
        }
    }
}

/// The top-level values of a multi-line document starting on `line`.
fn document(ctx: &mut Ctx<'_>, doc: &[u8], line: u64) {
    let mut stream = serde_json::Deserializer::from_slice(doc).into_iter::<Value>();
    let mut counted = 0usize;
    let mut at_line = line;
    loop {
        let start = stream.byte_offset();
        let Some(item) = stream.next() else {
            return;
        };
        let value_start = start
            + doc
                .get(start..)
                .and_then(|s| s.iter().position(|b| !b.is_ascii_whitespace()))
                .unwrap_or(0);
        at_line += newlines(doc.get(counted..value_start).unwrap_or(&[]));
        counted = value_start;
        match item {
            Ok(v) => json_value(ctx, &v, at_line, Some(Doc { text: doc, line })),
            Err(e) => {
                let l = line + e.line().saturating_sub(1) as u64;
                ctx.malformed(l, format_args!("invalid JSON: {e}; the rest not read"));
                return;
            }
        }
    }
}

fn newlines(b: &[u8]) -> u64 {
    b.iter().filter(|&&c| c == b'\n').count() as u64
}

fn text_line(ctx: &mut Ctx<'_>, line: &str, lineno: u64) {
    let zeek_ok = matches!(ctx.force, None | Some(FlowFormat::Zeek));
    if line.starts_with('#') {
        if zeek_ok {
            zeek::directive(ctx, line, lineno);
        }
        return;
    }
    if zeek_ok {
        if let Some(h) = &ctx.zeek {
            let p = zeek::tsv_line(h, line);
            let what = h.what();
            ctx.take(FlowFormat::Zeek, lineno, what, p);
            return;
        }
    }
    match ctx.force {
        None | Some(FlowFormat::AwsVpc) => aws::line(ctx, line, lineno),
        Some(FlowFormat::Zeek) => {
            ctx.malformed(lineno, "zeek: a data line before any #fields header")
        }
        Some(f) => ctx.malformed(lineno, format_args!("{f}: not a JSON record")),
    }
}

/// The format a JSON record is in, from its fields.
fn classify(v: &Value) -> Option<FlowFormat> {
    let o = v.as_object()?;
    if o.contains_key("records") || o.contains_key("flowRecords") || azure::is_nsg_record(v) {
        Some(FlowFormat::AzureVnet)
    } else if o.contains_key("event_type") {
        Some(FlowFormat::Suricata)
    } else if o.contains_key("id.orig_h") || o.contains_key("tunnel_type") {
        Some(FlowFormat::Zeek)
    } else if o.contains_key("jsonPayload") || o.contains_key("connection") {
        Some(FlowFormat::GcpVpc)
    } else {
        None
    }
}

/// A multi-line document being read, to find the line of a part of it.
#[derive(Clone, Copy)]
pub(crate) struct Doc<'d> {
    text: &'d [u8],
    /// The line its first byte is on.
    line: u64,
}

impl Doc<'_> {
    /// The line of the first occurrence of `needle` at or after `from`.
    pub(crate) fn line_of(&self, needle: &str, from: u64) -> Option<u64> {
        let n = needle.as_bytes();
        if n.is_empty() {
            return None;
        }
        let pos = self.text.windows(n.len()).position(|w| w == n)?;
        let line = self.line + newlines(self.text.get(..pos)?);
        Some(line.max(from))
    }
}

/// A line's or document's top-level value: a record or an array of them.
fn json_value(ctx: &mut Ctx<'_>, v: &Value, line: u64, doc: Option<Doc<'_>>) {
    match v {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                json_record(ctx, item, line, Some(i), doc);
            }
        }
        _ => json_record(ctx, v, line, None, doc),
    }
}

fn json_record(
    ctx: &mut Ctx<'_>,
    v: &Value,
    line: u64,
    index: Option<usize>,
    doc: Option<Doc<'_>>,
) {
    let at = index.map_or_else(String::new, |i| format!("element {i}: "));
    if !v.is_object() {
        ctx.malformed(line, format_args!("{at}not a JSON object"));
        return;
    }
    let kind = match (ctx.force, classify(v)) {
        (Some(f), Some(k)) if f != k => {
            ctx.malformed(line, format_args!("{at}a {k} record, not {f}"));
            return;
        }
        (Some(FlowFormat::AwsVpc), None) => {
            ctx.malformed(line, format_args!("{at}aws-vpc records are text lines"));
            return;
        }
        (Some(f), None) | (_, Some(f)) => f,
        (None, None) => {
            // Well-formed JSON that is none of ours: counted only.
            ctx.input.skipped += 1;
            return;
        }
    };
    match kind {
        FlowFormat::AzureVnet => azure::document(ctx, v, line, &at, doc),
        FlowFormat::Suricata => {
            let p = suricata::event(v);
            ctx.take(kind, line, &format!("{at}event"), p);
        }
        FlowFormat::Zeek => {
            let p = zeek::json(v);
            let what = if v.get("tunnel_type").is_some() {
                "tunnel.log record"
            } else {
                "conn.log record"
            };
            ctx.take(kind, line, &format!("{at}{what}"), p);
        }
        _ => {
            let p = gcp::entry(v);
            ctx.take(FlowFormat::GcpVpc, line, &format!("{at}entry"), p);
        }
    }
}

/// A record of `format` from logs, with nothing set but where it came from.
pub(crate) fn log_record(format: FlowFormat, start_us: i64, end_us: i64) -> FlowRecord<'static> {
    let mut r = FlowRecord::empty(format, NO_EXPORTER, 0, start_us);
    r.end_us = end_us.max(start_us);
    r
}

/// JSON helpers shared by the JSON formats.
pub(crate) mod j {
    use core::net::IpAddr;
    use serde_json::Value;

    /// An unsigned count: a JSON number or a string of digits (GCP writes
    /// int64 values as strings).
    pub fn count(v: Option<&Value>) -> Result<u64, String> {
        match v {
            None | Some(Value::Null) => Ok(0),
            Some(Value::Number(n)) => n
                .as_u64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                        .map(|f| f as u64)
                })
                .ok_or_else(|| format!("not a count: {n}")),
            Some(Value::String(s)) => s
                .trim()
                .parse::<u64>()
                .map_err(|_| format!("not a count: {s:?}")),
            Some(other) => Err(format!("not a count: {other}")),
        }
    }

    pub fn port(v: Option<&Value>) -> Result<u16, String> {
        let n = count(v)?;
        u16::try_from(n).map_err(|_| format!("port {n} out of range"))
    }

    pub fn ip(v: Option<&Value>, name: &str) -> Result<IpAddr, String> {
        match v.and_then(Value::as_str) {
            Some(s) => s
                .trim()
                .parse()
                .map_err(|_| format!("{name} {s:?} is not an IP address")),
            None => Err(format!("no {name}")),
        }
    }

    /// A time: RFC 3339 text, or seconds since the epoch (number or text).
    pub fn time_us(v: Option<&Value>) -> Option<i64> {
        match v? {
            Value::String(s) => crate::logs::parse_rfc3339_us(s).or_else(|| super::secs_us(s)),
            Value::Number(n) => n.as_f64().and_then(super::f64_secs_us),
            _ => None,
        }
    }
}

/// Seconds since the epoch (possibly fractional) as text, to microseconds.
pub(crate) fn secs_us(s: &str) -> Option<i64> {
    f64_secs_us(s.trim().parse::<f64>().ok()?)
}

pub(crate) fn f64_secs_us(f: f64) -> Option<i64> {
    // Years 0..=9999 only: anything else is not a time.
    (f.is_finite() && (0.0..253_402_300_800.0).contains(&f)).then(|| (f * 1e6).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &[u8], force: Option<FlowFormat>) -> (FlowInput, Vec<FlowRecord<'static>>) {
        let mut input = FlowInput::new("t.log");
        let mut recs = Vec::new();
        read_log_from(
            text,
            "t.log",
            force,
            &mut |r| recs.push(FlowRecord { frame: None, ..*r }),
            &mut input,
        );
        (input, recs)
    }

    #[test]
    fn capped_lines_keep_their_length_and_drop_cr() {
        let mut r = io::Cursor::new(b"abcdef\r\nxy\nlast".to_vec());
        let mut buf = Vec::new();
        assert_eq!(read_line_capped(&mut r, &mut buf, 3).ok(), Some(Some(6)));
        assert_eq!(buf, b"abc");
        assert_eq!(read_line_capped(&mut r, &mut buf, 3).ok(), Some(Some(2)));
        assert_eq!(buf, b"xy");
        assert_eq!(read_line_capped(&mut r, &mut buf, 3).ok(), Some(Some(4)));
        assert_eq!(read_line_capped(&mut r, &mut buf, 3).ok(), Some(None));
    }

    #[test]
    fn json_of_no_known_kind_is_counted_not_an_error() {
        let (i, recs) = read(b"{\"eventName\":\"x\"}\n[1]\n", None);
        assert!(recs.is_empty());
        assert_eq!((i.skipped, i.errors, i.lines), (1, 1, 2));
        assert!(i.warnings[0].starts_with("t.log:2: element 0: not a JSON object"));
        assert_eq!(i.format, "none");
    }

    #[test]
    fn a_forced_format_rejects_records_of_another() {
        let line = br#"{"event_type":"flow","src_ip":"10.0.0.1","dest_ip":"10.0.0.2","proto":"UDP","flow":{"pkts_toserver":1,"start":"2026-03-02T10:00:00Z"}}"#;
        let (i, recs) = read(line, Some(FlowFormat::Zeek));
        assert!(recs.is_empty());
        assert_eq!(i.errors, 1);
        assert!(
            i.warnings[0].contains("a suricata record, not zeek"),
            "{:?}",
            i.warnings
        );
        let (i, recs) = read(line, None);
        assert_eq!(
            (recs.len(), i.errors, i.format.as_str()),
            (1, 0, "suricata")
        );
    }

    #[test]
    fn directories_expand_sorted_and_empty_ones_are_errors() {
        let d = std::env::temp_dir().join(format!("mw-expand-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("sub")).expect("dir");
        std::fs::create_dir_all(d.join("empty")).expect("dir");
        std::fs::write(d.join("b.log"), "x").expect("write");
        std::fs::write(d.join("sub/a.log"), "x").expect("write");
        let root = d.display().to_string();
        let got = expand(std::slice::from_ref(&root));
        let names: Vec<String> = got.iter().map(|(p, _)| p.replacen(&root, "", 1)).collect();
        assert_eq!(names, ["/b.log", "/sub/a.log"]);
        assert!(got.iter().all(|(_, e)| e.is_none()));
        let empty = d.join("empty").display().to_string();
        let got = expand(std::slice::from_ref(&empty));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1.as_deref(), Some("no files in the directory"));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn seconds_to_micros_rejects_non_times() {
        assert_eq!(secs_us("1418530010.5"), Some(1_418_530_010_500_000));
        assert_eq!(secs_us("-1"), None);
        assert_eq!(secs_us("nan"), None);
        assert_eq!(secs_us("1e300"), None);
    }
}
