//! Reading log files: format detection, gzip and zstd, line limits, counters and
//! warnings. Memory stays bounded whatever the input: lines are streamed
//! (only a pretty-printed JSON document, up to a limit, is held whole),
//! over-long lines are skipped without being stored, unmatched records
//! are only counted, warnings are capped and correlation maps are bounded.

use super::aws::{self, Targets};
use super::azure;
use super::bounded::BoundedMap;
use super::gcp;
use super::ingest::{Ingested, SyslogIngest};
use super::json::{record_spans, records_array};
use super::{ConfigEvent, LogError};
use crate::compress::{self, Compression};
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::Path;

/// Bytes looked at to tell JSON documents from line-oriented input.
const PEEK: usize = 64 << 10;
/// Traffic-mirror targets remembered across files (for cross-account
/// attribution of sessions).
const MAX_TARGETS: usize = 100_000;
/// Azure operations remembered per file for folding.
const MAX_AZURE_OPS: usize = 10_000;

/// How a file was read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// No records at all.
    #[default]
    Empty,
    /// Syslog text (first record was not JSON).
    Syslog,
    /// One JSON value per line (records, or `{"Records": [...]}` documents).
    JsonLines,
    /// JSON document(s) spanning lines (pretty-printed).
    JsonDocument,
}

/// A problem with one record; processing continued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogWarning {
    /// `file:line`.
    pub origin: String,
    pub reason: String,
}

impl std::fmt::Display for LogWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.origin, self.reason)
    }
}

/// Result of reading one file.
///
/// Every non-blank line of line-oriented input, and every element of a
/// `Records` array, is one record, and
/// `records == recognised + folded + unmatched + malformed`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LogReadOutcome {
    pub format: LogFormat,
    /// How the file was compressed, if it was.
    pub compression: Option<Compression>,
    /// Lines read (after decompression).
    pub lines: u64,
    pub records: u64,
    /// Records that produced an event in `events`.
    pub recognised: u64,
    /// Mirror-related records folded into another record's event (Azure
    /// intermediate statuses, GCP `operation.last`, AAA `start` records).
    pub folded: u64,
    /// Well-formed records that are not mirror configuration (counted only).
    pub unmatched: u64,
    /// Records that could not be parsed (each with a warning, up to the cap).
    pub malformed: u64,
    pub events: Vec<ConfigEvent>,
    /// The first warnings (see [`LogReader::max_warnings`]).
    pub warnings: Vec<LogWarning>,
    /// Warnings beyond the cap, counted only.
    pub warnings_dropped: u64,
}

/// Reads log files into [`ConfigEvent`]s. State carries over between files
/// read with the same reader: per-device syslog context and known AWS
/// traffic-mirror targets (so a session in one account's log can be tied
/// to a target created in another account's log).
pub struct LogReader {
    syslog: SyslogIngest,
    targets: Targets,
    /// Warnings kept per file (default 100).
    pub max_warnings: usize,
    /// Longest syslog line accepted (default 16 KiB); longer lines are
    /// skipped with a warning.
    pub max_syslog_line: usize,
    /// Longest JSON line accepted (default 64 MiB: CloudTrail writes a
    /// whole `{"Records": [...]}` file on one line).
    pub max_json_line: usize,
    /// Largest multi-line JSON document held in memory (default 64 MiB);
    /// larger input is read line by line.
    pub max_document: usize,
}

/// Per-file bookkeeping.
struct FileCtx<'a> {
    name: &'a str,
    out: LogReadOutcome,
    max_warnings: usize,
    /// Azure operation key → (index in `out.events`, status rank).
    azure_ops: BoundedMap<(usize, u8)>,
}

