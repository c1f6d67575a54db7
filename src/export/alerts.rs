//! Alert and evidence writers.
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::detect::alert::Alert;
use crate::detect::{Engine, Processed, SessionKey, evidence_file_name};
use crate::export::formats::{self, AlertFormat};
use crate::export::pcapfile::PcapWriter;
use crate::export::syslog::{SyslogOptions, SyslogSender, SyslogStats, SyslogTarget};
use crate::source::Frame;

/// Alert lines held in memory while the output fails, at most.
pub const PENDING_ALERTS: usize = 100_000;

/// Where alert lines go.
enum Out {
    /// A file appended to; its length after the last whole line.
    File { file: File, good_len: u64 },
    /// Standard output or a given writer.
    Stream(Box<dyn Write + Send>),
}

/// Writes alerts as JSON lines (in the format of [`AlertWriter::with_format`]), each line whole or not at all: a write
/// that fails part-way (a full disk) is cut back to the last whole line,
/// and the lines not yet written wait in a bounded queue until the output
/// takes them again ([`AlertWriter::flush`] retries).
pub struct AlertWriter {
    out: Out,
    /// The file (None for standard output or a given writer).
    path: Option<String>,
    pending: std::collections::VecDeque<Vec<u8>>,
    /// Lines written.
    pub written: u64,
    /// Failed write attempts.
    pub errors: u64,
    /// Lines dropped because the queue was full (counted, never silent).
    pub dropped: u64,
    /// The last error, while lines are waiting.
    last_error: Option<String>,
    /// The format of the lines (`--alerts-format`).
    format: AlertFormat,
    /// Each alert also goes to this syslog collector (`--alerts-syslog`).
    syslog: Option<SyslogSender>,
}

impl AlertWriter {
    /// `-` is standard output; anything else a file (appended to, so a
    /// restart never loses earlier alerts).
    pub fn open(path: &str) -> std::io::Result<Self> {
        if path == "-" {
            return Ok(Self::with(Out::Stream(Box::new(std::io::stdout())), None));
        }
        Ok(Self::with(Self::append(path)?, Some(path.to_owned())))
    }

    fn with(out: Out, path: Option<String>) -> Self {
        AlertWriter {
            out,
            path,
            pending: std::collections::VecDeque::new(),
            written: 0,
            errors: 0,
            dropped: 0,
            last_error: None,
            format: AlertFormat::Native,
            syslog: None,
        }
    }

    /// The writer of `--alerts PATH` (None: no file, only the syslog
    /// collector if any), `--alerts-format` and `--alerts-syslog URL`; None
    /// when neither is given. The error names what could not be opened.
    pub fn open_outputs(
        path: Option<&str>,
        format: AlertFormat,
        syslog: Option<&str>,
    ) -> Result<Option<AlertWriter>, String> {
        let w = match path {
            Some(p) => {
                AlertWriter::open(p).map_err(|e| format!("{p}: cannot open alerts file: {e}"))?
            }
            None if syslog.is_some() => AlertWriter::from_writer(Box::new(std::io::sink())),
            None => return Ok(None),
        };
        let mut w = w.with_format(format);
        if let Some(url) = syslog {
            let target = SyslogTarget::parse(url).map_err(|e| e.to_string())?;
            let s =
                SyslogSender::start(target, SyslogOptions::default()).map_err(|e| e.to_string())?;
            w = w.with_syslog(s);
        }
        Ok(Some(w))
    }

    /// Sends each alert to a syslog collector too.
    pub fn with_syslog(mut self, s: SyslogSender) -> Self {
        self.syslog = Some(s);
        self
    }

    /// The syslog sender's counters, when there is one.
    pub fn syslog_stats(&self) -> Option<std::sync::Arc<SyslogStats>> {
        self.syslog.as_ref().map(SyslogSender::stats)
    }

    /// Writes the alerts in `format` (native by default).
    pub fn with_format(mut self, format: AlertFormat) -> Self {
        self.format = format;
        self
    }

    pub fn format(&self) -> AlertFormat {
        self.format
    }

