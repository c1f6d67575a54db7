//! The one pipeline: frames from a [`FrameSource`] (capture files, or
//! batches from capture threads) are decoded, judged by the engine, and
//! what it raises goes to the sinks (alert lines, evidence pcaps, the
//! state the HTTP API and metrics serve). `replay`, `replay --listen`
//! and `live` all run [`Pipeline::drive`]: the same ticks, signals,
//! reload, log reading and final report.
//!
//! Two clocks: the *stream clock* (the capture time of the frames; wall
//! time when live and idle) ticks the engine at most a second apart
//! ([`crate::detect::Engine::tick`]): queued lookups done, due sessions
//! judged, finished seconds closed. The *wall clock* drives housekeeping
//! about every 100 ms: signals, SIGHUP reload, configuration events from
//! syslog, output flushing, publishing, progress.
pub mod signals;
pub mod staged;

use std::path::PathBuf;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::{error, info, warn};

use crate::config::Config;
use crate::decode::{Decoded, Decoder, LinkType};
use crate::detect::{Engine, Processed};
use crate::export::alerts::{AlertWriter, EvidenceWriter};
use crate::export::state::{InterfaceStats, Shared};
use crate::logs::ConfigEvent;
use crate::report::{FileReport, LogSummary, Report, report_of};
use crate::source::files::{FileProblems, FileSource};
use crate::source::flow::intake::{FlowIntake, InputFormat};
use crate::source::prepared::Hashes;
use crate::source::{Frame, FrameSource, Step};
pub use signals::Signals;

/// Longest wait for a frame before housekeeping runs.
const WAIT: Duration = Duration::from_millis(100);
/// Housekeeping (signals, reload, flushing) at least this often.
const HOUSEKEEPING: Duration = Duration::from_millis(100);
/// Stream-clock ticks at most this far apart.
const TICK_US: i64 = 1_000_000;
/// Publishing and evidence flushing this often.
const PUBLISH_EVERY: Duration = Duration::from_secs(1);
/// State checkpoints this often.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(10);
/// Progress callbacks this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// The decoder, the flow intake and the engine: a frame or a flow record
/// in, the engine's verdicts updated.
pub struct Analyzer {
    decoder: Decoder,
    pub engine: Engine,
    pub flows: FlowIntake,
}

impl Analyzer {
    pub fn new(cfg: &Config) -> Self {
        Analyzer {
            decoder: Decoder::new(&cfg.decode),
            engine: Engine::new(cfg),
            flows: FlowIntake::new(&cfg.flows),
        }
    }

    /// Decodes and judges one frame.
    #[inline]
    pub fn frame(&mut self, f: &Frame<'_>) -> Processed {
        self.frame_decoded(f, None)
    }

    /// Judges one frame, decoded here unless the thread that read it did
    /// (`decoded`, with its fingerprints if that thread computed them). A
    /// frame that is an export datagram (UDP to `flows.collector_ports`)
    /// also gives its flow records.
    #[inline]
    pub fn frame_decoded(
        &mut self,
        f: &Frame<'_>,
        decoded: Option<(&Decoded<'_>, Option<Hashes>)>,
    ) -> Processed {
        let mut own = Decoded::default();
        let (d, hashes) = match decoded {
            Some(d) => d,
            None => {
                self.decoder
                    .decode_into(f.linktype, f.orig_len, f.data, &mut own);
                (&own, None)
            }
        };
        let p = match hashes {
            Some(h) => self.engine.observe_hashed(f, d, h),
            None => self.engine.observe(f, d),
        };
        if let Some((exporter, payload)) = self.flows.export_datagram(d) {
            self.datagram(exporter, f.ts_us, payload);
        }
        p
    }

    /// One export datagram received from `exporter` (`--flow-listen`).
    pub fn datagram(&mut self, exporter: core::net::IpAddr, ts_us: i64, payload: &[u8]) {
        let engine = &mut self.engine;
        let _ = self
            .flows
            .datagram(exporter, ts_us, payload, &mut |r| engine.flow_record(r));
    }

    /// Reads flow inputs (captures of export traffic, flow logs) into the
    /// engine.
    pub fn read_flows(&mut self, paths: &[String], force: Option<InputFormat>) {
        let engine = &mut self.engine;
        self.flows
            .read_inputs(paths, force, &self.decoder, &mut |r| engine.flow_record(r));
    }

    /// [`Analyzer::frame`] from its parts.
    pub fn process(
        &mut self,
        ts_us: i64,
        linktype: LinkType,
        orig_len: u32,
        data: &[u8],
    ) -> Processed {
        self.frame(&Frame {
            ts_us,
            ts_ns: 0,
            linktype,
            orig_len,
            data,
        })
    }
}

/// Where alerts, evidence and published state go.
#[derive(Default)]
pub struct Sinks {
    pub alerts: Option<AlertWriter>,
    pub evidence: Option<EvidenceWriter>,
    /// The state the HTTP API and metrics serve (sensor mode).
    pub shared: Option<Arc<Shared>>,
    /// Capture statistics published with it.
    pub interfaces: Option<Arc<Mutex<Vec<InterfaceStats>>>>,
    /// Log each alert (sensor mode).
    pub log_alerts: bool,
    /// `--flow-listen` sockets' counts.
    pub flow_listen: Option<Arc<crate::source::flow::listen::ListenStats>>,
    /// `--syslog-listen`'s counts.
    pub syslog_listen: Option<Arc<crate::source::syslog::SyslogStats>>,
}

/// Progress of a long replay, for a progress line.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    pub file_index: usize,
    pub files: usize,
    pub path: &'a str,
    pub packets: u64,
    pub bytes: u64,
    pub elapsed: Duration,
}