impl FileCtx<'_> {
    fn origin(&self, line: u64) -> String {
        format!("{}:{line}", self.name)
    }

    fn warn(&mut self, line: u64, reason: String) {
        if self.out.warnings.len() < self.max_warnings {
            let origin = self.origin(line);
            self.out.warnings.push(LogWarning { origin, reason });
        } else {
            self.out.warnings_dropped += 1;
        }
    }

    fn malformed(&mut self, line: u64, reason: String) {
        self.out.malformed += 1;
        self.warn(line, reason);
    }

    fn count(&mut self, res: Ingested, line: u64) {
        match res {
            Ingested::Event(e) => {
                self.out.recognised += 1;
                // Kept (it still says who changed what), but an event with
                // no time explains no session: said, not silently.
                if e.time_us.is_none() {
                    self.warn(
                        line,
                        "mirror configuration event with no valid time: it is listed but \
                         explains no session"
                            .to_owned(),
                    );
                }
                self.out.events.push(*e);
            }
            Ingested::Unmatched => self.out.unmatched += 1,
            Ingested::Folded => self.out.folded += 1,
            Ingested::Malformed(reason) => self.malformed(line, reason.to_owned()),
        }
    }
}

/// Reads one file with a fresh [`LogReader`]. `year` completes syslog time
/// stamps that carry none. Fails only if the file cannot be opened; bad
/// records and read errors become warnings.
pub fn read_log_file(path: &Path, year: i32) -> Result<LogReadOutcome, LogError> {
    LogReader::new(year).read_file(path)
}

impl LogReader {
    pub fn new(year: i32) -> Self {
        Self {
            syslog: SyslogIngest::new(year),
            targets: Targets::new(MAX_TARGETS),
            max_warnings: 100,
            max_syslog_line: 16 << 10,
            max_json_line: 64 << 20,
            max_document: 64 << 20,
        }
    }

    /// The syslog state (e.g. to change the year).
    pub fn syslog_mut(&mut self) -> &mut SyslogIngest {
        &mut self.syslog
    }

    pub fn read_file(&mut self, path: &Path) -> Result<LogReadOutcome, LogError> {
        let open = |source| LogError::Open {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(open)?;
        // A directory opens, and fails at the first read: say so now.
        if file.metadata().is_ok_and(|m| m.is_dir()) {
            return Err(open(std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "a directory, not a log file (give the files in it)",
            )));
        }
        Ok(self.read_from(file, &path.display().to_string()))
    }

    /// Reads from any byte source; `name` is used in origins (`name:line`).
    /// Gzip is detected by its magic bytes.
    pub fn read_from<R: Read>(&mut self, src: R, name: &str) -> LogReadOutcome {
        let mut f = FileCtx {
            name,
            out: LogReadOutcome::default(),
            max_warnings: self.max_warnings,
            azure_ops: BoundedMap::new(MAX_AZURE_OPS),
        };
        let mut br = BufReader::with_capacity(64 << 10, src);
        let compression = match compress::sniff(&mut br) {
            Ok(c) => c,
            Err(e) => {
                f.warn(0, format!("read error: {e}"));
                return f.out;
            }
        };
        f.out.compression = compression;
        match compression {
            Some(c) => match c.decoder(br) {
                Ok(dec) => self.read_text(BufReader::with_capacity(64 << 10, dec), &mut f),
                Err(e) => f.warn(0, format!("read error: {e}")),
            },
            None => self.read_text(br, &mut f),
        }
        f.out
    }

