//! Signals, the same for every driver: SIGINT and SIGTERM ask the pipeline
//! to stop (a second one ends the process at once), SIGHUP asks it to
//! re-read its configuration and reopen its outputs.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// Flags set by signal handlers and read by the pipeline.
#[derive(Debug, Default)]
pub struct Signals {
    /// The signal that asked to stop (0: none).
    stop_signal: Arc<AtomicUsize>,
    stopping: Arc<AtomicBool>,
    hup: Arc<AtomicBool>,
}

impl Signals {
    /// Flags with no handler installed (tests, embedding).
    pub fn new() -> Arc<Self> {
        Arc::new(Signals::default())
    }

    /// Installs the handlers for SIGINT, SIGTERM and SIGHUP.
    pub fn install() -> std::io::Result<Arc<Self>> {
        let s = Signals::default();
        for sig in [SIGINT, SIGTERM] {
            // A second SIGINT/SIGTERM while stopping ends the process with
            // the conventional status (128 + signal).
            signal_hook::flag::register_conditional_shutdown(
                sig,
                128 + sig,
                Arc::clone(&s.stopping),
            )?;
            signal_hook::flag::register(sig, Arc::clone(&s.stopping))?;
            signal_hook::flag::register_usize(sig, Arc::clone(&s.stop_signal), sig as usize)?;
        }
        signal_hook::flag::register(SIGHUP, Arc::clone(&s.hup))?;
        Ok(Arc::new(s))
    }

    /// The signal that asked to stop, if one did.
    pub fn stop_requested(&self) -> Option<i32> {
        if !self.stopping.load(Ordering::Relaxed) {
            return None;
        }
        match self.stop_signal.load(Ordering::Relaxed) {
            0 => Some(SIGTERM),
            n => i32::try_from(n).ok(),
        }
    }

    /// Asks to stop as SIGTERM would (a failed setup, a test).
    pub fn request_stop(&self, signal: i32) {
        self.stop_signal
            .store(usize::try_from(signal).unwrap_or(0), Ordering::Relaxed);
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// The flag capture threads watch.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stopping)
    }

    /// Whether SIGHUP arrived since the last call.
    pub fn take_hup(&self) -> bool {
        self.hup.swap(false, Ordering::Relaxed)
    }
}

/// The exit status of a run stopped by `signal` (130 for SIGINT, 143 for
/// SIGTERM).
pub fn exit_status(signal: i32) -> u8 {
    u8::try_from(128 + signal).unwrap_or(1)
}