/// How a run is steered besides its frames.
#[derive(Default)]
pub struct Control<'a> {
    /// Signal flags (installed by the caller, or bare for tests).
    pub signals: Option<Arc<Signals>>,
    /// Re-read on SIGHUP.
    pub config_path: Option<PathBuf>,
    /// Configuration events arriving while running (syslog listener).
    pub config_events: Option<Receiver<ConfigEvent>>,
    /// Live capture: the stream clock also ticks on wall-clock time when
    /// no frame arrives.
    pub wall_clock: bool,
    /// After the input ends, keep publishing (and reloading) until a
    /// signal.
    pub hold: bool,
    pub progress: Option<&'a mut dyn FnMut(Progress<'_>)>,
}

/// What a finished run leaves.
pub struct Outcome {
    pub report: Report,
    /// Alert or evidence output that failed.
    pub output_errors: Vec<String>,
    /// The signal that stopped it early, if one did.
    pub signal: Option<i32>,
}

/// The pipeline: analyzer, sinks, configuration, and what was read.
pub struct Pipeline {
    pub analyzer: Analyzer,
    sinks: Sinks,
    cfg: Config,
    logs: Vec<LogSummary>,
    output_errors: Vec<String>,
    /// The alerts output was failing at the last write or flush (its
    /// changes are logged).
    alerts_failing: bool,
    /// Evidence writes that failed, and the last failure while it lasts.
    evidence_errors: u64,
    evidence_failing: Option<String>,
    next_tick_us: i64,
    started: Instant,
    /// `--state`: restored at start, checkpointed while running.
    store: Option<crate::store::Store>,
    /// Flow inputs read when the frames end (`replay --flows`, `flows`).
    flow_inputs: Vec<String>,
    flow_format: Option<InputFormat>,
}

impl Pipeline {
    pub fn new(cfg: Config, sinks: Sinks) -> Self {
        let mut analyzer = Analyzer::new(&cfg);
        analyzer.engine.enable_evidence(sinks.evidence.is_some());
        Pipeline {
            analyzer,
            sinks,
            cfg,
            logs: Vec::new(),
            output_errors: Vec::new(),
            alerts_failing: false,
            evidence_errors: 0,
            evidence_failing: None,
            next_tick_us: i64::MIN,
            started: Instant::now(),
            store: None,
            flow_inputs: Vec::new(),
            flow_format: None,
        }
    }