    fn read_text<R: BufRead>(&mut self, mut r: R, f: &mut FileCtx<'_>) {
        if let Err(e) = compress::skip_utf8_bom(&mut r) {
            f.warn(1, format!("read error: {e}; rest of input skipped"));
            return;
        }
        let mut head = Vec::new();
        if let Err(e) = (&mut r).take(PEEK as u64).read_to_end(&mut head) {
            self.read_lines(Cursor::new(head), f);
            let line = f.out.lines + 1;
            f.warn(line, format!("read error: {e}; rest of input skipped"));
            return;
        }
        if !starts_multiline_json(&head) {
            self.read_lines(Cursor::new(head).chain(r), f);
            return;
        }
        // Possibly a pretty-printed document: hold it (up to the limit).
        let mut all = head;
        let room = (self.max_document.saturating_sub(all.len()) as u64).saturating_add(1);
        if let Err(e) = (&mut r).take(room).read_to_end(&mut all) {
            self.read_lines(Cursor::new(all), f);
            let line = f.out.lines + 1;
            f.warn(line, format!("read error: {e}; rest of input skipped"));
            return;
        }
        if all.len() > self.max_document {
            f.warn(
                1,
                format!(
                    "JSON document larger than {} bytes; read line by line",
                    self.max_document
                ),
            );
            self.read_lines(Cursor::new(all).chain(r), f);
            return;
        }
        match json_values(&all) {
            Some(values) => {
                f.out.format = LogFormat::JsonDocument;
                let text = String::from_utf8_lossy(&all);
                f.out.lines = count_lines(&all);
                let mut line = 1;
                let mut counted = 0;
                for (start, end, v) in values {
                    line += count_newlines(all.get(counted..start).unwrap_or(&[]));
                    counted = start;
                    let raw = text.get(start..end).unwrap_or("");
                    self.json_value(&v, raw, line, f);
                }
            }
            None => self.read_lines(Cursor::new(all), f),
        }
    }

    fn read_lines<R: BufRead>(&mut self, mut r: R, f: &mut FileCtx<'_>) {
        let mut buf = Vec::new();
        let mut lineno = 0u64;
        loop {
            match read_line_capped(&mut r, &mut buf, self.max_syslog_line, self.max_json_line) {
                Ok(None) => break,
                Ok(Some(total)) => {
                    lineno += 1;
                    f.out.lines += 1;
                    self.line(&buf, total, lineno, f);
                }
                Err(e) => {
                    f.warn(
                        lineno + 1,
                        format!("read error: {e}; rest of input skipped"),
                    );
                    break;
                }
            }
        }
    }

    fn line(&mut self, bytes: &[u8], total: usize, lineno: u64, f: &mut FileCtx<'_>) {
        let first = bytes.iter().position(|b| !b.is_ascii_whitespace());
        let truncated = total > bytes.len();
        let Some(first) = first else {
            if truncated {
                f.out.records += 1;
                f.malformed(
                    lineno,
                    format!("line of {total} bytes is too long; skipped"),
                );
            }
            return;
        };
        let json = matches!(bytes.get(first), Some(b'{' | b'['));
        if f.out.format == LogFormat::Empty {
            f.out.format = if json {
                LogFormat::JsonLines
            } else {
                LogFormat::Syslog
            };
        }
        if truncated {
            let limit = if json {
                self.max_json_line
            } else {
                self.max_syslog_line
            };
            f.out.records += 1;
            f.malformed(
                lineno,
                format!("line of {total} bytes exceeds the {limit}-byte limit; skipped"),
            );
            return;
        }
        let (text, clean) = match std::str::from_utf8(bytes) {
            Ok(s) => (
                Cow::Borrowed(s),
                !s.bytes()
                    .any(|b| (b < 0x20 && b != b'\t' && b != b'\r') || b == 0x7f),
            ),
            Err(_) => (String::from_utf8_lossy(bytes), false),
        };
        if json {
            // Records are counted per element of the value.
            match serde_json::from_str::<Value>(text.trim()) {
                Ok(v) => self.json_value(&v, text.trim(), lineno, f),
                Err(e) => {
                    f.out.records += 1;
                    f.malformed(lineno, format!("invalid JSON: {e}"));
                }
            }
            return;
        }
        f.out.records += 1;
        let origin = f.origin(lineno);
        let res = self.syslog.ingest(&text, &origin);
        match res {
            Ingested::Event(_) if !clean => {
                f.warn(
                    lineno,
                    "invalid UTF-8 or control characters; decoded lossily".to_owned(),
                );
                f.count(res, lineno);
            }
            Ingested::Event(_) => f.count(res, lineno),
            _ if !clean => f.malformed(lineno, "binary data or invalid UTF-8".to_owned()),
            _ => f.count(res, lineno),
        }
    }

