//! Per-second volume of a session against its moving baseline: the
//! `mirror_volume_spike` signal. Pure functions of the session's
//! [`Volume`] and the alert thresholds.
use super::session::Volume;
use crate::config::AlertsConfig;

/// Moving-average weight of the newest second in the volume baseline.
pub const BASELINE_ALPHA: f64 = 0.1;

/// Adds a frame to the session's per-second volume; when it closes a
/// second, whether that second was a spike.
#[inline]
pub fn account_volume(v: &mut Volume, ts_us: i64, len: u32, cfg: &AlertsConfig) -> Option<bool> {
    // Fast path: still inside the current second (no division).
    if ts_us >= v.second_start_us
        && ts_us < v.second_start_us + 1_000_000
        && v.seconds + v.bytes > 0
    {
        v.bytes += u64::from(len);
        return None;
    }
    let sec = ts_us.div_euclid(1_000_000);
    let mut spike = None;
    if v.seconds == 0 && v.bytes == 0 && v.second == 0 {
        v.second = sec;
    } else if sec > v.second {
        spike = Some(close_second(v, cfg));
        // Quiet seconds in between pull the baseline down.
        let quiet = (sec - v.second - 1).min(3600);
        if quiet > 0 && v.seconds > 0 {
            v.baseline *= (1.0 - BASELINE_ALPHA).powi(quiet as i32);
            v.seconds += quiet as u64;
        }
        v.second = sec;
    }
    if sec == v.second {
        v.second_start_us = sec * 1_000_000;
    }
    v.bytes += u64::from(len);
    spike
}

/// Closes the current second: judges it against the baseline and folds it
/// in. True when it was a spike.
pub fn close_second(v: &mut Volume, cfg: &AlertsConfig) -> bool {
    let b = v.bytes as f64;
    let spike = v.seconds >= cfg.spike_warmup_seconds
        && v.bytes >= cfg.spike_min_bytes_per_second
        && b > cfg.spike_factor * v.baseline;
    if spike {
        v.last_spike_bytes = v.bytes;
    }
    v.baseline = if v.seconds == 0 {
        b
    } else {
        BASELINE_ALPHA * b + (1.0 - BASELINE_ALPHA) * v.baseline
    };
    v.seconds += 1;
    v.bytes = 0;
    spike
}

/// On a tick at second `now_sec`: closes the current second when it ended
/// more than a second ago (whether it was a spike), the seconds after it
/// counted as quiet, as the next frame would. None when nothing closed.
pub fn close_elapsed(v: &mut Volume, now_sec: i64, cfg: &AlertsConfig) -> Option<bool> {
    if v.seconds + v.bytes == 0 || v.second >= now_sec - 1 {
        return None;
    }
    let spike = close_second(v, cfg);
    // The seconds up to the previous one were quiet; the bucket of the
    // previous second starts empty.
    let quiet = (now_sec - 1 - v.second - 1).clamp(0, 3600);
    if quiet > 0 {
        v.baseline *= (1.0 - BASELINE_ALPHA).powi(quiet as i32);
        v.seconds += quiet as u64;
    }
    v.second = now_sec - 1;
    v.second_start_us = v.second * 1_000_000;
    Some(spike)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> AlertsConfig {
        AlertsConfig {
            spike_factor: 5.0,
            spike_min_bytes_per_second: 100_000,
            spike_warmup_seconds: 3,
            ..AlertsConfig::default()
        }
    }

    /// A burst after a steady warm-up is a spike, closed by the next frame
    /// or by a tick alike, and a tick leaves the same baseline as frames.
    #[test]
    fn spike_closed_by_a_frame_or_a_tick() {
        let c = cfg();
        let steady = |v: &mut Volume| {
            for sec in 0..10i64 {
                for k in 0..10 {
                    account_volume(v, sec * 1_000_000 + k * 1000, 1_000, &c);
                }
            }
        };
        let mut by_frame = Volume::default();
        steady(&mut by_frame);
        account_volume(&mut by_frame, 10_000_000, 500_000, &c);
        assert_eq!(
            account_volume(&mut by_frame, 13_000_000, 10, &c),
            Some(true)
        );
        let mut by_tick = Volume::default();
        steady(&mut by_tick);
        account_volume(&mut by_tick, 10_000_000, 500_000, &c);
        assert_eq!(
            close_elapsed(&mut by_tick, 11, &c),
            None,
            "second 10 has not ended a second ago"
        );
        assert_eq!(close_elapsed(&mut by_tick, 13, &c), Some(true));
        account_volume(&mut by_tick, 13_000_000, 10, &c);
        assert_eq!(by_tick.seconds, by_frame.seconds);
        assert!((by_tick.baseline - by_frame.baseline).abs() < 1e-6);
        // Nothing to close on an idle volume.
        assert_eq!(close_elapsed(&mut Volume::default(), 100, &c), None);
    }

    #[test]
    fn no_spike_during_warm_up_or_below_the_floor() {
        let c = cfg();
        let mut v = Volume::default();
        account_volume(&mut v, 0, 1_000, &c);
        account_volume(&mut v, 1_000_000, 900_000, &c);
        assert_eq!(
            account_volume(&mut v, 2_000_000, 1, &c),
            Some(false),
            "warm-up"
        );
        let mut v = Volume::default();
        for sec in 0..10i64 {
            account_volume(&mut v, sec * 1_000_000, 100, &c);
        }
        account_volume(&mut v, 10_000_000, 50_000, &c);
        assert_eq!(
            account_volume(&mut v, 11_000_000, 1, &c),
            Some(false),
            "under the floor"
        );
    }
}