    /// Drives the pipeline over capture files ([`Pipeline::drive`]): with
    /// `workers` threads beside this one to read and decode
    /// ([`staged::StagedSource`]) when it is at least 1, reading is
    /// unpaced and every input is a regular file; on this thread otherwise
    /// (or when the threads cannot start). The reader thread hands over
    /// whole read buffers of 256 KiB, so a pipe that trickles
    /// (`tcpdump -w - | mirrorwatch replay -`) would have its frames judged,
    /// and their alerts raised, only once 256 KiB had come; on this thread
    /// each frame is judged as soon as it has arrived. Returns the stop
    /// signal and the file source, its last file closed into its reports.
    pub fn drive_files(
        &mut self,
        paths: Vec<String>,
        pace: Option<f64>,
        workers: usize,
        ctl: &mut Control<'_>,
    ) -> (Option<i32>, FileSource) {
        // Standard input, FIFOs, devices; a file that cannot be looked at
        // is left to the reader to report.
        let streams = paths
            .iter()
            .any(|p| p == "-" || std::fs::metadata(p).is_ok_and(|m| !m.file_type().is_file()));
        if workers >= 1 && pace.is_none() && !paths.is_empty() && !streams {
            match staged::StagedSource::start(paths.clone(), &self.cfg, workers) {
                Ok(mut source) => {
                    let signal = self.drive(&mut source, ctl);
                    let mut files = source.finish();
                    files.close_current();
                    return (signal, files);
                }
                Err(e) => {
                    warn!(error = %e, "cannot start the reader thread; reading on one thread")
                }
            }
        }
        let mut files = FileSource::new(paths, pace);
        // This thread reads: a signal must end a pipe that gives nothing.
        if let Some(s) = &ctl.signals {
            files.stop_on(s.stop_flag());
        }
        let signal = self.drive(&mut files, ctl);
        files.close_current();
        (signal, files)
    }

    /// Flow inputs to read once the frames end, before every session is
    /// judged a last time: packet sessions are judged from their packets
    /// first, and a flow session that is one of them adds to it.
    pub fn flow_inputs(&mut self, paths: &[String], force: Option<InputFormat>) {
        self.flow_inputs = paths.to_vec();
        self.flow_format = force;
    }

    /// Configuration logs read before the frames, so that every session
    /// can be matched against every event. Warnings are logged.
    pub fn read_logs(&mut self, paths: &[String], year: i32) {
        if paths.is_empty() {
            return;
        }
        let summaries = read_logs(&mut self.analyzer.engine, paths, year);
        for s in &summaries {
            for w in &s.warnings {
                warn!(warning = %w, "log file");
            }
            match &s.error {
                Some(e) => error!(error = %e, "log file not read"),
                None => {
                    info!(path = %s.path, events = s.recognised, unmatched = s.unmatched, "log file read")
                }
            }
        }
        self.logs.extend(summaries);
        self.drain_alerts();
    }

    /// Restores what `store` holds and checkpoints into it from now on.
    pub fn attach_store(
        &mut self,
        store: crate::store::Store,
    ) -> Result<(), crate::store::StoreError> {
        let snap = store.load()?;
        info!(
            path = %store.path().display(),
            sessions = snap.sessions.len(),
            config_events = snap.events.len(),
            "state restored"
        );
        self.analyzer.engine.restore(snap);
        self.store = Some(store);
        Ok(())
    }

    /// Saves the engine's state (periodically and at the end).
    fn checkpoint(&mut self) {
        let snap = self.analyzer.engine.snapshot();
        if let Some(st) = self.store.as_mut()
            && let Err(e) = st.save(&snap)
        {
            error!(error = %e, "state not saved");
            note_error(&mut self.output_errors, "state", &e);
        }
    }

    /// Receives configuration events while running (watching logs from
    /// the start).
    pub fn watch_logs(&mut self) {
        self.analyzer.engine.watch_logs();
    }