    /// A top-level JSON value: a record, a `{"Records": [...]}` document or
    /// an array of records. `raw` is its text, starting on `line`.
    fn json_value(&mut self, v: &Value, raw: &str, line: u64, f: &mut FileCtx<'_>) {
        let list = records_array(v).or_else(|| v.as_array());
        let Some(list) = list else {
            f.out.records += 1;
            self.json_record(v, raw, line, f);
            return;
        };
        for rec in list {
            aws::learn_target(rec, &mut self.targets);
        }
        let spans = record_spans(raw).filter(|s| s.len() == list.len());
        let mut counted = 0;
        let mut line = line;
        for (k, rec) in list.iter().enumerate() {
            f.out.records += 1;
            let span = spans.as_ref().and_then(|s| s.get(k)).copied();
            let text: Cow<'_, str> = match span.and_then(|(a, b)| raw.get(a..b).map(|t| (a, t))) {
                Some((a, t)) => {
                    line += count_newlines(raw.as_bytes().get(counted..a).unwrap_or(&[]));
                    counted = a;
                    Cow::Borrowed(t)
                }
                None => Cow::Owned(rec.to_string()),
            };
            self.json_record(rec, &text, line, f);
        }
    }

    fn json_record(&mut self, v: &Value, raw: &str, line: u64, f: &mut FileCtx<'_>) {
        if !v.is_object() {
            f.malformed(line, "record is not a JSON object".to_owned());
            return;
        }
        let origin = f.origin(line);
        if aws::is_cloudtrail(v) {
            aws::learn_target(v, &mut self.targets);
            let res = aws::cloudtrail(v, raw, &origin, Some(&self.targets));
            f.count(res, line);
        } else if gcp::is_gcp(v) {
            f.count(gcp::gcp(v, raw, &origin), line);
        } else if azure::is_azure(v) {
            let res = azure::azure(v, raw, &origin);
            match (res, azure::fold_key(v)) {
                (Ingested::Event(ev), Some((key, rank))) => match f.azure_ops.get(&key).copied() {
                    Some((idx, old_rank)) => {
                        if let Some(slot) = f.out.events.get_mut(idx) {
                            if rank >= old_rank {
                                // The more final record wins; what only the
                                // earlier one said (request body) is kept.
                                let mut new = *ev;
                                fill_missing(&mut new, slot);
                                *slot = new;
                                f.azure_ops.entry(&key, || (idx, rank)).1 = rank;
                            } else {
                                fill_missing(slot, &ev);
                            }
                        }
                        f.out.folded += 1;
                    }
                    None => {
                        let idx = f.out.events.len();
                        *f.azure_ops.entry(&key, || (idx, rank)) = (idx, rank);
                        f.count(Ingested::Event(ev), line);
                    }
                },
                (res, _) => f.count(res, line),
            }
        } else if let Some(detail) = v.get("detail").filter(|d| aws::is_cloudtrail(d)) {
            // EventBridge "AWS API Call via CloudTrail".
            aws::learn_target(detail, &mut self.targets);
            let res = aws::cloudtrail(detail, raw, &origin, Some(&self.targets));
            f.count(res, line);
        } else {
            f.out.unmatched += 1;
        }
    }
}

/// Fills the fields `ev` lacks from `other` (same operation).
fn fill_missing(ev: &mut ConfigEvent, other: &ConfigEvent) {
    fn fill<T: Clone>(a: &mut Option<T>, b: &Option<T>) {
        if a.is_none() {
            a.clone_from(b);
        }
    }
    fill(&mut ev.time_us, &other.time_us);
    fill(&mut ev.device, &other.device);
    fill(&mut ev.actor, &other.actor);
    fill(&mut ev.destination, &other.destination);
    fill(&mut ev.destination_ip, &other.destination_ip);
    fill(&mut ev.target_account, &other.target_account);
    fill(&mut ev.source_ip, &other.source_ip);
    if ev.sources.is_empty() {
        ev.sources.clone_from(&other.sources);
    }
}