    fn append(path: &str) -> std::io::Result<Out> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let good_len = file.metadata()?.len();
        Ok(Out::File { file, good_len })
    }

    pub fn from_writer(out: Box<dyn Write + Send>) -> Self {
        Self::with(Out::Stream(out), None)
    }

    /// Flushes and reopens the file by its name (after logrotate moved
    /// it: SIGHUP). On failure the old file stays in use.
    pub fn reopen(&mut self) -> std::io::Result<()> {
        let Some(path) = self.path.clone() else {
            return Ok(());
        };
        let _ = self.flush();
        self.out = Self::append(&path)?;
        let _ = self.flush();
        Ok(())
    }

    /// Queues one alert as one line and writes what is queued.
    pub fn write(&mut self, a: &Alert) -> std::io::Result<()> {
        let line = formats::to_line(a, self.format)?;
        if let Some(s) = &self.syslog {
            s.send(a, &line);
        }
        if self.pending.len() >= PENDING_ALERTS {
            self.pending.pop_front();
            self.dropped += 1;
        }
        self.pending.push_back(line);
        self.drain()
    }

    /// Writes the queued lines in order; stops at the first failure (the
    /// line it was writing is cut back out of the file).
    fn drain(&mut self) -> std::io::Result<()> {
        while let Some(line) = self.pending.front() {
            let r = match &mut self.out {
                Out::File { file, good_len } => match file.write_all(line) {
                    Ok(()) => {
                        *good_len += line.len() as u64;
                        Ok(())
                    }
                    Err(e) => {
                        // Whole or not at all: drop the torn tail.
                        let _ = file.set_len(*good_len);
                        Err(e)
                    }
                },
                Out::Stream(w) => w.write_all(line),
            };
            match r {
                Ok(()) => {
                    self.pending.pop_front();
                    self.written += 1;
                }
                Err(e) => {
                    self.errors += 1;
                    self.last_error = Some(e.to_string());
                    return Err(e);
                }
            }
        }
        self.last_error = None;
        Ok(())
    }

    /// Writes what is queued (retrying after a failure) and flushes.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.drain()?;
        match &mut self.out {
            Out::File { file, .. } => file.flush(),
            Out::Stream(w) => w.flush(),
        }
    }

    /// The file written to (None for standard output or a stream).
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// Lines waiting for the output, and why, while it fails.
    pub fn failing(&self) -> Option<(usize, &str)> {
        self.last_error
            .as_deref()
            .filter(|_| !self.pending.is_empty())
            .map(|e| (self.pending.len(), e))
    }
}

/// What is known of one session's evidence file.
struct EvidenceFile {
    path: PathBuf,
    linktype: i32,
    packets: u64,
    bytes: u64,
    /// A write to this file failed: it takes nothing more.
    failed: bool,
}

/// Evidence captures: one pcap per alerting session, with its frames as
/// captured (outer headers intact) at their exact time (nanosecond pcap,
/// so that a nanosecond input loses nothing). Capped per session and in total; at
/// most `max_open` files are open at once (the least recently written is
/// closed, and reopened for appending when its session writes again); a
/// file that already exists (a restart) is appended to, never truncated;
/// a write error stops that file only.
pub struct EvidenceWriter {
    dir: PathBuf,
    max_packets: u64,
    max_bytes: u64,
    max_total: u64,
    max_open: usize,
    /// Sessions with evidence, at most this many (then capped).
    max_files: usize,
    files: HashMap<SessionKey, EvidenceFile>,
    open: HashMap<SessionKey, (PcapWriter<BufWriter<File>>, u64)>,
    /// Write counter, for least-recently-written closing.
    clock: u64,
    total: u64,
    /// Frames not written because a cap was reached.
    pub capped: u64,
    /// Frames not written because their file failed.
    pub failed_frames: u64,
    /// The latest write error not yet reported (taken by the pipeline).
    pub error: Option<String>,
}