    /// One frame through the analyzer and the sinks (`decoded`: by the
    /// thread that read it).
    #[inline(always)]
    fn frame(&mut self, fr: &Frame<'_>, dlt: i32, decoded: Option<(&Decoded<'_>, Option<Hashes>)>) {
        if fr.ts_us >= self.next_tick_us {
            self.tick(fr.ts_us);
        }
        let p = self.analyzer.frame_decoded(fr, decoded);
        if p.evidence
            && let Some(ev) = self.sinks.evidence.as_mut()
        {
            ev.keep(&self.analyzer.engine, p, dlt, fr);
        }
        if self.analyzer.engine.has_alerts() {
            self.drain_alerts();
        }
    }

    /// A stream-clock tick.
    fn tick(&mut self, now_us: i64) {
        if self.next_tick_us != i64::MIN {
            self.analyzer.engine.tick(now_us);
            self.drain_alerts();
        }
        self.next_tick_us = now_us.saturating_add(TICK_US);
    }

    /// Alerts raised so far to every sink.
    fn drain_alerts(&mut self) {
        let Pipeline {
            analyzer, sinks, ..
        } = self;
        let mut failed = None;
        for a in analyzer.engine.drain_alerts() {
            if let Some(s) = &sinks.shared {
                s.record_alert(&a);
            }
            if sinks.log_alerts {
                info!(kind = a.kind.as_str(), severity = a.severity.as_str(), message = %a.message, "alert");
            }
            // A line the output refuses is held by the writer and retried.
            if let Some(w) = sinks.alerts.as_mut()
                && let Err(e) = w.write(&a)
            {
                failed = Some(e);
            }
        }
        if let Some(e) = failed {
            self.alerts_failed(&e);
        }
    }

    /// The alerts output failed: recorded, and logged when it starts.
    fn alerts_failed(&mut self, e: &std::io::Error) {
        if !self.alerts_failing {
            error!(output = "alerts", error = %e, "output failed; alerts are held in memory and retried");
        }
        self.alerts_failing = true;
        note_error(&mut self.output_errors, "alerts", e);
    }

    /// Writes and flushes what the outputs hold; retries lines an alerts
    /// file refused before. A failure is logged at once (the first of each
    /// output in a row), counted, and shown by `/healthz` until it passes.
    fn flush_outputs(&mut self, evidence: bool) {
        if let Some(w) = self.sinks.alerts.as_mut() {
            match w.flush() {
                Err(e) => self.alerts_failed(&e),
                Ok(()) if self.alerts_failing => {
                    self.alerts_failing = false;
                    info!("alerts output writable again; held alerts written");
                }
                Ok(()) => {}
            }
        }
        if evidence && let Some(ev) = self.sinks.evidence.as_mut() {
            let mut failed = ev.flush().err().map(|e| e.to_string());
            if let Some(e) = ev.error.take() {
                failed = Some(e.to_string());
            }
            match failed {
                Some(e) => {
                    self.evidence_errors += 1;
                    if self.evidence_failing.is_none() {
                        error!(output = "evidence", error = %e, "output failed; that file takes nothing more");
                    }
                    note_error(&mut self.output_errors, "evidence", &e);
                    self.evidence_failing = Some(e);
                }
                None => self.evidence_failing = None,
            }
        }
        self.publish_outputs();
    }

    /// The outputs' health for `/healthz` and the metrics.
    fn publish_outputs(&self) {
        let Some(shared) = &self.sinks.shared else {
            return;
        };
        let mut h = crate::export::state::OutputHealth::default();
        if let Some(w) = &self.sinks.alerts {
            h.errors[0] = w.errors;
            if let Some(st) = w.syslog_stats() {
                h.errors[2] = st.unsent();
            }
            if let Some((n, e)) = w.failing() {
                h.failing
                    .insert("alerts", format!("{n} alerts held in memory: {e}"));
            }
        }
        h.errors[1] = self.evidence_errors;
        if let Some(e) = &self.evidence_failing {
            h.failing.insert("evidence", e.clone());
        }
        shared.set_outputs(h);
    }

    /// What the flow sources sent, once any record was read or a listener
    /// is open.
    fn flow_summary(&self) -> Option<crate::source::flow::intake::FlowSummary> {
        let a = &self.analyzer;
        if a.engine.flow_records == 0
            && a.flows.inputs.is_empty()
            && self.sinks.flow_listen.is_none()
        {
            return None;
        }
        let mut f = a.flows.summary(a.engine.flows.sampled_ordinary);
        if let Some(l) = &self.sinks.flow_listen {
            let n = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
            f.collector.queue_dropped = n(&l.dropped);
            f.collector.kernel_dropped = n(&l.kernel_dropped);
        }
        Some(f)
    }

    fn publish(&self, wall_clock: bool) {
        if let Some(shared) = &self.sinks.shared {
            let st = self
                .sinks
                .interfaces
                .as_ref()
                .and_then(|i| i.lock().ok().map(|v| v.clone()))
                .unwrap_or_default();
            // Processing lag is wall clock against capture time: meaningful
            // live, not for a replayed (old) capture.
            let engine = &self.analyzer.engine;
            let now = if wall_clock {
                now_us()
            } else {
                engine.last_ts_us()
            };
            if let Some(s) = &self.sinks.syslog_listen {
                shared.set_syslog(s.counts());
            }
            shared.publish(engine, &st, now, self.flow_summary());
        }
    }

    /// SIGHUP: reopens the alerts file (logrotate's `postrotate`), then
    /// re-reads the configuration.
    fn hangup(&mut self, path: Option<&PathBuf>) {
        self.flush_outputs(false);
        if let Some(w) = self.sinks.alerts.as_mut() {
            match w.reopen() {
                Ok(()) => info!("SIGHUP: alerts file reopened"),
                Err(e) => {
                    error!(error = %e, "SIGHUP: alerts file not reopened; writing on to the old one")
                }
            }
        }
        self.reload(path);
    }

    /// Re-reads the configuration and applies every setting that can
    /// change while running; names those that need a restart.
    fn reload(&mut self, path: Option<&PathBuf>) {
        let Some(path) = path else {
            warn!("SIGHUP: no --config file to reload");
            return;
        };
        match Config::load(path) {
            Ok(c) => {
                for field in self.cfg.restart_needed(&c) {
                    warn!(
                        setting = field,
                        "SIGHUP: this setting changed and needs a restart; the running value stays"
                    );
                }
                self.analyzer.engine.reload(&c);
                if let Some(s) = &self.sinks.shared {
                    s.set_sensor(&c.sensor);
                }
                self.cfg.apply_reloadable(&c);
                self.drain_alerts();
                info!(path = %path.display(), sensor = %c.sensor, "configuration reloaded");
            }
            Err(e) => error!(error = %e, "SIGHUP: configuration not reloaded"),
        }
    }

    /// Reads `source` to its end or until a stop signal, ticking and
    /// housekeeping on the way; then judges every session, flushes every
    /// output and (with `hold`) keeps serving until a signal. Returns the
    /// signal that stopped it early.
    pub fn drive<S: FrameSource>(&mut self, source: &mut S, ctl: &mut Control<'_>) -> Option<i32> {
        let mut last_house = Instant::now();
        let mut last_publish = Instant::now();
        let mut last_progress = Instant::now();
        let mut last_checkpoint = Instant::now();
        let mut n = 0u32;
        let mut stopped = None;
        self.publish(ctl.wall_clock);
        loop {
            match source.next(WAIT) {
                Step::Frame(fr, dlt) => {
                    self.frame(&fr, dlt, None);
                    n = n.wrapping_add(1);
                    if n % 64 != 0 {
                        continue;
                    }
                }
                Step::Prepared(p) => {
                    let d = p.decoded.as_ref().map(|d| (d, p.hashes));
                    self.frame(&p.frame, p.dlt, d);
                    n = n.wrapping_add(1);
                    if n % 64 != 0 {
                        continue;
                    }
                }
                Step::Datagram(dg) => {
                    self.analyzer.datagram(dg.exporter, dg.ts_us, dg.payload);
                    if self.analyzer.engine.has_alerts() {
                        self.drain_alerts();
                    }
                    n = n.wrapping_add(1);
                    if n % 64 != 0 {
                        continue;
                    }
                }
                Step::Idle => {}
                Step::End => break,
            }
            let now = Instant::now();
            if now - last_house < HOUSEKEEPING {
                continue;
            }
            last_house = now;
            if stopped.is_none()
                && let Some(sig) = ctl.signals.as_ref().and_then(|s| s.stop_requested())
            {
                info!(signal = sig, "stopping: judging and flushing what was read");
                stopped = Some(sig);
                source.stop();
                if !source.drains_after_stop() {
                    break;
                }
            }
            self.housekeeping(ctl);
            if ctl.wall_clock {
                let wall = now_us();
                if wall >= self.next_tick_us {
                    self.tick(wall);
                }
            }
            self.flush_outputs(false);
            if now - last_publish >= PUBLISH_EVERY {
                self.flush_outputs(true);
                self.publish(ctl.wall_clock);
                // A second from the end of this publication: however long
                // it took, frames get the time between two of them.
                last_publish = Instant::now();
            }
            if self.store.is_some() && now - last_checkpoint >= CHECKPOINT_EVERY {
                last_checkpoint = now;
                self.checkpoint();
            }
            if now - last_progress >= PROGRESS_EVERY
                && let Some(cb) = ctl.progress.as_deref_mut()
            {
                last_progress = now;
                let e = &self.analyzer.engine;
                if let Some((file_index, files, path)) = source.position() {
                    cb(Progress {
                        file_index,
                        files,
                        path,
                        packets: e.packets,
                        bytes: e.bytes,
                        elapsed: now - self.started,
                    });
                }
            }
        }
        // A signal can end the input before the loop looks: a pipe or
        // FIFO read on this thread ends when the stop flag is set.
        if stopped.is_none()
            && let Some(sig) = ctl.signals.as_ref().and_then(|s| s.stop_requested())
        {
            info!(signal = sig, "stopped: judging and flushing what was read");
            stopped = Some(sig);
        }
        if stopped.is_none() && !self.flow_inputs.is_empty() {
            let paths = std::mem::take(&mut self.flow_inputs);
            // Warnings and errors are the caller's to show (the report
            // lists every input).
            self.analyzer.read_flows(&paths, self.flow_format);
            self.drain_alerts();
        }
        self.analyzer.flows.finish();
        self.housekeeping(ctl);
        self.analyzer.engine.finish();
        self.drain_alerts();
        self.flush_outputs(true);
        self.publish(ctl.wall_clock);
        if self.store.is_some() {
            self.checkpoint();
        }
        tracing::debug!(packets = self.analyzer.engine.packets, "pipeline drained");
        if ctl.hold && stopped.is_none() {
            info!("input finished; holding the HTTP server until SIGINT or SIGTERM");
            loop {
                std::thread::sleep(WAIT);
                // Alerts held back by a failing output are retried.
                self.flush_outputs(false);
                if let Some(sig) = ctl.signals.as_ref().and_then(|s| s.stop_requested()) {
                    // Held after a complete read: not an interruption.
                    info!(signal = sig, "stopping");
                    break;
                }
                if ctl.signals.as_ref().is_some_and(|s| s.take_hup()) {
                    self.hangup(ctl.config_path.as_ref());
                    self.flush_outputs(true);
                    self.publish(ctl.wall_clock);
                }
            }
        }
        stopped
    }

    /// Signals (SIGHUP) and configuration events from listeners.
    fn housekeeping(&mut self, ctl: &mut Control<'_>) {
        if ctl.signals.as_ref().is_some_and(|s| s.take_hup()) {
            self.hangup(ctl.config_path.as_ref());
        }
        if let Some(rx) = &ctl.config_events {
            let mut any = false;
            while let Ok(e) = rx.try_recv() {
                self.analyzer.engine.config_event(e);
                any = true;
            }
            if any {
                self.drain_alerts();
            }
        }
    }

    /// The report of what was read, and the output errors.
    pub fn outcome(mut self, files: Vec<FileReport>, signal: Option<i32>) -> Outcome {
        if let Some(w) = &self.sinks.alerts {
            let name = w.path().unwrap_or("alerts");
            if let Some((n, e)) = w.failing() {
                self.output_errors
                    .push(format!("{name}: {n} alerts could not be written: {e}"));
            }
            if w.dropped > 0 {
                self.output_errors.push(format!(
                    "{name}: {} alerts dropped while the output failed (queue full)",
                    w.dropped
                ));
            }
        }
        // Every failed evidence file, not only the first error.
        if let Some(e) = self
            .sinks
            .evidence
            .as_ref()
            .and_then(EvidenceWriter::failure_summary)
        {
            self.output_errors.push(format!("evidence: {e}"));
        }
        let mut report = report_of(&self.analyzer.engine, files, &self.cfg);
        report.flows = self.flow_summary();
        report.logs = self.logs;
        report.interrupted = signal.is_some();
        Outcome {
            report,
            output_errors: self.output_errors,
            signal,
        }
    }
}