/// Does the input start with a JSON value whose first line is incomplete
/// (a pretty-printed document)?
fn starts_multiline_json(head: &[u8]) -> bool {
    let Some(first) = head.iter().position(|b| !b.is_ascii_whitespace()) else {
        return false;
    };
    if !matches!(head.get(first), Some(b'{' | b'[')) {
        return false;
    }
    let rest = head.get(first..).unwrap_or(&[]);
    let line = rest.split(|&b| b == b'\n').next().unwrap_or(rest);
    match serde_json::from_slice::<serde::de::IgnoredAny>(line) {
        Ok(_) => false,
        Err(e) => e.is_eof(),
    }
}

/// All top-level JSON values of `text` with their byte spans; `None` unless
/// the whole text is a sequence of well-formed values.
fn json_values(text: &[u8]) -> Option<Vec<(usize, usize, Value)>> {
    let mut out = Vec::new();
    let mut stream = serde_json::Deserializer::from_slice(text).into_iter::<Value>();
    let mut prev_end = 0;
    while let Some(item) = stream.next() {
        let v = item.ok()?;
        let end = stream.byte_offset();
        let start = prev_end
            + text
                .get(prev_end..end)?
                .iter()
                .position(|b| !b.is_ascii_whitespace())?;
        out.push((start, end, v));
        prev_end = end;
    }
    (!out.is_empty()).then_some(out)
}

fn count_newlines(b: &[u8]) -> u64 {
    b.iter().filter(|&&c| c == b'\n').count() as u64
}

fn count_lines(b: &[u8]) -> u64 {
    let n = count_newlines(b);
    if b.last().is_some_and(|&c| c != b'\n') {
        n + 1
    } else {
        n
    }
}

