//! Sensor mode: live capture (or a paced replay) through the one
//! [`Pipeline`](crate::pipeline::Pipeline), with the HTTP API, privilege
//! drop and capture threads around it.
//!
//! Threads: one capture thread per interface copies frames into batches
//! and sends them over a bounded channel (decoded, or, with `--workers N`,
//! N >= 2, to N - 1 decode workers first); the pipeline thread drives the
//! engine (for a replay it reads the files itself); the main thread runs
//! the tokio runtime for the HTTP server. A single engine keeps a single
//! duplicate window, so an original and its copies always meet, whatever
//! interface or order they arrive in. Signals are the pipeline's
//! ([`crate::pipeline::Signals`]).
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::config::Config;
use crate::export::alerts::{AlertWriter, EvidenceWriter};
use crate::export::http;
use crate::export::metrics::Metrics;
use crate::export::state::{InterfaceStats, Shared};
use crate::pipeline::staged::decode_batches;
use crate::pipeline::{Control, Outcome, Pipeline, Signals, Sinks};
use crate::report::FileReport;
use crate::source::batch::{Batch, BatchSource};
use crate::source::files::FileProblems;
use crate::source::live::{LiveCapture, LiveError, LiveOptions};

/// A partly filled batch is sent after this long.
const BATCH_AGE: Duration = Duration::from_millis(50);
/// Batches in flight between capture threads and the pipeline.
const CHANNEL_BATCHES: usize = 64;

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
    /// `--web-config FILE`: TLS and authentication of the HTTP server.
    pub web_config: Option<PathBuf>,
    pub alerts: Option<String>,
    /// `--alerts-format`: native, EVE, ECS or OCSF lines.
    pub alerts_format: crate::export::formats::AlertFormat,
    /// `--alerts-syslog udp://HOST:PORT|tcp://HOST:PORT`.
    pub alerts_syslog: Option<String>,
    pub evidence: Option<PathBuf>,
    /// Drop privileges to this user once captures are open.
    pub user: Option<String>,
    /// Keep serving after a replay ended, until SIGINT/SIGTERM.
    pub hold: bool,
    /// Configuration-change logs read at start.
    pub logs: Vec<String>,
    /// Year of RFC 3164 syslog times; default this year.
    pub year: Option<i32>,
    /// Receive device syslog here (UDP and TCP).
    pub syslog_listen: Option<String>,
    pub signals: Arc<Signals>,
    /// `--state FILE`: restored at start, checkpointed, saved at the end.
    pub state: Option<PathBuf>,
    /// `--fresh-state`: what the state file held is dropped.
    pub fresh_state: bool,
    /// `replay --flows`: flow inputs read after the captures.
    pub flows: Vec<String>,
    /// `--flow-listen`: UDP addresses receiving NetFlow, IPFIX and sFlow.
    pub flow_listen: Vec<String>,
    /// `--workers`: replay (not paced), the reader/decoder on a thread of
    /// its own (1) or a reader and N - 1 decode workers; live, N >= 2,
    /// N - 1 decode workers beside the capture threads.
    pub workers: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SensorError {
    #[error(transparent)]
    Live(#[from] LiveError),
    #[error(transparent)]
    Http(#[from] http::HttpError),
    #[error(transparent)]
    WebConfig(#[from] http::WebConfigError),
    #[error("{0}")]
    Setup(String),
    /// An alerts file or evidence directory that cannot be opened.
    #[error("{0}")]
    Output(String),
    #[error(transparent)]
    State(#[from] crate::store::StoreError),
}

/// What a finished sensor run leaves.
pub struct SensorOutcome {
    pub outcome: Outcome,
    /// Problems with replayed files (empty live).
    pub files: FileProblems,
}

/// Hands a batch to the pipeline (or to the decode workers) without ever
/// waiting for it: when the bounded queue is full (the pipeline is behind
/// on detection, alerts, evidence or HTTP work), the batch is dropped and
/// its frames counted, so that capture keeps draining the kernel buffer.
/// None once the pipeline is gone; else whether the batch went.
fn send(tx: &SyncSender<Batch>, b: Batch, dropped: &mut u64) -> Option<bool> {
    let frames = b.len() as u64;
    match tx.try_send(b) {
        Ok(()) => Some(true),
        Err(TrySendError::Disconnected(_)) => None,
        Err(TrySendError::Full(_)) => {
            *dropped += frames;
            Some(false)
        }
    }
}

fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) {
    let end = Instant::now() + d;
    while Instant::now() < end && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What every capture thread publishes its interface's figures into: the
/// shared table the API and metrics read, and the count of frames the
/// pipeline judged out of capture order (set by the pipeline, per slot).
#[derive(Clone)]
struct Published {
    ifstats: Arc<Mutex<Vec<InterfaceStats>>>,
    reordered: Arc<[AtomicU64]>,
}

/// One interface: capture, batch, send; on failure report it down and
/// reopen with backoff.
fn capture_thread(
    mut cap: LiveCapture,
    options: LiveOptions,
    slot: usize,
    published: Published,
    tx: SyncSender<Batch>,
    stop: Arc<AtomicBool>,
    decoder: Option<crate::decode::Decoder>,
) {
    let Published { ifstats, reordered } = published;
    let iface = cap.iface().to_owned();
    // Without a decoder here, decode workers take the batches and may
    // hand them over out of order: each is numbered in this interface's
    // stream.
    let (stream, mut seq) = (u32::try_from(slot).unwrap_or(u32::MAX), 0u64);
    let numbered = decoder.is_none();
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
        let late = reordered.get(slot).map_or(0, |c| c.load(Ordering::Relaxed));
        set(&|s| {
            s.reordered_packets = late;
            s.received_packets = st.received;
            s.received_bytes = bytes;
            s.kernel_dropped = st.kernel_dropped;
            s.interface_dropped = st.interface_dropped;
        });
    };
    let mut queue_dropped = 0u64;
    while !stop.load(Ordering::Relaxed) {
        match cap.next_frame() {
            Ok(Some(fr)) => {
                bytes += u64::from(fr.orig_len);
                match &decoder {
                    // Decoded here, beside capture, so that the pipeline
                    // thread spends its time on detection alone.
                    Some(decoder) => {
                        let mut d = crate::decode::Decoded::default();
                        decoder.decode_into(fr.linktype, fr.orig_len, fr.data, &mut d);
                        batch.push_decoded(&fr, &d);
                    }
                    // Decoded by a decode worker.
                    None => batch.push(&fr),
                }
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
        if batch.is_full() || (!batch.is_empty() && batch_start.elapsed() >= BATCH_AGE) {
            let mut full = std::mem::replace(&mut batch, Batch::new(cap.dlt()));
            full.seq = numbered.then_some((stream, seq));
            let before = queue_dropped;
            match send(&tx, full, &mut queue_dropped) {
                None => break,
                Some(sent) => seq += u64::from(sent),
            }
            if queue_dropped != before {
                let n = queue_dropped;
                set(&|s| s.queue_dropped = n);
            }
            batch_start = Instant::now();
        }
        if last_stats.elapsed() >= Duration::from_secs(1) {
            last_stats = Instant::now();
            publish_stats(&mut cap, bytes);
        }
    }
    if !batch.is_empty() {
        // The last batch may wait briefly: capture has stopped.
        let mut b = batch;
        b.seq = numbered.then_some((stream, seq));
        for _ in 0..1000 {
            match tx.try_send(b) {
                Err(TrySendError::Full(back)) => {
                    b = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                _ => break,
            }
        }
    }
    if queue_dropped > 0 {
        warn!(interface = %iface, packets = queue_dropped, "the pipeline fell behind: packets dropped before detection (mirrorwatch_capture_queue_dropped_packets_total)");
    }
    info!(interface = %iface, "capture stopped");
    publish_stats(&mut cap, bytes);
}

/// The uid and primary gid of `user`.
fn lookup_user(user: &str) -> Result<(libc::uid_t, libc::gid_t), SensorError> {
    let name = std::ffi::CString::new(user)
        .map_err(|_| SensorError::Setup(format!("--user {user:?}: invalid name")))?;
    // SAFETY: getpwnam returns a pointer into static storage or null; it is
    // read before any other call that could overwrite it.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return Err(SensorError::Setup(format!("--user {user}: no such user")));
    }
    // SAFETY: pw is non-null and points to a valid passwd record.
    Ok(unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
}

/// Gives `path` to the user the sensor will run as, so that it can still
/// write (evidence files, the alerts file reopened after rotation) once
/// privileges are dropped.
fn hand_over(
    path: &std::path::Path,
    uid: libc::uid_t,
    gid: libc::gid_t,
) -> Result<(), SensorError> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| SensorError::Setup(format!("{}: invalid path", path.display())))?;
    // SAFETY: chown with a valid NUL-terminated path.
    if unsafe { libc::chown(c.as_ptr(), uid, gid) } != 0 {
        return Err(SensorError::Output(format!(
            "{}: cannot hand over to the --user: {}",
            path.display(),
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

/// Switches to `uid`/`gid` (`user`'s), like `tcpdump -Z`.
fn drop_privileges(user: &str, uid: libc::uid_t, gid: libc::gid_t) -> Result<(), SensorError> {
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
/// Raises the soft open-file limit to the hard one (as Go programs and
/// systemd services do), so that HTTP connections, evidence files and
/// captures are bounded by the configuration rather than by a 1,024
/// default; returns the soft limit now in force.
fn raise_open_file_limit() -> u64 {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid rlimit struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) != 0 {
            return 1024;
        }
        if l.rlim_cur < l.rlim_max {
            let want = libc::rlimit {
                rlim_cur: l.rlim_max,
                rlim_max: l.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                l.rlim_cur = l.rlim_max;
            }
        }
    }
    l.rlim_cur
}

/// The HTTP limits, with `max_connections` kept below the open-file limit
/// (minus what captures, evidence and the state need), so that accepting
/// never fails for want of descriptors.
fn http_limits(c: &crate::config::Config, nofile: u64) -> http::Limits {
    let mut l = http::Limits::from(&c.http);
    let reserve = 128 + c.evidence.max_open_files as u64;
    let room = usize::try_from(nofile.saturating_sub(reserve).max(16)).unwrap_or(usize::MAX);
    if l.max_connections > room {
        warn!(
            configured = l.max_connections,
            used = room,
            "http.max_connections lowered to fit the open-file limit (ulimit -n)"
        );
        l.max_connections = room;
    }
    l.max_connections_per_client = l.max_connections_per_client.min(l.max_connections);
    l
}

pub fn run(input: Input, opts: SensorOptions) -> Result<SensorOutcome, SensorError> {
    let nofile = raise_open_file_limit();
    let signals = opts.signals.clone();
    let stop = signals.stop_flag();
    let shared = Arc::new(Shared::new(&opts.config.sensor));
    let metrics = Arc::new(Metrics::new(opts.config.inventory.max_session_series));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
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
    let web = match &opts.web_config {
        Some(p) => Some(Arc::new(http::WebConfig::load(p)?)),
        None => None,
    };
    let listener = match &opts.listen {
        Some(addr) => Some(rt.block_on(http::bind(addr))?),
        None => None,
    };
    let alerts = AlertWriter::open_outputs(
        opts.alerts.as_deref(),
        opts.alerts_format,
        opts.alerts_syslog.as_deref(),
    )
    .map_err(SensorError::Output)?;
    let evidence = match &opts.evidence {
        Some(d) => Some(
            EvidenceWriter::with_config(d, &opts.config.evidence).map_err(|e| {
                SensorError::Output(format!(
                    "{}: cannot create evidence directory: {e}",
                    d.display()
                ))
            })?,
        ),
        None => None,
    };
    let store = match &opts.state {
        Some(p) => Some(crate::store::Store::open(p, opts.fresh_state)?),
        None => None,
    };
    if let Some(u) = &opts.user {
        let (uid, gid) = lookup_user(u)?;
        if let Some(p) = &opts.state {
            if let Some(d) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                hand_over(d, uid, gid)?;
            }
            hand_over(p, uid, gid)?;
        }
        // The evidence directory and the files already in it, and the
        // alerts file, become the user's before the switch.
        if let Some(d) = &opts.evidence {
            hand_over(d, uid, gid)?;
            for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
                hand_over(&e.path(), uid, gid)?;
            }
        }
        if let Some(a) = opts.alerts.as_deref().filter(|a| *a != "-") {
            hand_over(std::path::Path::new(a), uid, gid)?;
        }
        drop_privileges(u, uid, gid)?;
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
    let live = matches!(input, Input::Live { .. });
    let flow_stats = Arc::new(crate::source::flow::listen::ListenStats::default());
    let syslog_stats = Arc::new(crate::source::syslog::SyslogStats::default());
    let mut pipeline = Pipeline::new(
        opts.config.clone(),
        Sinks {
            alerts,
            evidence,
            shared: Some(shared.clone()),
            interfaces: Some(ifstats.clone()),
            log_alerts: true,
            flow_listen: (!opts.flow_listen.is_empty()).then(|| flow_stats.clone()),
            syslog_listen: opts.syslog_listen.as_ref().map(|_| syslog_stats.clone()),
        },
    );
    pipeline.read_logs(
        &opts.logs,
        opts.year.unwrap_or_else(crate::time::current_year),
    );
    if let Some(st) = store {
        pipeline.attach_store(st)?;
    }
    pipeline.flow_inputs(&opts.flows, None);
    let (cfg_tx, cfg_rx) = std::sync::mpsc::sync_channel::<crate::logs::ConfigEvent>(1024);
    let mut syslog_threads = Vec::new();
    if let Some(addr) = &opts.syslog_listen {
        pipeline.watch_logs();
        syslog_threads = crate::source::syslog::listen(
            addr,
            opts.year.unwrap_or_else(crate::time::current_year),
            cfg_tx.clone(),
            syslog_stats.clone(),
            stop.clone(),
        )
        .map_err(SensorError::Setup)?;
        info!(address = %addr, "receiving syslog (udp and tcp)");
    }
    drop(cfg_tx);

    let mut producers = Vec::new();
    let (config_path, hold, workers) = (opts.config_path.clone(), opts.hold, opts.workers);
    let driver = match input {
        Input::Live { options, .. } => {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(CHANNEL_BATCHES);
            // `--workers N`, N >= 2: the capture threads only capture, and
            // N - 1 decode workers decode and fingerprint for them all.
            let decoders = workers.saturating_sub(1);
            let (to_decode, decode_rx) = std::sync::mpsc::sync_channel::<Batch>(CHANNEL_BATCHES);
            let decode_rx = Arc::new(Mutex::new(decode_rx));
            for i in 0..decoders {
                let (rx, tx) = (decode_rx.clone(), tx.clone());
                let decoder = crate::decode::Decoder::new(&opts.config.decode);
                let hasher = crate::detect::engine::FrameHasher::new(&opts.config);
                // The workers share one queue from every capture thread.
                // They may wait for the pipeline: the capture threads,
                // which never wait, drop what that full queue cannot take.
                let next = move || rx.lock().ok()?.recv().ok();
                producers.push(
                    std::thread::Builder::new()
                        .name(format!("decode-{i}"))
                        .spawn(move || decode_batches(decoder, hasher, next, tx))
                        .map_err(|e| {
                            SensorError::Setup(format!("cannot start a decode worker: {e}"))
                        })?,
                );
            }
            drop(decode_rx);
            // Frames judged out of capture order, per interface (set by the
            // pipeline, published by each capture thread).
            let reordered: Arc<[AtomicU64]> = captures.iter().map(|_| AtomicU64::new(0)).collect();
            for (slot, cap) in captures.into_iter().enumerate() {
                let tx = if decoders > 0 {
                    to_decode.clone()
                } else {
                    tx.clone()
                };
                let published = Published {
                    ifstats: ifstats.clone(),
                    reordered: reordered.clone(),
                };
                let (stop, options) = (stop.clone(), options.clone());
                let decoder = (decoders == 0).then(|| crate::decode::Decoder::new(&opts.config.decode));
                producers.push(
                    std::thread::Builder::new()
                        .name(format!("capture-{}", cap.iface()))
                        .spawn(move || {
                            capture_thread(cap, options, slot, published, tx, stop, decoder)
                        })
                        .map_err(|e| {
                            SensorError::Setup(format!("cannot start a capture thread: {e}"))
                        })?,
                );
            }
            for addr in &opts.flow_listen {
                let (h, local) = crate::source::flow::listen::listen(
                    addr,
                    tx.clone(),
                    flow_stats.clone(),
                    stop.clone(),
                )
                .map_err(SensorError::Setup)?;
                info!(address = %local, "receiving flow exports (NetFlow, IPFIX, sFlow)");
                producers.push(h);
            }
            drop((tx, to_decode));
            let signals = signals.clone();
            std::thread::Builder::new()
                .name("pipeline".to_owned())
                .spawn(move || {
                    let mut source = BatchSource::new(rx).counting_late(reordered);
                    let mut ctl = Control {
                        signals: Some(signals),
                        config_path,
                        config_events: Some(cfg_rx),
                        wall_clock: true,
                        ..Control::default()
                    };
                    let sig = pipeline.drive(&mut source, &mut ctl);
                    if source.late() > 0 {
                        warn!(batches = source.late(), "a decode worker fell so far behind that batches of its interface were judged out of capture order");
                    }
                    (pipeline, Vec::new(), FileProblems::default(), sig)
                })
        }
        Input::Replay { files, pace } => {
            let signals = signals.clone();
            let ifstats = ifstats.clone();
            std::thread::Builder::new()
                .name("pipeline".to_owned())
                .spawn(move || {
                    let mut ctl = Control {
                        signals: Some(signals),
                        config_path,
                        config_events: Some(cfg_rx),
                        hold,
                        ..Control::default()
                    };
                    // Unpaced, reading and decoding get threads of their
                    // own as in `replay` (`--workers`).
                    let (sig, mut source) = pipeline.drive_files(files, pace, workers, &mut ctl);
                    let (packets, bytes) = source.totals();
                    if let Ok(mut v) = ifstats.lock()
                        && let Some(s) = v.get_mut(0)
                    {
                        s.received_packets = packets;
                        s.received_bytes = bytes;
                    }
                    let reports = std::mem::take(&mut source.reports);
                    (pipeline, reports, source.problems, sig)
                })
        }
    }
    .map_err(|e| SensorError::Setup(format!("cannot start the pipeline thread: {e}")))?;

    let http_limits = http_limits(&opts.config, nofile);
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let joined = rt.block_on(async {
        let server = listener.map(|l| {
            let addr = l.local_addr().ok();
            let shown = addr.map(|a| a.to_string()).unwrap_or_default();
            info!(address = %shown, "serving HTTP");
            let protected = web.as_ref().is_some_and(|w| w.has_tls() || w.has_auth());
            if addr.is_some_and(|a| !a.ip().is_loopback()) && !protected {
                warn!(
                    address = %shown,
                    "serving HTTP beyond loopback without TLS or authentication: sessions and alerts are readable by anyone who can reach it; use --web-config, keep it on loopback or put it behind a reverse proxy"
                );
            }
            tokio::spawn(http::serve(
                l,
                shared.clone(),
                metrics.clone(),
                shutdown_rx,
                http_limits,
                web.clone(),
            ))
        });
        let joined = tokio::task::spawn_blocking(move || driver.join()).await;
        let _ = shutdown_tx.send(true);
        if let Some(s) = server {
            let _ = tokio::time::timeout(Duration::from_secs(1), s).await;
            info!("HTTP server stopped");
        }
        joined
    });
    // Whatever ended the pipeline, the capture threads stop too.
    stop.store(true, Ordering::Relaxed);
    for p in producers.into_iter().chain(syslog_threads) {
        let _ = p.join();
    }
    let (pipeline, reports, problems, sig) = joined
        .map_err(|e| SensorError::Setup(format!("pipeline thread: {e}")))?
        .map_err(|_| SensorError::Setup("the pipeline thread panicked".to_owned()))?;
    let files = if live {
        // Live: one entry per interface.
        ifstats
            .lock()
            .map(|v| {
                v.iter()
                    .map(|s| FileReport {
                        path: s.name.clone(),
                        packets: s.received_packets,
                        bytes: s.received_bytes,
                        skipped_blocks: 0,
                        malformed_blocks: 0,
                        linktype: "live".to_owned(),
                        error: None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    } else {
        reports
    };
    // A live sensor's stop by signal is its normal end.
    let sig = if live { None } else { sig };
    Ok(SensorOutcome {
        outcome: pipeline.outcome(files, sig),
        files: problems,
    })
}