/// Records the first error of each output for the end of the run (later
/// ones repeat it); logging is the caller's, when the output starts failing.
fn note_error(errors: &mut Vec<String>, output: &str, e: &dyn std::fmt::Display) {
    let prefix = format!("{output}: ");
    if !errors.iter().any(|x| x.starts_with(&prefix)) {
        errors.push(format!("{prefix}{e}"));
    }
}

use crate::time::now_us;

/// Reads configuration logs into the engine.
pub fn read_logs(engine: &mut Engine, paths: &[String], year: i32) -> Vec<LogSummary> {
    engine.watch_logs();
    let mut reader = crate::logs::LogReader::new(year);
    let mut out = Vec::new();
    for path in paths {
        match reader.read_file(std::path::Path::new(path)) {
            Ok(o) => {
                let mut warnings: Vec<String> = o
                    .warnings
                    .iter()
                    .map(|w| format!("{}: {}", w.origin, w.reason))
                    .collect();
                if o.warnings_dropped > 0 {
                    warnings.push(format!("{path}: {} more warnings", o.warnings_dropped));
                }
                out.push(LogSummary {
                    path: path.clone(),
                    format: format!("{:?}", o.format).to_lowercase(),
                    lines: o.lines,
                    records: o.records,
                    recognised: o.recognised,
                    unmatched: o.unmatched,
                    malformed: o.malformed,
                    warnings,
                    error: None,
                });
                for e in o.events {
                    engine.config_event(e);
                }
            }
            Err(e) => out.push(LogSummary {
                path: path.clone(),
                format: "none".to_owned(),
                lines: 0,
                records: 0,
                recognised: 0,
                unmatched: 0,
                malformed: 0,
                warnings: Vec::new(),
                error: Some(e.to_string()),
            }),
        }
    }
    out
}