/// Reads one line (without `\n` / `\r\n`) into `buf`, keeping at most
/// `syslog_cap` bytes — or `json_cap` if the line starts with `{`/`[` —
/// and consuming the rest of an over-long line without storing it.
/// Returns the line's full length (`> buf.len()` when truncated), or
/// `None` at end of input.
fn read_line_capped<R: BufRead>(
    r: &mut R,
    buf: &mut Vec<u8>,
    syslog_cap: usize,
    json_cap: usize,
) -> io::Result<Option<usize>> {
    buf.clear();
    let mut total = 0usize;
    let mut cap = json_cap.max(syslog_cap);
    let mut decided = false;
    let mut any = false;
    loop {
        let avail = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            break;
        }
        any = true;
        let (chunk, used, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (avail.get(..i).unwrap_or(&[]), i + 1, true),
            None => (avail, avail.len(), false),
        };
        let room = cap.saturating_sub(buf.len());
        buf.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or(&[]));
        total = total.saturating_add(chunk.len());
        if !decided {
            if let Some(&b) = buf.iter().find(|b| !b.is_ascii_whitespace()) {
                decided = true;
                if b != b'{' && b != b'[' {
                    cap = syslog_cap;
                    buf.truncate(cap);
                }
            }
        }
        r.consume(used);
        if done {
            break;
        }
    }
    if !any {
        return Ok(None);
    }
    if total <= buf.len() && buf.last() == Some(&b'\r') {
        buf.pop();
        total -= 1;
    }
    Ok(Some(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_lines() {
        let data = b"short\r\n0123456789abcdef\n{\"json\": \"0123456789abcdef\"}\nlast";
        let mut r = Cursor::new(&data[..]);
        let mut buf = Vec::new();
        assert_eq!(read_line_capped(&mut r, &mut buf, 8, 64).unwrap(), Some(5));
        assert_eq!(buf, b"short");
        assert_eq!(read_line_capped(&mut r, &mut buf, 8, 64).unwrap(), Some(16));
        assert_eq!(buf, b"01234567");
        assert_eq!(read_line_capped(&mut r, &mut buf, 8, 64).unwrap(), Some(28));
        assert_eq!(buf.len(), 28);
        assert_eq!(read_line_capped(&mut r, &mut buf, 8, 64).unwrap(), Some(4));
        assert_eq!(read_line_capped(&mut r, &mut buf, 8, 64).unwrap(), None);
        // A one-byte reader (worst case for chunking).
        let mut r = BufReader::with_capacity(1, &b"ab\ncdefghij\n"[..]);
        assert_eq!(read_line_capped(&mut r, &mut buf, 4, 4).unwrap(), Some(2));
        assert_eq!(read_line_capped(&mut r, &mut buf, 4, 4).unwrap(), Some(8));
        assert_eq!(buf, b"cdef");
    }

    #[test]
    fn document_detection() {
        assert!(starts_multiline_json(b"{\n \"Records\": []\n}"));
        assert!(starts_multiline_json(b"  [\n"));
        assert!(!starts_multiline_json(b"{\"Records\": []}\n"));
        assert!(!starts_multiline_json(b"{broken\n"));
        assert!(!starts_multiline_json(b"Mar  1 10:00:00 h t: m"));
        assert!(!starts_multiline_json(b""));
        let v = json_values(b" {\"a\":1}\n\n[2] ").unwrap();
        assert_eq!(
            v.iter().map(|x| (x.0, x.1)).collect::<Vec<_>>(),
            vec![(1, 8), (10, 13)]
        );
        assert!(json_values(b"{\"a\":1} {").is_none());
        assert!(json_values(b"   ").is_none());
        assert_eq!(count_lines(b"a\nb"), 2);
        assert_eq!(count_lines(b"a\nb\n"), 2);
    }

    #[test]
    fn mixed_input_counts_add_up() {
        let input = "\n{\"eventSource\":\"ec2.amazonaws.com\",\"eventName\":\"DescribeTrafficMirrorSessions\"}\n\
                     {broken\n\
                     Mar  1 10:00:00 h sshd[1]: hello\n\
                     \u{1}\u{2}\u{3}\n\
                     42\n\
                     {\"Records\": [{\"eventSource\":\"ec2.amazonaws.com\",\"eventName\":\"DeleteTrafficMirrorTarget\",\"requestParameters\":{\"TrafficMirrorTargetId\":\"tmt-9\"}}, 7]}\n";
        let mut reader = LogReader::new(2024);
        let out = reader.read_from(input.as_bytes(), "mem");
        assert_eq!(out.format, LogFormat::JsonLines);
        assert_eq!(out.lines, 7);
        assert_eq!(
            out.records,
            out.recognised + out.folded + out.unmatched + out.malformed
        );
        assert_eq!(out.recognised, 1);
        assert_eq!(out.events[0].destination.as_deref(), Some("tmt-9"));
        assert_eq!(out.events[0].origin, "mem:7");
        assert_eq!(out.unmatched, 2);
        assert_eq!(out.malformed, 4, "{:?}", out.warnings);
        let origins: Vec<&str> = out.warnings.iter().map(|w| w.origin.as_str()).collect();
        // The event itself has no eventTime: said on its line too.
        assert_eq!(origins, vec!["mem:3", "mem:5", "mem:6", "mem:7", "mem:7"]);
        assert_eq!(
            out.warnings
                .iter()
                .filter(|w| w.reason.contains("no valid time"))
                .count(),
            1,
            "{:?}",
            out.warnings
        );
    }

    #[test]
    fn warnings_are_capped() {
        let input = "junk\n".repeat(500);
        let mut reader = LogReader::new(2024);
        reader.max_warnings = 10;
        let out = reader.read_from(input.as_bytes(), "mem");
        assert_eq!(out.malformed, 500);
        assert_eq!(out.warnings.len(), 10);
        assert_eq!(out.warnings_dropped, 490);
    }
}
