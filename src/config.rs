//! Configuration file (TOML). Unknown keys are rejected so that a typo
//! never silently leaves a default in place.
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::decode::{DecoderConfig, Encap};
use crate::detect::DEFAULT_MAX_SESSIONS;
use crate::detect::net::Cidr;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Name of this sensor, copied into alerts and metrics.
    pub sensor: String,
    /// Networks whose addresses are internal; everything else is external.
    pub internal_networks: Vec<Cidr>,
    /// Approved mirror destinations.
    pub authorized: Vec<Authorized>,
    /// Decoder settings: UDP ports per encapsulation, nesting depth.
    pub decode: DecoderConfig,
    /// Session inventory settings.
    pub inventory: InventoryConfig,
    /// Duplicate detection.
    pub duplicates: DuplicatesConfig,
    /// Alert thresholds.
    pub alerts: AlertsConfig,
    /// Evidence capture files.
    pub evidence: EvidenceConfig,
    /// Linking configuration-change logs to observed sessions.
    pub correlation: CorrelationConfig,
    /// Limits of the HTTP server (`--listen`).
    pub http: HttpConfig,
    /// Flow exports (NetFlow, IPFIX, sFlow) as evidence.
    pub flows: FlowsConfig,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Connections served at once; beyond it the least recently active
    /// connection is closed to make room.
    pub max_connections: usize,
    /// Connections from one client address at once (the same rule).
    pub max_connections_per_client: usize,
    /// Time a client has to send a request head (and a TLS handshake).
    pub header_read_timeout_s: u64,
    /// A connection that neither reads nor writes for this long is closed.
    pub idle_timeout_s: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_connections: 1024,
            max_connections_per_client: 64,
            header_read_timeout_s: 10,
            idle_timeout_s: 30,
        }
    }
}

/// The `[flows]` section: where export traffic is found and how much
/// template state is kept.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlowsConfig {
    /// UDP destination ports of export traffic in captures.
    pub collector_ports: Vec<u16>,
    /// Templates kept over all exporters and observation domains.
    pub max_templates: usize,
    /// Data sets held while their template has not arrived.
    pub max_pending: usize,
    /// Seconds a held data set waits for its template.
    pub pending_hold_s: u64,
    /// (source, destination, protocol) pairs whose volume baseline is kept
    /// (`flow_volume_shift`); least recently seen evicted, counted.
    pub max_pairs: usize,
    /// Length of the interval a pair's rate is measured over, seconds.
    pub volume_interval_s: u32,
    /// Closed intervals a pair needs before a jump counts.
    pub volume_min_intervals: u32,
    /// A new one-way pair to an external address at this rate or more is
    /// a shift.
    pub new_flow_min_bytes_per_s: u64,
    /// Jumps to rates below this are noise.
    pub min_jump_bytes_per_s: u64,
}

impl Default for FlowsConfig {
    fn default() -> Self {
        FlowsConfig {
            collector_ports: vec![2055, 4739, 9995, 9996, 6343],
            max_templates: 4096,
            max_pending: 256,
            pending_hold_s: 60,
            max_pairs: 100_000,
            volume_interval_s: 60,
            volume_min_intervals: 3,
            new_flow_min_bytes_per_s: 1_000_000,
            min_jump_bytes_per_s: 100_000,
        }
    }
}

impl FlowsConfig {
    /// The volume-shift settings these give (`spike_factor` from
    /// `[alerts]`).
    pub fn volume(&self, spike_factor: f64) -> crate::detect::flow_volume::VolumeConfig {
        crate::detect::flow_volume::VolumeConfig {
            interval_s: self.volume_interval_s.max(1),
            spike_factor,
            min_baseline_intervals: self.volume_min_intervals,
            new_flow_min_bytes_per_s: self.new_flow_min_bytes_per_s,
            min_jump_bytes_per_s: self.min_jump_bytes_per_s,
            max_pairs: self.max_pairs.max(1),
        }
    }