/// What a file replay needs besides the files.
#[derive(Default)]
pub struct Outputs<'a> {
    /// Configuration logs (syslog, CloudTrail, GCP, Azure) read first.
    pub logs: &'a [String],
    /// Year of RFC 3164 syslog times; default this year.
    pub year: Option<i32>,
    pub progress: Option<&'a mut dyn FnMut(Progress<'_>)>,
    pub alerts: Option<AlertWriter>,
    pub evidence: Option<EvidenceWriter>,
    pub signals: Option<Arc<Signals>>,
    pub config_path: Option<PathBuf>,
    /// `--state`: restored before the frames, saved at the end.
    pub store: Option<crate::store::Store>,
    /// `--flows`: flow inputs read after the captures.
    pub flows: &'a [String],
    /// `--input-format` of the flow inputs.
    pub flow_format: Option<InputFormat>,
    /// Threads beside the engine thread ([`Pipeline::drive_files`]): 0
    /// does everything on one thread, 1 reads and decodes on a thread of
    /// its own, N >= 2 reads on one and decodes on N - 1 decode workers
    /// ([`staged`]). Results are the same.
    pub workers: usize,
}

/// A replay's report and what went wrong with its inputs and outputs.
pub struct Replayed {
    pub outcome: Outcome,
    pub files: FileProblems,
}