impl EvidenceWriter {
    pub fn new(dir: &Path, max_packets: u64, max_bytes: u64) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(EvidenceWriter {
            dir: dir.to_path_buf(),
            max_packets,
            max_bytes,
            max_total: u64::MAX,
            max_open: 64,
            max_files: 100_000,
            files: HashMap::new(),
            open: HashMap::new(),
            clock: 0,
            total: 0,
            capped: 0,
            failed_frames: 0,
            error: None,
        })
    }

    /// The writer of `cfg`'s caps.
    pub fn with_config(dir: &Path, cfg: &crate::config::EvidenceConfig) -> std::io::Result<Self> {
        let mut w = Self::new(dir, cfg.max_packets_per_session, cfg.max_bytes_per_session)?;
        w.max_total = cfg.max_total_bytes;
        w.max_open = cfg.max_open_files.max(1);
        Ok(w)
    }

    /// Opens (or reopens for appending) a session's file: the pcap header
    /// (nanosecond resolution) is written only to an empty file.
    fn open_file(path: &Path, linktype: i32) -> std::io::Result<PcapWriter<BufWriter<File>>> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let w = BufWriter::new(f);
        if w.get_ref().metadata()?.len() == 0 {
            PcapWriter::new_nanos(w, linktype as u32)
        } else if Self::is_microsecond_pcap(path) {
            // Written by an earlier version: its records stay in its
            // resolution, or their times would be read 1000 times off.
            Ok(PcapWriter::appending(w, linktype as u32))
        } else {
            Ok(PcapWriter::appending_nanos(w, linktype as u32))
        }
    }

    /// Whether the file starts with the microsecond pcap magic (an
    /// unreadable file is taken as one of ours, nanosecond).
    fn is_microsecond_pcap(path: &Path) -> bool {
        use std::io::Read;
        let mut magic = [0u8; 4];
        File::open(path)
            .and_then(|mut f| f.read_exact(&mut magic))
            .is_ok_and(|()| magic == crate::export::pcapfile::PCAP_MAGIC_MICROS.to_le_bytes())
    }

    /// Closes the least recently written open file.
    fn close_oldest(&mut self) {
        let Some(k) = self
            .open
            .iter()
            .min_by_key(|(_, (_, at))| *at)
            .map(|(k, _)| *k)
        else {
            return;
        };
        if let Some((mut w, _)) = self.open.remove(&k)
            && let Err(e) = w.flush()
        {
            self.fail(&k, &e);
        }
    }

    fn fail(&mut self, key: &SessionKey, e: &dyn std::fmt::Display) {
        if let Some(f) = self.files.get_mut(key) {
            f.failed = true;
            self.error = Some(format!("{}: {e}", f.path.display()));
        }
        self.open.remove(key);
    }

    /// Appends a frame to the session's evidence file; `ts_ns` is the
    /// nanoseconds past `ts_us` ([`Frame::ts_ns`]).
    pub fn write(
        &mut self,
        key: &SessionKey,
        linktype: i32,
        ts_us: i64,
        ts_ns: u16,
        orig_len: u32,
        data: &[u8],
    ) {
        if !self.files.contains_key(key) {
            if self.files.len() >= self.max_files {
                self.capped += 1;
                return;
            }
            self.files.insert(
                *key,
                EvidenceFile {
                    path: self.dir.join(evidence_file_name(key)),
                    linktype,
                    packets: 0,
                    bytes: 0,
                    failed: false,
                },
            );
        }
        let Some(f) = self.files.get(key) else {
            return;
        };
        if f.failed {
            self.failed_frames += 1;
            return;
        }
        let len = data.len() as u64;
        if f.packets >= self.max_packets
            || f.bytes + len > self.max_bytes
            || self.total + len > self.max_total
        {
            self.capped += 1;
            return;
        }
        let (path, lt) = (f.path.clone(), f.linktype);
        if !self.open.contains_key(key) {
            while self.open.len() >= self.max_open {
                self.close_oldest();
            }
            match Self::open_file(&path, lt) {
                Ok(w) => {
                    self.open.insert(*key, (w, 0));
                }
                Err(e) => {
                    self.fail(key, &e);
                    self.failed_frames += 1;
                    return;
                }
            }
        }
        self.clock += 1;
        let clock = self.clock;
        let r = match self.open.get_mut(key) {
            Some((w, at)) => {
                *at = clock;
                w.write_packet_ns(ts_us, ts_ns, orig_len, data)
            }
            None => return,
        };
        match r {
            Ok(()) => {
                if let Some(f) = self.files.get_mut(key) {
                    f.packets += 1;
                    f.bytes += len;
                }
                self.total += len;
            }
            Err(e) => {
                self.fail(key, &e);
                self.failed_frames += 1;
            }
        }
    }

    /// Keeps a processed frame when the engine marked it as evidence of
    /// its (alerting) session.
    #[inline]
    pub fn keep(&mut self, engine: &Engine, p: Processed, dlt: i32, fr: &Frame<'_>) {
        if p.evidence
            && let Some(r) = p.session
            && let Some((key, _)) = engine.sessions.get(r)
        {
            self.write(key, dlt, fr.ts_us, fr.ts_ns, fr.orig_len, fr.data);
        }
    }

    /// What failed, for the end of a run: how many evidence files failed
    /// (each takes nothing more and may be empty or cut short), the first
    /// ten by name, and the frames not written; None if none failed.
    pub fn failure_summary(&self) -> Option<String> {
        let mut failed: Vec<&Path> = self
            .files
            .values()
            .filter(|f| f.failed)
            .map(|f| f.path.as_path())
            .collect();
        if failed.is_empty() {
            return None;
        }
        failed.sort();
        let shown: Vec<String> = failed
            .iter()
            .take(10)
            .map(|p| p.display().to_string())
            .collect();
        let more = match failed.len() - shown.len() {
            0 => String::new(),
            n => format!(" and {n} more"),
        };
        Some(format!(
            "{} of {} files failed and may be empty or cut short ({}{more}); {} frames not written",
            failed.len(),
            self.files.len(),
            shown.join(", "),
            self.failed_frames
        ))
    }

    /// Flushes every open file; a file that fails stops, the others go on.
    /// The first failure of this call is returned.
    pub fn flush(&mut self) -> std::io::Result<()> {
        let mut failed = Vec::new();
        for (k, (w, _)) in self.open.iter_mut() {
            if let Err(e) = w.flush() {
                failed.push((*k, e));
            }
        }
        let mut first = None;
        for (k, e) in failed {
            self.fail(&k, &e);
            first.get_or_insert(e);
        }
        first.map_or(Ok(()), Err)
    }
}