    /// The collector settings these give.
    pub fn collector(&self) -> crate::source::flow::CollectorConfig {
        crate::source::flow::CollectorConfig {
            max_templates: self.max_templates,
            max_pending: self.max_pending,
            pending_us: i64::try_from(self.pending_hold_s)
                .unwrap_or(i64::MAX / 1_000_000)
                .saturating_mul(1_000_000),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorrelationConfig {
    /// A configuration event explains a session seen up to this many
    /// seconds after (or before) it.
    pub window_s: u64,
}

impl Default for CorrelationConfig {
    fn default() -> Self {
        CorrelationConfig { window_s: 86_400 }
    }
}

/// An approved mirror destination (a change-managed collector).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Authorized {
    /// Collector address or prefix.
    pub destination: Cidr,
    /// Only mirrors from this source address or prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Cidr>,
    /// Only this encapsulation.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "encap_opt")]
    pub encap: Option<Encap>,
    /// Only this ERSPAN session id, VNI or GRE key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u32>,
    /// Change-management record that approved it.
    #[serde(default)]
    pub reference: String,
    /// Last day (UTC, inclusive) the approval is valid, e.g. 2027-01-31.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "date_opt")]
    pub expires: Option<Date>,
}

/// A calendar day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

impl Date {
    /// First microsecond after the end of this day (UTC).
    pub fn end_us(self) -> i64 {
        let days = crate::time::days_from_civil(
            i64::from(self.year),
            u32::from(self.month),
            u32::from(self.day),
        );
        (days + 1) * 86_400 * 1_000_000
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

mod date_opt {
    use super::Date;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.collect_str(d),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
        // A TOML date (2027-01-31) or a string holding one.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Toml(toml::value::Datetime),
            Text(String),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Toml(dt) => dt.to_string(),
            Raw::Text(s) => s,
        };
        let bad = || {
            serde::de::Error::custom(format!(
                "`{text}` is not a date like 2027-01-31 (years 1970 to 9999)"
            ))
        };
        // YYYY-MM-DD, or a date-time whose day is taken.
        let (date, time) = text
            .split_once(['T', 't', ' '])
            .map_or((text.as_str(), None), |(d, t)| (d, Some(t)));
        if time.is_some_and(|t| !is_time(t)) {
            return Err(bad());
        }
        let mut it = date.splitn(3, '-');
        let (Some(y), Some(m), Some(dd)) = (it.next(), it.next(), it.next()) else {
            return Err(bad());
        };
        let digits = |x: &str, n: usize| x.len() == n && x.bytes().all(|b| b.is_ascii_digit());
        if !digits(y, 4) || !digits(m, 2) || !digits(dd, 2) {
            return Err(bad());
        }
        let year: i32 = y.parse().map_err(|_| bad())?;
        let month: u8 = m.parse().map_err(|_| bad())?;
        let day: u8 = dd.parse().map_err(|_| bad())?;
        let last = crate::time::days_in_month(i64::from(year), u32::from(month));
        if year < 1970 || day == 0 || u32::from(day) > last {
            return Err(bad());
        }
        Ok(Some(Date { year, month, day }))
    }

    /// A TOML local time or time with offset (`00:00:00`, `23:59:59Z`,
    /// `12:00:00.5+02:00`), as a date-time's time part.
    fn is_time(t: &str) -> bool {
        format!("1970-01-01T{t}")
            .parse::<toml::value::Datetime>()
            .is_ok_and(|d| d.date.is_some() && d.time.is_some())
    }
}

mod encap_opt {
    use crate::decode::Encap;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(e: &Option<Encap>, s: S) -> Result<S::Ok, S::Error> {
        match e {
            Some(e) => s.serialize_str(e.as_str()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Encap>, D::Error> {
        let s = String::deserialize(d)?;
        Encap::parse(&s).map(Some).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown encapsulation `{s}` (one of {})",
                Encap::ALL.map(Encap::as_str).join(", ")
            ))
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DuplicatesConfig {
    /// Look for duplicate packets and flows at all (off: inventory,
    /// classes and verdicts only, faster).
    pub enabled: bool,
    /// A packet seen again on another path within this window is a copy.
    pub window_ms: u64,
    /// Most fingerprints remembered (16 bytes each); the table grows to it.
    pub table_entries: usize,
    /// Payloads of at least this many bytes are compared across flows.
    pub min_payload_bytes: usize,
    /// Window in which two flows carrying the same payload are paired.
    pub payload_window_ms: u64,
    /// Most payload digests remembered (56 bytes each); the table grows to it.
    pub payload_table_entries: usize,
    /// Matching payloads a flow pair needs before it is reported.
    pub min_matching_payloads: u64,
    /// Flow pairs tracked at once (least recently seen evicted).
    pub max_flow_pairs: usize,
}

impl Default for DuplicatesConfig {
    fn default() -> Self {
        DuplicatesConfig {
            enabled: true,
            window_ms: 1000,
            table_entries: 1 << 20,
            min_payload_bytes: 64,
            payload_window_ms: 10_000,
            payload_table_entries: 1 << 18,
            min_matching_payloads: 3,
            max_flow_pairs: 4096,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// A session's bytes per second above this multiple of its own moving
    /// average is a volume spike.
    pub spike_factor: f64,
    /// ... and above this many bytes per second.
    pub spike_min_bytes_per_second: u64,
    /// Seconds of history a session needs before spikes are judged.
    pub spike_warmup_seconds: u64,
    /// Packets a VXLAN/Geneve/GRE session needs before a verdict.
    pub verdict_min_packets: u64,
    /// Alerts of one kind allowed a minute once the burst is spent (0: no
    /// limit); the rest are summarised in `alert_flood`.
    pub rate_per_minute: u64,
    /// Alerts of one kind allowed at once.
    pub burst: u64,
    /// One `alert_flood` summary per kind at most this often, in seconds.
    pub flood_interval_s: u64,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            spike_factor: 5.0,
            spike_min_bytes_per_second: 100_000,
            spike_warmup_seconds: 10,
            verdict_min_packets: 4,
            rate_per_minute: 60,
            burst: 200,
            flood_interval_s: 60,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvidenceConfig {
    /// Packets written per alerting session.
    pub max_packets_per_session: u64,
    /// Bytes written per alerting session.
    pub max_bytes_per_session: u64,
    /// Bytes written into all evidence files of a run together.
    pub max_total_bytes: u64,
    /// Evidence files kept open at once (the least recently written is
    /// closed and reopened for appending when needed).
    pub max_open_files: usize,
}

impl Default for EvidenceConfig {
    fn default() -> Self {
        EvidenceConfig {
            max_packets_per_session: 10_000,
            max_bytes_per_session: 100_000_000,
            max_total_bytes: 10_000_000_000,
            max_open_files: 64,
        }
    }
}

/// RFC 1918, CGNAT, loopback, link-local and IPv6 unique-local,
/// link-local and loopback.
pub fn default_internal_networks() -> Vec<Cidr> {
    [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "fc00::/7",
        "fe80::/10",
        "::1/128",
    ]
    .iter()
    .filter_map(|s| s.parse().ok())
    .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct InventoryConfig {
    /// Most sessions kept; the least recently seen are evicted beyond it.
    pub max_sessions: usize,
    /// Sessions given their own Prometheus series; the rest are summed
    /// into one overflow series.
    pub max_session_series: usize,
}

impl Default for InventoryConfig {
    fn default() -> Self {
        InventoryConfig {
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_session_series: 200,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sensor: "mirrorwatch".to_owned(),
            internal_networks: default_internal_networks(),
            authorized: Vec::new(),
            decode: DecoderConfig::default(),
            inventory: InventoryConfig::default(),
            duplicates: DuplicatesConfig::default(),
            alerts: AlertsConfig::default(),
            evidence: EvidenceConfig::default(),
            correlation: CorrelationConfig::default(),
            http: HttpConfig::default(),
            flows: FlowsConfig::default(),
        }
    }
}

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not `#[source]`: the message says the cause once (a chain printed
    /// it twice).
    #[error("{path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

impl Config {
    /// The settings that differ in `new` and take effect only at a restart
    /// (table sizes, decoder ports, windows), by name.
    pub fn restart_needed(&self, new: &Config) -> Vec<&'static str> {
        let (a, b) = (&self.duplicates, &new.duplicates);
        let checks = [
            ("decode", self.decode != new.decode),
            ("http", self.http != new.http),
            (
                "inventory.max_sessions",
                self.inventory.max_sessions != new.inventory.max_sessions,
            ),
            (
                "inventory.max_session_series",
                self.inventory.max_session_series != new.inventory.max_session_series,
            ),
            ("duplicates.enabled", a.enabled != b.enabled),
            ("duplicates.window_ms", a.window_ms != b.window_ms),
            (
                "duplicates.table_entries",
                a.table_entries != b.table_entries,
            ),
            (
                "duplicates.min_payload_bytes",
                a.min_payload_bytes != b.min_payload_bytes,
            ),
            (
                "duplicates.payload_window_ms",
                a.payload_window_ms != b.payload_window_ms,
            ),
            (
                "duplicates.payload_table_entries",
                a.payload_table_entries != b.payload_table_entries,
            ),
            (
                "duplicates.max_flow_pairs",
                a.max_flow_pairs != b.max_flow_pairs,
            ),
            ("evidence", self.evidence != new.evidence),
            ("correlation.window_s", self.correlation != new.correlation),
            ("flows", self.flows != new.flows),
        ];
        checks
            .into_iter()
            .filter(|(_, changed)| *changed)
            .map(|(name, _)| name)
            .collect()
    }

    /// Takes the settings of `new` that apply while running (sensor name,
    /// networks, authorisations, alert thresholds, matching payloads).
    pub fn apply_reloadable(&mut self, new: &Config) {
        self.sensor = new.sensor.clone();
        self.internal_networks = new.internal_networks.clone();
        self.authorized = new.authorized.clone();
        self.alerts = new.alerts.clone();
        self.duplicates.min_matching_payloads = new.duplicates.min_matching_payloads;
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        use std::io::Read;
        let read_error = |error| ConfigError::Read {
            path: path.display().to_string(),
            error,
        };
        // Bounded: `/dev/zero` or an endless pipe given by mistake must not
        // fill the memory.
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes))
            .map_err(read_error)?;
        if bytes.len() as u64 > MAX_CONFIG_BYTES {
            return Err(ConfigError::Invalid {
                path: path.display().to_string(),
                message: format!(
                    "larger than {} MiB: not a configuration file",
                    MAX_CONFIG_BYTES >> 20
                ),
            });
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            read_error(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
            ))
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses TOML text; `origin` names it in errors (field and line come
    /// from the TOML parser).
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: origin.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        cfg.validate().map_err(|message| ConfigError::Invalid {
            path: origin.to_owned(),
            message,
        })?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), String> {
        let d = &self.decode;
        if d.max_depth == 0 || d.max_depth > 32 {
            return Err(format!(
                "decode.max_depth = {}: must be between 1 and 32",
                d.max_depth
            ));
        }
        let max_window_ms = crate::detect::dup::MAX_WINDOW_US / 1000;
        if self.duplicates.window_ms as i64 > max_window_ms
            || self.duplicates.payload_window_ms as i64 > max_window_ms
        {
            return Err(format!(
                "duplicates.window_ms and duplicates.payload_window_ms must be at most {max_window_ms}"
            ));
        }
        if self.duplicates.window_ms == 0 || self.duplicates.table_entries == 0 {
            return Err(
                "duplicates.window_ms and duplicates.table_entries must be at least 1".to_owned(),
            );
        }
        if self.duplicates.payload_table_entries == 0 || self.duplicates.max_flow_pairs == 0 {
            return Err(
                "duplicates.payload_table_entries and duplicates.max_flow_pairs must be at least 1"
                    .to_owned(),
            );
        }
        at_most(
            &[
                ("duplicates.table_entries", self.duplicates.table_entries),
                (
                    "duplicates.payload_table_entries",
                    self.duplicates.payload_table_entries,
                ),
            ],
            MAX_TABLE_ENTRIES,
            " (tables grow to it with the traffic)",
        )?;
        // Durations at most ten years: times in microseconds are i64, and
        // a larger one overflowed the clock arithmetic it is added to (a
        // correlation window near i64::MAX seconds raised false alerts, an
        // HTTP timeout near u64::MAX seconds made every connection panic).
        at_most(
            &[
                ("correlation.window_s", self.correlation.window_s),
                (
                    "http.header_read_timeout_s",
                    self.http.header_read_timeout_s,
                ),
                ("http.idle_timeout_s", self.http.idle_timeout_s),
                ("flows.pending_hold_s", self.flows.pending_hold_s),
                ("alerts.flood_interval_s", self.alerts.flood_interval_s),
                (
                    "alerts.spike_warmup_seconds",
                    self.alerts.spike_warmup_seconds,
                ),
            ],
            MAX_DURATION_S,
            " (ten years)",
        )?;
        if self.alerts.spike_factor.is_nan() || self.alerts.spike_factor <= 1.0 {
            return Err(format!(
                "alerts.spike_factor = {}: must be greater than 1",
                self.alerts.spike_factor
            ));
        }
        if self.flows.max_pairs == 0 || self.flows.max_pairs > MAX_TABLE_ENTRIES {
            return Err(format!(
                "flows.max_pairs = {}: must be between 1 and {MAX_TABLE_ENTRIES}",
                self.flows.max_pairs
            ));
        }
        if self.flows.volume_interval_s == 0 {
            return Err("flows.volume_interval_s = 0: must be at least 1".to_owned());
        }
        if self.flows.max_templates == 0 || self.flows.max_templates > MAX_TABLE_ENTRIES {
            return Err(format!(
                "flows.max_templates = {}: must be between 1 and {MAX_TABLE_ENTRIES}",
                self.flows.max_templates
            ));
        }
        at_most(
            &[("flows.max_pending", self.flows.max_pending)],
            MAX_TABLE_ENTRIES,
            "",
        )?;
        if self.inventory.max_sessions == 0 {
            return Err("inventory.max_sessions must be at least 1".to_owned());
        }
        let lists = [
            ("decode.vxlan_ports", &d.vxlan_ports),
            ("decode.vxlan_gpe_ports", &d.vxlan_gpe_ports),
            ("decode.geneve_ports", &d.geneve_ports),
            ("decode.tzsp_ports", &d.tzsp_ports),
            ("decode.gre_udp_ports", &d.gre_udp_ports),
            ("flows.collector_ports", &self.flows.collector_ports),
        ];
        for (i, (name_a, a)) in lists.iter().enumerate() {
            for (name_b, b) in &lists[i + 1..] {
                if let Some(p) = a.iter().find(|p| b.contains(p)) {
                    return Err(format!("UDP port {p} is in both {name_a} and {name_b}"));
                }
            }
        }
        Ok(())
    }
}

/// The first of `settings` above `max` as an error naming it, `why` after
/// the bound.
fn at_most<T: PartialOrd + std::fmt::Display + Copy>(
    settings: &[(&str, T)],
    max: T,
    why: &str,
) -> Result<(), String> {
    match settings.iter().find(|(_, v)| *v > max) {
        Some((name, v)) => Err(format!("{name} = {v}: must be at most {max}{why}")),
        None => Ok(()),
    }
}

/// Largest accepted duplicate or payload table cap (entries).
pub const MAX_TABLE_ENTRIES: usize = 1 << 28;

/// Longest duration a setting may give (`correlation.window_s`, the HTTP
/// timeouts, ...): ten years.
pub const MAX_DURATION_S: u64 = 10 * 366 * 86_400;

/// Largest configuration file read.
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let c = Config::parse("", "t").expect("empty is default");
        assert_eq!(c, Config::default());
        let c = Config::parse("[decode]\nvxlan_ports = [4789, 8472, 10000]\n", "t").expect("ok");
        assert_eq!(c.decode.vxlan_ports, [4789, 8472, 10000]);
        assert_eq!(c.decode.geneve_ports, [6081]);
    }

    #[test]
    fn unknown_key_names_field_and_line() {
        let e = Config::parse("sensor = \"a\"\n[decode]\nvxlan_port = [1]\n", "my.toml")
            .expect_err("typo rejected")
            .to_string();
        assert!(e.starts_with("my.toml: "), "{e}");
        assert!(e.contains("vxlan_port") && e.contains("line 3"), "{e}");
    }

    #[test]
    fn table_caps_bounded() {
        let e = Config::parse("[duplicates]\ntable_entries = 1000000000000\n", "t")
            .expect_err("absurd cap")
            .to_string();
        assert!(
            e.contains("duplicates.table_entries") && e.contains("at most"),
            "{e}"
        );
        let max = format!("[duplicates]\npayload_table_entries = {MAX_TABLE_ENTRIES}\n");
        assert!(Config::parse(&max, "t").is_ok());
    }

    #[test]
    fn a_correlation_window_past_ten_years_is_rejected() {
        let e = Config::parse("[correlation]\nwindow_s = 9223372036854775807\n", "t")
            .expect_err("too long")
            .to_string();
        assert!(
            e.contains("correlation.window_s") && e.contains("at most"),
            "{e}"
        );
        let max = format!("[correlation]\nwindow_s = {MAX_DURATION_S}\n");
        assert!(Config::parse(&max, "t").is_ok());
    }

    #[test]
    fn durations_past_ten_years_are_rejected() {
        for (section, key) in [
            ("http", "header_read_timeout_s"),
            ("http", "idle_timeout_s"),
            ("flows", "pending_hold_s"),
            ("alerts", "flood_interval_s"),
            ("alerts", "spike_warmup_seconds"),
        ] {
            let e = Config::parse(&format!("[{section}]\n{key} = 9223372036854775807\n"), "t")
                .expect_err(key)
                .to_string();
            assert!(
                e.contains(&format!("{section}.{key}")) && e.contains("at most"),
                "{e}"
            );
            let max = format!("[{section}]\n{key} = {MAX_DURATION_S}\n");
            assert!(Config::parse(&max, "t").is_ok(), "{key}");
        }
    }

    #[test]
    fn an_endless_file_is_not_read_to_the_end() {
        let e = Config::load(Path::new("/dev/zero"))
            .expect_err("endless")
            .to_string();
        assert!(
            e.contains("/dev/zero") && e.contains("larger than 16 MiB"),
            "{e}"
        );
        let e = Config::load(Path::new("/nonexistent/mw.toml"))
            .expect_err("absent")
            .to_string();
        assert_eq!(e.matches("os error 2").count(), 1, "{e}");
    }

    #[test]
    fn overlapping_ports_rejected() {
        let e = Config::parse("[decode]\ngeneve_ports = [4789]\n", "t")
            .expect_err("overlap")
            .to_string();
        assert!(e.contains("4789"), "{e}");
        // A port that is both a tunnel's and flow exports' is one or the
        // other.
        let e = Config::parse("[flows]\ncollector_ports = [4789]\n", "t")
            .expect_err("overlap")
            .to_string();
        assert!(
            e.contains("4789") && e.contains("flows.collector_ports"),
            "{e}"
        );
    }
}

/// Every setting with its default and a comment: what
/// `mirrorwatch config default` prints. A test keeps it equal to
/// `Config::default()`.
pub const DEFAULT_TOML: &str = r#"# mirrorwatch configuration. Every setting is optional; these are the defaults.

# Name of this sensor, copied into alerts and metrics.
sensor = "mirrorwatch"

# Networks whose addresses are internal. A mirror destination outside them is
# "external"; inside them and not authorised, "internal" (unauthorised).
internal_networks = [
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
    "127.0.0.0/8", "169.254.0.0/16", "fc00::/7", "fe80::/10", "::1/128",
]

# Approved mirror destinations, one [[authorized]] table each, e.g.:
#
# [[authorized]]
# destination = "10.9.0.10"        # collector address or prefix (required)
# source = "10.1.0.0/16"           # only mirrors from here (optional)
# encap = "erspan2"                # only this encapsulation (optional)
# id = 100                         # only this session id / VNI / key (optional)
# reference = "CHG-2041"           # the change-management record
# expires = 2027-01-31             # last valid day, UTC (optional)

[decode]
# UDP ports decoded as each encapsulation (any number of ports).
vxlan_ports = [4789, 8472]
vxlan_gpe_ports = [4790]
geneve_ports = [6081]
tzsp_ports = [37008]
gre_udp_ports = [4754]
# Encapsulation layers unwrapped before giving up (counted as tunnel/too_deep).
max_depth = 8

[inventory]
# Most sessions kept; the least recently seen are evicted beyond it (counted).
max_sessions = 10000
# Sessions given their own Prometheus series (mirrorwatch_session_*); the
# rest are summed into one overflow series whose labels are all "other".
max_session_series = 200

[duplicates]
# Look for duplicate packets and flows at all. Off: inventory, destination
# classes and verdicts only (faster; no duplicate evidence or alerts).
enabled = true
# A packet seen again on another path within this window is a copy.
window_ms = 1000
# Most fingerprints remembered (16 bytes each). The table starts at 131,072
# (2 MiB) and grows fourfold while packets inside the window
# would displace each other, so memory follows the packet rate up to this cap.
table_entries = 1048576
# Payloads of at least this many bytes are compared across flows.
min_payload_bytes = 64
# Window in which two flows carrying the same payload are paired.
payload_window_ms = 10000
# Most payload digests remembered (56 bytes each); starts at 65,536 and
# grows like table_entries.
payload_table_entries = 262144
# Matching payloads a flow pair needs before duplicate_flow_to_external.
min_matching_payloads = 3
# Flow pairs tracked at once (least recently seen evicted).
max_flow_pairs = 4096

[alerts]
# mirror_volume_spike: a second's bytes above spike_factor x the session's
# moving average, and above spike_min_bytes_per_second, after
# spike_warmup_seconds of history.
spike_factor = 5.0
spike_min_bytes_per_second = 100000
spike_warmup_seconds = 10
# Packets a VXLAN/Geneve/GRE session needs before it is judged without
# decisive evidence.
verdict_min_packets = 4
# Rate limit per alert kind (token bucket on capture time): `burst` alerts at
# once, then `rate_per_minute`; what is refused is counted
# (mirrorwatch_detect_suppressed_alerts_total) and summarised in one
# alert_flood alert per kind every `flood_interval_s`. 0 disables the limit.
rate_per_minute = 60
burst = 200
flood_interval_s = 60

[evidence]
# Caps of each alerting session's evidence capture (--evidence DIR).
max_packets_per_session = 10000
max_bytes_per_session = 100000000
# Caps of all evidence together, and files kept open at once (the least
# recently written is closed and reopened for appending when needed).
max_total_bytes = 10000000000
max_open_files = 64

[correlation]
# With --logs / --syslog-listen: a configuration event (device syslog,
# CloudTrail, GCP, Azure) explains a session with the same destination and
# the same ERSPAN id / VNI (where both are known) seen within this many
# seconds of it (at most ten years, 316224000).
window_s = 86400

[http]
# Limits of the HTTP server (--listen). Beyond either connection limit the
# least recently active connection (of that client, or of all) is closed to
# make room, so a flood of idle connections cannot lock anyone out.
max_connections = 1024
max_connections_per_client = 64
# Seconds a client has to send its request head (and its TLS handshake).
header_read_timeout_s = 10
# A connection that neither sends nor reads anything for this long is closed
# (clients that stop reading a response, idle keep-alive connections).
idle_timeout_s = 30

[flows]
# UDP destination ports of NetFlow, IPFIX and sFlow export traffic in the
# frames read (flows inputs, replayed and live captures): such a datagram's
# records join the inventory. The format is told by content; [] ignores
# export traffic in captures (`--flow-listen` takes any port it binds).
# A port may not also be a tunnel port of [decode].
collector_ports = [2055, 4739, 9995, 9996, 6343]
# Templates kept over all exporters and observation domains (least recently
# used evicted, counted).
max_templates = 4096
# Data sets that arrive before their template are held, at most this many,
# for at most pending_hold_s seconds; then dropped and counted.
max_pending = 256
pending_hold_s = 60
# flow_volume_shift: per (source, destination, protocol) pair in flow records,
# bytes/s over intervals of volume_interval_s against a moving baseline. A
# jump past alerts.spike_factor x the baseline (after volume_min_intervals
# intervals, to at least min_jump_bytes_per_s), or a new one-way pair to an
# external address at new_flow_min_bytes_per_s or more, raises it. At most
# max_pairs pairs are kept (least recently seen evicted, counted).
max_pairs = 100000
volume_interval_s = 60
volume_min_intervals = 3
new_flow_min_bytes_per_s = 1000000
min_jump_bytes_per_s = 100000
"#;

#[cfg(test)]
mod default_toml_tests {
    use super::*;

    #[test]
    fn printed_defaults_are_the_defaults() {
        let parsed = Config::parse(DEFAULT_TOML, "default").expect("default TOML parses");
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn expiry_dates_are_calendar_days() {
        let parse = |v: &str| {
            Config::parse(
                &format!("[[authorized]]\ndestination = \"10.9.0.0/24\"\nexpires = {v}\n"),
                "t",
            )
            .map(|c| c.authorized[0].expires.map(|d| d.to_string()))
            .map_err(|e| e.to_string())
        };
        for (v, want) in [
            ("2028-02-29", "2028-02-29"),
            ("\"2027-12-31\"", "2027-12-31"),
            ("2027-03-01T10:00:00Z", "2027-03-01"),
            ("\"2027-03-01 10:00:00\"", "2027-03-01"),
        ] {
            assert_eq!(parse(v), Ok(Some(want.to_owned())), "{v}");
        }
        for v in [
            "\"2027-02-31\"",
            "\"2027-02-29\"",
            "\"2027-01-31garbage\"",
            "\"2027-01-31Tnoon\"",
            "\"300000-01-01\"",
            "\"1969-12-31\"",
            "\"2027-1-5\"",
            "\"2027-00-10\"",
        ] {
            let e = parse(v).expect_err(v);
            assert!(
                e.contains("is not a date like 2027-01-31") && e.contains("line 3"),
                "{v}: {e}"
            );
        }
    }

    #[test]
    fn authorized_entries_parse() {
        let c = Config::parse(
            "[[authorized]]\ndestination = \"10.9.0.0/24\"\nencap = \"erspan2\"\nid = 100\nreference = \"CHG-1\"\nexpires = 2027-01-31\n",
            "t",
        )
        .expect("valid");
        let a = &c.authorized[0];
        assert_eq!(a.encap, Some(Encap::Erspan2));
        assert_eq!(a.id, Some(100));
        assert_eq!(
            a.expires.map(|d| d.to_string()).as_deref(),
            Some("2027-01-31")
        );
        // 2027-02-01T00:00:00Z
        assert_eq!(a.expires.map(Date::end_us), Some(1_801_440_000_000_000));
        let e = Config::parse(
            "[[authorized]]\ndestination = \"10.9.0.0/24\"\nencap = \"span\"\n",
            "t",
        )
        .expect_err("bad encap")
        .to_string();
        assert!(
            e.contains("unknown encapsulation") && e.contains("line 3"),
            "{e}"
        );
        let e = Config::parse("[[authorized]]\ndestination = \"10.9.0.0/99\"\n", "t")
            .expect_err("bad prefix")
            .to_string();
        assert!(e.contains("prefix length"), "{e}");
    }
}