/// Why a replay could not start.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    State(#[from] crate::store::StoreError),
}

/// Replays `paths` in order into one inventory, with no output besides the
/// report.
pub fn replay(paths: &[String], cfg: &Config) -> (Report, FileProblems) {
    let p = Pipeline::new(cfg.clone(), Sinks::default());
    let r = replay_files(p, paths, 0, Control::default());
    (r.outcome.report, r.files)
}

/// Replays `paths` in order into one inventory, writing alerts and
/// evidence as they are raised: [`Pipeline::drive`] over a [`FileSource`].
pub fn replay_with(
    paths: &[String],
    cfg: &Config,
    out: Outputs<'_>,
) -> Result<Replayed, ReplayError> {
    let mut p = Pipeline::new(
        cfg.clone(),
        Sinks {
            alerts: out.alerts,
            evidence: out.evidence,
            ..Sinks::default()
        },
    );
    p.read_logs(out.logs, out.year.unwrap_or_else(crate::time::current_year));
    p.flow_inputs(out.flows, out.flow_format);
    if let Some(st) = out.store {
        p.attach_store(st)?;
    }
    let ctl = Control {
        signals: out.signals,
        config_path: out.config_path,
        progress: out.progress,
        ..Control::default()
    };
    Ok(replay_files(p, paths, out.workers, ctl))
}

fn replay_files(
    mut p: Pipeline,
    paths: &[String],
    workers: usize,
    mut ctl: Control<'_>,
) -> Replayed {
    let (signal, mut files) = p.drive_files(paths.to_vec(), None, workers, &mut ctl);
    Replayed {
        outcome: p.outcome(std::mem::take(&mut files.reports), signal),
        files: files.problems,
    }
}
