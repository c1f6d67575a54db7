//! Sensor mode: live capture (or a paced replay) feeding the engine on its
//! own thread, with the HTTP API, signals, configuration reload and
//! privilege drop around it.
//!
//! Threads: one producer per interface (or one for the replayed files)
//! copies frames into batches and sends them over a bounded channel; one
//! engine thread processes them, writes alerts and evidence, and publishes
//! its state to [`Shared`] about once a second; the main thread runs the
//! tokio runtime for the HTTP server and signal handling. A single engine
//! keeps a single duplicate window, so an original and its copies always
//! meet, whatever interface or order they arrive in.
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::{error, info, warn};

use crate::config::Config;
use crate::decode::LinkType;
use crate::detect::Engine;
use crate::export::alerts::{AlertWriter, EvidenceWriter};
use crate::export::http;
use crate::export::metrics::Metrics;
use crate::export::state::{InterfaceStats, Shared};
use crate::replay::{FileReport, Report};
use crate::source::live::{LiveCapture, LiveError, LiveOptions};
use crate::source::{CaptureFile, Frame};

/// Frames per batch sent from a producer to the engine.
const BATCH_FRAMES: usize = 256;
/// A partly filled batch is sent after this long.
const BATCH_AGE: Duration = Duration::from_millis(50);
/// Batches in flight between producers and the engine.
const CHANNEL_BATCHES: usize = 64;
/// How often the engine publishes its state.
const PUBLISH_EVERY: Duration = Duration::from_secs(1);

/// What the sensor reads.
pub enum Input {
    Live {
        interfaces: Vec<String>,
        options: LiveOptions,
    },
    Replay {
        files: Vec<String>,
        /// None: as fast as possible; Some(f): capture time / f.
        pace: Option<f64>,
    },
}

/// Outputs and operations.
pub struct SensorOptions {
    pub config: Config,
    /// Re-read on SIGHUP.
    pub config_path: Option<PathBuf>,
    pub listen: Option<String>,
    pub alerts: Option<String>,
    pub evidence: Option<PathBuf>,
    /// Drop privileges to this user once captures are open.
    pub user: Option<String>,
    /// Keep serving after a replay ended, until SIGINT/SIGTERM.
    pub hold: bool,
    /// Configuration-change logs read at start.
    pub logs: Vec<String>,
    /// Receive device syslog here (UDP and TCP).
    pub syslog_listen: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SensorError {
    #[error(transparent)]
    Live(#[from] LiveError),
    #[error(transparent)]
    Http(#[from] http::HttpError),
    #[error("{0}")]
    Setup(String),
}

/// What a finished sensor run leaves.
pub struct Outcome {
    pub report: Report,
    pub output_errors: Vec<String>,
    pub unreadable: Vec<String>,
}

/// A batch of frames copied out of libpcap's buffer.
struct Batch {
    dlt: i32,
    arena: Vec<u8>,
    meta: Vec<(i64, LinkType, u32, usize, usize)>,
}

impl Batch {
    fn new(dlt: i32) -> Self {
        Batch {
            dlt,
            arena: Vec::with_capacity(BATCH_FRAMES * 512),
            meta: Vec::with_capacity(BATCH_FRAMES),
        }
    }
    fn push(&mut self, ts_us: i64, lt: LinkType, orig_len: u32, data: &[u8]) {
        let start = self.arena.len();
        self.arena.extend_from_slice(data);
        self.meta.push((ts_us, lt, orig_len, start, data.len()));
    }
    fn is_full(&self) -> bool {
        self.meta.len() >= BATCH_FRAMES
    }
}

/// Sends a batch, waiting while the engine is behind (the kernel buffer
/// then absorbs the burst and counts what it drops); gives up on stop.
fn send(tx: &SyncSender<Batch>, mut b: Batch, stop: &AtomicBool) -> bool {
    loop {
        match tx.try_send(b) {
            Ok(()) => return true,
            Err(TrySendError::Disconnected(_)) => return false,
            Err(TrySendError::Full(back)) => {
                if stop.load(Ordering::Relaxed) {
                    return false;
                }
                b = back;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) {
    let end = Instant::now() + d;
    while Instant::now() < end && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One interface: capture, batch, send; on failure report it down and
/// reopen with backoff.
fn capture_thread(
    mut cap: LiveCapture,
    options: LiveOptions,
    slot: usize,
    ifstats: Arc<Mutex<Vec<InterfaceStats>>>,
    tx: SyncSender<Batch>,
    stop: Arc<AtomicBool>,
) {
    let iface = cap.iface().to_owned();
    let mut batch = Batch::new(cap.dlt());
    let mut batch_start = Instant::now();
    let mut last_stats = Instant::now();
    let mut bytes = 0u64;
    let mut backoff = Duration::from_secs(1);
    let set = |f: &dyn Fn(&mut InterfaceStats)| {
        if let Ok(mut v) = ifstats.lock()
            && let Some(s) = v.get_mut(slot)
        {
            f(s);
        }
    };
    let publish_stats = |cap: &mut LiveCapture, bytes: u64| {
        let st = cap.stats();
        set(&|s| {
            s.received_packets = st.received;
            s.received_bytes = bytes;
            s.kernel_dropped = st.kernel_dropped;
            s.interface_dropped = st.interface_dropped;
        });
    };
    while !stop.load(Ordering::Relaxed) {
        match cap.next_frame() {
            Ok(Some(fr)) => {
                bytes += u64::from(fr.orig_len);
                batch.push(fr.ts_us, fr.linktype, fr.orig_len, fr.data);
            }
            Ok(None) => {}
            Err(e) => {
                warn!(interface = %iface, error = %e, "capture failed; reopening with backoff");
                set(&|s| s.up = false);
                loop {
                    sleep_unless_stopped(backoff, &stop);
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    match LiveCapture::open(&iface, &options) {
                        Ok(c) => {
                            info!(interface = %iface, "capture reopened");
                            cap = c;
                            backoff = Duration::from_secs(1);
                            set(&|s| s.up = true);
                            break;
                        }
                        Err(e) => {
                            warn!(interface = %iface, error = %e, retry_in_s = backoff.as_secs(), "reopen failed");
                            backoff = (backoff * 2).min(Duration::from_secs(30));
                        }
                    }
                }
                continue;
            }
        }
        if batch.is_full() || (!batch.meta.is_empty() && batch_start.elapsed() >= BATCH_AGE) {
            let full = std::mem::replace(&mut batch, Batch::new(cap.dlt()));
            if !send(&tx, full, &stop) {
                break;
            }
            batch_start = Instant::now();
        }
        if last_stats.elapsed() >= Duration::from_secs(1) {
            last_stats = Instant::now();
            publish_stats(&mut cap, bytes);
        }
    }
    if !batch.meta.is_empty() {
        send(&tx, batch, &stop);
    }
    info!(interface = %iface, "capture stopped");
    publish_stats(&mut cap, bytes);
}

/// Replayed files: read, pace, batch, send.
fn replay_thread(
    files: Vec<String>,
    pace: Option<f64>,
    ifstats: Arc<Mutex<Vec<InterfaceStats>>>,
    tx: SyncSender<Batch>,
    stop: Arc<AtomicBool>,
    reports: Arc<Mutex<(Vec<FileReport>, Vec<String>)>>,
) {
    let start = Instant::now();
    let mut first_ts: Option<i64> = None;
    let (mut packets, mut bytes) = (0u64, 0u64);
    'files: for path in files {
        let mut f = match CaptureFile::open(&path) {
            Ok(f) => f,
            Err(e) => {
                error!(error = %e, "cannot replay");
                if let Ok(mut r) = reports.lock() {
                    r.1.push(e.to_string());
                    r.0.push(FileReport {
                        path: path.clone(),
                        packets: 0,
                        bytes: 0,
                        linktype: "none".to_owned(),
                        error: Some(e.to_string()),
                    });
                }
                continue;
            }
        };
        let dlt = f.dlt();
        let mut batch = Batch::new(dlt);
        let mut error = None;
        loop {
            if stop.load(Ordering::Relaxed) {
                break 'files;
            }
            match f.next_frame() {
                Ok(Some(fr)) => {
                    if let Some(factor) = pace {
                        let t0 = *first_ts.get_or_insert(fr.ts_us);
                        let due =
                            Duration::from_secs_f64(((fr.ts_us - t0).max(0) as f64 / 1e6) / factor);
                        let now = start.elapsed();
                        if due > now {
                            // Hand over what is ready before waiting.
                            if !batch.meta.is_empty() {
                                let b = std::mem::replace(&mut batch, Batch::new(dlt));
                                if !send(&tx, b, &stop) {
                                    break 'files;
                                }
                            }
                            sleep_unless_stopped(due - now, &stop);
                        }
                    }
                    packets += 1;
                    bytes += u64::from(fr.orig_len);
                    batch.push(fr.ts_us, fr.linktype, fr.orig_len, fr.data);
                    if batch.is_full() {
                        let b = std::mem::replace(&mut batch, Batch::new(dlt));
                        if !send(&tx, b, &stop) {
                            break 'files;
                        }
                        if let Ok(mut v) = ifstats.lock()
                            && let Some(s) = v.get_mut(0)
                        {
                            s.received_packets = packets;
                            s.received_bytes = bytes;
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    warn!(error = %e, "capture cut off; the frames before it are kept");
                    error = Some(e.to_string());
                    break;
                }
            }
        }
        if !batch.meta.is_empty() && !send(&tx, batch, &stop) {
            break;
        }
        if let Ok(mut r) = reports.lock() {
            r.0.push(FileReport {
                path: path.clone(),
                packets: f.packets(),
                bytes: f.bytes(),
                linktype: match f.linktype() {
                    LinkType::Unsupported(d) => format!("dlt-{d}"),
                    other => other.name().to_owned(),
                },
                error,
            });
        }
    }
    if let Ok(mut v) = ifstats.lock()
        && let Some(s) = v.get_mut(0)
    {
        s.received_packets = packets;
        s.received_bytes = bytes;
    }
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// The engine thread: process batches, write alerts and evidence, publish.
#[allow(clippy::too_many_arguments)]
fn engine_thread(
    mut engine: Engine,
    rx: Receiver<Batch>,
    shared: Arc<Shared>,
    ifstats: Arc<Mutex<Vec<InterfaceStats>>>,
    mut alerts: Option<AlertWriter>,
    mut evidence: Option<EvidenceWriter>,
    reload: Arc<Mutex<Option<Config>>>,
    live: bool,
    config_events: Receiver<crate::logs::ConfigEvent>,
) -> (Engine, Vec<String>, Option<AlertWriter>) {
    let mut errors = Vec::new();
    let mut last_publish = Instant::now();
    // Processing lag is wall clock against capture time: meaningful live,
    // not for a replayed (old) capture.
    let publish = |engine: &Engine| {
        let st = ifstats.lock().map(|v| v.clone()).unwrap_or_default();
        let now = if live { now_us() } else { engine.last_ts_us() };
        shared.publish(engine, &st, now);
    };
    publish(&engine);
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(b) => {
                for &(ts_us, linktype, orig_len, start, len) in &b.meta {
                    let fr = Frame {
                        ts_us,
                        linktype,
                        orig_len,
                        data: &b.arena[start..start + len],
                    };
                    let p = engine.process(ts_us, linktype, orig_len, fr.data);
                    if let Some(ev) = evidence.as_mut() {
                        ev.keep(&engine, p, b.dlt, &fr);
                    }
                }
                take_alerts(&mut engine, &shared, alerts.as_mut(), &mut errors);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        let mut got_events = false;
        while let Ok(e) = config_events.try_recv() {
            engine.config_event(e);
            got_events = true;
        }
        if got_events {
            take_alerts(&mut engine, &shared, alerts.as_mut(), &mut errors);
        }
        if let Some(cfg) = reload.lock().ok().and_then(|mut r| r.take()) {
            engine.reload(&cfg);
            info!("configuration reloaded");
        }
        if last_publish.elapsed() >= PUBLISH_EVERY {
            last_publish = Instant::now();
            publish(&engine);
            if let Some(ev) = evidence.as_mut()
                && let Err(e) = ev.flush()
            {
                errors.push(format!("evidence: {e}"));
            }
        }
    }
    engine.finish();
    take_alerts(&mut engine, &shared, alerts.as_mut(), &mut errors);
    publish(&engine);
    info!(packets = engine.packets, "engine drained");
    if let Some(ev) = evidence.as_mut() {
        if let Err(e) = ev.flush() {
            errors.push(format!("evidence: {e}"));
        }
        if let Some(e) = ev.error.take() {
            errors.push(format!("evidence: {e}"));
        }
    }
    (engine, errors, alerts)
}

fn take_alerts(
    engine: &mut Engine,
    shared: &Shared,
    alerts: Option<&mut AlertWriter>,
    errors: &mut Vec<String>,
) {
    let mut any = false;
    let mut w = alerts;
    for a in engine.drain_alerts() {
        shared.record_alert(&a);
        info!(kind = a.kind.as_str(), severity = a.severity.as_str(), message = %a.message, "alert");
        if let Some(w) = w.as_deref_mut() {
            any = true;
            if let Err(e) = w.write(&a)
                && errors.is_empty()
            {
                errors.push(format!("alerts: {e}"));
            }
        }
    }
    // An alert is on disk before the next batch is processed.
    if any
        && let Some(w) = w
        && let Err(e) = w.flush()
        && errors.is_empty()
    {
        errors.push(format!("alerts: {e}"));
    }
}

/// Switches to `user` (and its primary group), like `tcpdump -Z`.
fn drop_privileges(user: &str) -> Result<(), SensorError> {
    let name = std::ffi::CString::new(user)
        .map_err(|_| SensorError::Setup(format!("--user {user:?}: invalid name")))?;
    // SAFETY: getpwnam returns a pointer into static storage or null; it is
    // read before any other call that could overwrite it.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return Err(SensorError::Setup(format!("--user {user}: no such user")));
    }
    // SAFETY: pw is non-null and points to a valid passwd record.
    let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    // SAFETY: plain system calls with valid arguments; the order (groups,
    // gid, then uid) is the one that can still succeed.
    let ok = unsafe {
        libc::setgroups(0, std::ptr::null()) == 0
            && libc::setgid(gid) == 0
            && libc::setuid(uid) == 0
    };
    if !ok {
        return Err(SensorError::Setup(format!(
            "--user {user}: cannot switch user: {}",
            std::io::Error::last_os_error()
        )));
    }
    info!(user, uid, gid, "dropped privileges");
    Ok(())
}

/// Runs the sensor until its input ends (replay, unless `hold`) or SIGINT
/// or SIGTERM arrives. SIGHUP re-reads the configuration file.
pub fn run(input: Input, opts: SensorOptions) -> Result<Outcome, SensorError> {
    let stop = Arc::new(AtomicBool::new(false));
    let shared = Arc::new(Shared::new(&opts.config.sensor));
    let metrics = Arc::new(Metrics::new(opts.config.inventory.max_session_series));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| SensorError::Setup(format!("cannot start the runtime: {e}")))?;

    // Open everything that needs privileges first.
    let mut captures = Vec::new();
    let names: Vec<String> = match &input {
        Input::Live {
            interfaces,
            options,
        } => {
            for i in interfaces {
                captures.push(LiveCapture::open(i, options)?);
                info!(interface = %i, "capturing");
            }
            interfaces.clone()
        }
        Input::Replay { .. } => vec!["replay".to_owned()],
    };
    let listener = match &opts.listen {
        Some(addr) => Some(rt.block_on(http::bind(addr))?),
        None => None,
    };
    let alerts = match &opts.alerts {
        Some(p) => Some(
            AlertWriter::open(p)
                .map_err(|e| SensorError::Setup(format!("{p}: cannot open alerts file: {e}")))?,
        ),
        None => None,
    };
    let evidence = match &opts.evidence {
        Some(d) => Some(
            EvidenceWriter::new(
                d,
                opts.config.evidence.max_packets_per_session,
                opts.config.evidence.max_bytes_per_session,
            )
            .map_err(|e| {
                SensorError::Setup(format!(
                    "{}: cannot create evidence directory: {e}",
                    d.display()
                ))
            })?,
        ),
        None => None,
    };
    if let Some(u) = &opts.user {
        drop_privileges(u)?;
    }

    let ifstats = Arc::new(Mutex::new(
        names
            .iter()
            .map(|n| InterfaceStats {
                name: n.clone(),
                up: true,
                ..InterfaceStats::default()
            })
            .collect::<Vec<_>>(),
    ));
    let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(CHANNEL_BATCHES);
    let reload: Arc<Mutex<Option<Config>>> = Arc::new(Mutex::new(None));
    let mut engine = Engine::new(&opts.config);
    engine.enable_evidence(evidence.is_some());
    let live = matches!(input, Input::Live { .. });
    for s in crate::replay::read_logs_if(&mut engine, &opts.logs) {
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
    let (cfg_tx, cfg_rx) = std::sync::mpsc::sync_channel::<crate::logs::ConfigEvent>(1024);
    let syslog_stats = Arc::new(crate::source::syslog::SyslogStats::default());
    let mut syslog_threads = Vec::new();
    if let Some(addr) = &opts.syslog_listen {
        engine.watch_logs();
        syslog_threads = crate::source::syslog::listen(
            addr,
            crate::time::current_year(),
            cfg_tx.clone(),
            syslog_stats.clone(),
            stop.clone(),
        )
        .map_err(SensorError::Setup)?;
        info!(address = %addr, "receiving syslog (udp and tcp)");
    }
    drop(cfg_tx);
    let engine_handle = {
        let (shared, ifstats, reload) = (shared.clone(), ifstats.clone(), reload.clone());
        std::thread::Builder::new()
            .name("engine".to_owned())
            .spawn(move || {
                engine_thread(
                    engine, rx, shared, ifstats, alerts, evidence, reload, live, cfg_rx,
                )
            })
            .map_err(|e| SensorError::Setup(format!("cannot start the engine thread: {e}")))?
    };
    let reports = Arc::new(Mutex::new((Vec::new(), Vec::new())));
    let mut producers = Vec::new();
    match input {
        Input::Live { options, .. } => {
            for (slot, cap) in captures.into_iter().enumerate() {
                let (tx, stop, ifstats, options) =
                    (tx.clone(), stop.clone(), ifstats.clone(), options.clone());
                producers.push(
                    std::thread::Builder::new()
                        .name(format!("capture-{}", cap.iface()))
                        .spawn(move || capture_thread(cap, options, slot, ifstats, tx, stop))
                        .map_err(|e| {
                            SensorError::Setup(format!("cannot start a capture thread: {e}"))
                        })?,
                );
            }
        }
        Input::Replay { files, pace } => {
            let (tx, stop, ifstats, reports) =
                (tx.clone(), stop.clone(), ifstats.clone(), reports.clone());
            producers.push(
                std::thread::Builder::new()
                    .name("replay".to_owned())
                    .spawn(move || replay_thread(files, pace, ifstats, tx, stop, reports))
                    .map_err(|e| {
                        SensorError::Setup(format!("cannot start the replay thread: {e}"))
                    })?,
            );
        }
    }
    drop(tx);

    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let hold = opts.hold;
    let config_path = opts.config_path.clone();
    let result: Result<(Engine, Vec<String>, Option<AlertWriter>), SensorError> = rt.block_on(async {
        let server = listener.map(|l| {
            info!(address = %l.local_addr().map(|a| a.to_string()).unwrap_or_default(), "serving HTTP");
            tokio::spawn(http::serve(l, shared.clone(), metrics.clone(), shutdown_rx))
        });
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| SensorError::Setup(format!("signal handler: {e}")))?;
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .map_err(|e| SensorError::Setup(format!("signal handler: {e}")))?;
        let engine_done = tokio::task::spawn_blocking(move || engine_handle.join());
        tokio::pin!(engine_done);
        let mut finished: Option<(Engine, Vec<String>, Option<AlertWriter>)> = None;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => { info!("SIGINT: stopping"); stop.store(true, Ordering::Relaxed); if finished.is_some() { break; } }
                _ = term.recv() => { info!("SIGTERM: stopping"); stop.store(true, Ordering::Relaxed); if finished.is_some() { break; } }
                _ = hup.recv() => {
                    match &config_path {
                        Some(p) => match Config::load(p) {
                            // After a held replay ended the engine is here,
                            // not on its thread: judge again and publish.
                            Ok(c) => match finished.as_mut() {
                                Some((engine, errors, alerts)) => {
                                    engine.reload(&c);
                                    take_alerts(engine, &shared, alerts.as_mut(), errors);
                                    let st = ifstats.lock().map(|v| v.clone()).unwrap_or_default();
                                    shared.publish(engine, &st, engine.last_ts_us());
                                    info!("configuration reloaded");
                                }
                                None => { if let Ok(mut r) = reload.lock() { *r = Some(c); } }
                            },
                            Err(e) => error!(error = %e, "SIGHUP: configuration not reloaded"),
                        },
                        None => warn!("SIGHUP: no --config file to reload"),
                    }
                }
                r = &mut engine_done, if finished.is_none() => {
                    let joined = r.map_err(|e| SensorError::Setup(format!("engine thread: {e}")))?
                        .map_err(|_| SensorError::Setup("the engine thread panicked".to_owned()))?;
                    finished = Some(joined);
                    if !hold || stop.load(Ordering::Relaxed) { break; }
                    info!("replay finished; holding the HTTP server until SIGINT or SIGTERM");
                }
            }
        }
        let _ = shutdown_tx.send(true);
        if let Some(s) = server {
            let _ = tokio::time::timeout(Duration::from_secs(1), s).await;
            info!("HTTP server stopped");
        }
        finished.ok_or_else(|| SensorError::Setup("stopped before the engine finished".to_owned()))
    });
    for p in producers.into_iter().chain(syslog_threads) {
        let _ = p.join();
    }
    let (engine, output_errors, _) = result?;
    let (files, unreadable) = reports.lock().map(|r| r.clone()).unwrap_or_default();
    let files = if files.is_empty() {
        // Live: one entry per interface.
        ifstats
            .lock()
            .map(|v| {
                v.iter()
                    .map(|s| FileReport {
                        path: s.name.clone(),
                        packets: s.received_packets,
                        bytes: s.received_bytes,
                        linktype: "live".to_owned(),
                        error: None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    } else {
        files
    };
    Ok(Outcome {
        report: crate::replay::report_of(&engine, files, &opts.config),
        output_errors,
        unreadable,
    })
}
