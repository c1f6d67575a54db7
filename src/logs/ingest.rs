//! Stateful syslog ingestion: one line in, at most one
//! [`ConfigEvent`] out. Keeps bounded per-device context (see
//! [`super::device`]) so that it can serve a live UDP/TCP listener as well
//! as file reading.

use super::bounded::BoundedMap;
use super::device::{CmdOutcome, DeviceCtx, Kind, junos_display_name, kw};
use super::syslog::{PercentTag, SyslogFormat, SyslogRecord, parse_percent_tag, parse_syslog_line};
use super::timefmt::{Civil, month_from_abbr};
use super::{Action, ConfigEvent, Platform, ResourceKind};
use std::net::IpAddr;

/// What one input record amounted to.
#[derive(Debug, Clone, PartialEq)]
pub enum Ingested {
    /// A mirror-configuration event.
    Event(Box<ConfigEvent>),
    /// A well-formed record that is not mirror configuration.
    Unmatched,
    /// A mirror-related record folded into another record's event (AAA
    /// `start` records, intermediate cloud operation states, ...).
    Folded,
    /// Not a record at all; the reason is for a warning.
    Malformed(&'static str),
}

impl Ingested {
    /// The event, if there is one.
    pub fn into_event(self) -> Option<ConfigEvent> {
        match self {
            Ingested::Event(e) => Some(*e),
            _ => None,
        }
    }
}

/// Where a record came from and what its header said.
struct Meta<'a> {
    raw: &'a str,
    origin: &'a str,
    time_us: Option<i64>,
    device: Option<&'a str>,
}

impl Meta<'_> {
    fn key(&self) -> &str {
        self.device.unwrap_or("")
    }
}

/// Syslog ingestion with per-device context (Cisco/NX-OS/Arista CLI mode
/// and sessions, Junos instances and pending commits), bounded to
/// `max_devices` devices (least recently used first out).
pub struct SyslogIngest {
    year: i32,
    devices: BoundedMap<DeviceCtx>,
}

impl SyslogIngest {
    /// Default bound on the number of devices with context.
    pub const DEFAULT_MAX_DEVICES: usize = 10_000;

    /// `year` completes time stamps that have none (RFC 3164, Cisco).
    pub fn new(year: i32) -> Self {
        Self::with_max_devices(year, Self::DEFAULT_MAX_DEVICES)
    }

    pub fn with_max_devices(year: i32, max_devices: usize) -> Self {
        Self {
            year,
            devices: BoundedMap::new(max_devices),
        }
    }

    pub fn year(&self) -> i32 {
        self.year
    }

    /// Changes the year used for time stamps without one (for a listener
    /// running across New Year).
    pub fn set_year(&mut self, year: i32) {
        self.year = year;
    }

    /// Devices currently holding context.
    pub fn devices(&self) -> usize {
        self.devices.len()
    }

    /// Devices whose context was evicted to respect the bound.
    pub fn evicted_devices(&self) -> u64 {
        self.devices.evicted()
    }

    /// One line from a listener or file; `origin` is `file:line` or
    /// `udp:ADDR:PORT` (for network origins the sender address stands in
    /// for a missing host name).
    pub fn ingest_line(&mut self, line: &str, origin: &str) -> Option<ConfigEvent> {
        self.ingest(line, origin).into_event()
    }

    /// Like [`Self::ingest_line`], telling unmatched from malformed input.
    pub fn ingest(&mut self, line: &str, origin: &str) -> Ingested {
        let line = line.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() {
            return Ingested::Unmatched;
        }
        if let Some(rec) = parse_syslog_line(line, self.year) {
            return self.ingest_record(&rec, line, origin);
        }
        match parse_accounting(line) {
            Some(acc) => {
                let m = Meta {
                    raw: line,
                    origin,
                    time_us: acc.time_us,
                    device: origin_host(origin),
                };
                self.accounting(&acc, &m)
            }
            None => Ingested::Malformed("not a syslog record"),
        }
    }

    /// A record already parsed by [`parse_syslog_line`]; `raw` is its line.
    pub fn ingest_record(&mut self, rec: &SyslogRecord<'_>, raw: &str, origin: &str) -> Ingested {
        if rec.format == SyslogFormat::Rfc5424 && !rec.msg.starts_with('%') && rec.msg.contains('%')
        {
            // A Cisco line forwarded in RFC 5424 by a relay: the message
            // still carries the device's own header (`123: *Mar  1 ...: %...`).
            if let Some(inner) = parse_syslog_line(rec.msg, self.year)
                .filter(|r| matches!(r.format, SyslogFormat::Cisco | SyslogFormat::Nxos))
                .filter(|r| r.msg.starts_with('%'))
            {
                let outer = SyslogRecord {
                    host: inner.host.or(rec.host),
                    time_us: rec.time_us.or(inner.time_us),
                    format: inner.format,
                    msg: inner.msg,
                    ..rec.clone()
                };
                return self.ingest_record(&outer, raw, origin);
            }
        }
        let m = Meta {
            raw,
            origin,
            time_us: rec.time_us,
            device: rec.host.or_else(|| origin_host(origin)),
        };
        let msg = rec.msg;
        if msg.starts_with('%') {
            if let Some(tag) = parse_percent_tag(msg) {
                return self.percent(rec, &tag, &m);
            }
        }
        if msg.starts_with("UI_") || rec.msgid.is_some_and(|id| id.starts_with("UI_")) {
            return self.junos(rec, &m);
        }
        if msg.contains(":cmd=") {
            if let Some(acc) = parse_accounting(msg) {
                let m = Meta {
                    time_us: m.time_us.or(acc.time_us),
                    ..m
                };
                return self.accounting(&acc, &m);
            }
        }
        Ingested::Unmatched
    }

    fn percent(&mut self, rec: &SyslogRecord<'_>, tag: &PercentTag<'_>, m: &Meta<'_>) -> Ingested {
        let platform = device_platform(rec, tag);
        let (fac, mn) = (tag.facility, tag.mnemonic);
        if mn == "CFGLOG_LOGGEDCMD" {
            return match parse_cfglog(tag.text) {
                Some((user, text)) => self.command(Cmd::new(platform, Some(user), text), m),
                None => Ingested::Unmatched,
            };
        }
        if fac == "ACCOUNTING" && mn == "CMD" {
            return self.arista_accounting(tag.text, m);
        }
        if fac == "BUFCAP" {
            return self.bufcap(platform, mn, tag.text, m);
        }
        if let Some(action) = status_action(fac, mn) {
            return self.status(platform, action, tag.text, m);
        }
        if mn.starts_with("CONFIG_I")
            || mn.ends_with("SYSLOG_CONFIG_I")
            || mn.starts_with("CONFIG_SESSION")
        {
            // Usually only "Configured from console by alice on vty0
            // (10.1.1.5)": the end of a configuration session. Some relays
            // append the command; take it when it is a monitor command.
            if let Some(at) = find_ci(tag.text, "monitor ") {
                let cmd = tag.text.get(at..).unwrap_or("");
                return self.command(Cmd::new(platform, configured_by(tag.text), cmd), m);
            }
            if let Some(ctx) = self.devices.get_mut(m.key()) {
                ctx.end_config(configured_by(tag.text));
            }
        }
        Ingested::Unmatched
    }

    /// A CLI command: through the device's context.
    fn command(&mut self, c: Cmd<'_>, m: &Meta<'_>) -> Ingested {
        let mentions = |t: &str| find_ci(t, "mon").is_some();
        let relevant = mentions(c.text) || c.path.is_some_and(|p| p.iter().any(|r| mentions(r)));
        let ctx = if relevant {
            self.devices.entry(m.key(), DeviceCtx::default)
        } else {
            match self.devices.get_mut(m.key()) {
                Some(ctx) => ctx,
                None => return Ingested::Unmatched,
            }
        };
        let u = c.user.unwrap_or("");
        if let Some(path) = c.path {
            ctx.reset_mode(u);
            for r in path {
                let _ = ctx.apply_command(u, r, m.time_us);
            }
        }
        match ctx.apply_command(u, c.text, m.time_us) {
            Some(o) => {
                let platform = if o.arista {
                    Platform::AristaEos
                } else {
                    c.platform
                };
                let mut ev = event_from(o, platform, m);
                ev.actor = c.user.filter(|u| !u.is_empty()).map(str::to_owned);
                ev.source_ip = c.caller_ip.map(|ip| ip.to_string());
                ev.failed = c.failed;
                Ingested::Event(Box::new(ev))
            }
            None => Ingested::Unmatched,
        }
    }

    /// Arista EOS `%ACCOUNTING-6-CMD: admin vty5 10.0.0.5 stop task_id=14
    /// ... cmd=monitor session ...` (`aaa accounting commands all default
    /// start-stop logging`). With start-stop accounting each command is
    /// logged twice; the `start` record is folded into the `stop` one.
    fn arista_accounting(&mut self, text: &str, m: &Meta<'_>) -> Ingested {
        let Some((head, cmd)) = text.split_once(" cmd=") else {
            return Ingested::Unmatched;
        };
        let mut words = head.split_whitespace();
        let user = words.next();
        let _tty = words.next();
        let ip = words.next().and_then(|w| w.parse::<IpAddr>().ok());
        let is_start = head.split_whitespace().any(|w| w == "start");
        if is_start {
            return if find_ci(cmd, "mon").is_some() {
                Ingested::Folded
            } else {
                Ingested::Unmatched
            };
        }
        let mut c = Cmd::new(Platform::AristaEos, user, cmd);
        c.caller_ip = ip;
        self.command(c, m)
    }

    /// NX-OS accounting log record (`show accounting log` or forwarded).
    /// Each record carries its full mode path (`configure terminal ;
    /// monitor session 1 type erspan-source ; erspan-id 100`).
    fn accounting(&mut self, acc: &Accounting<'_>, m: &Meta<'_>) -> Ingested {
        let elems: Vec<&str> = acc
            .cmd
            .split(';')
            .map(str::trim)
            .filter(|e| !e.is_empty() && !is_configure(e))
            .take(16)
            .collect();
        let Some((last, path)) = elems.split_last() else {
            return Ingested::Unmatched;
        };
        let cmd = Cmd {
            platform: Platform::CiscoNxos,
            user: Some(acc.user),
            caller_ip: acc.id.split('@').next().and_then(|s| s.parse().ok()),
            text: last,
            failed: acc.failed,
            path: Some(path),
        };
        self.command(cmd, m)
    }

    /// Embedded Packet Capture: `%BUFCAP-6-CREATE: Capture Point cp1
    /// created.`, `%BUFCAP-6-ENABLE: Capture Point cp1 enabled.` (the
    /// capture started: `monitor capture ... start` is an EXEC command that
    /// command logging does not record), `%BUFCAP-6-DISABLE` /
    /// `DISABLE_ASYNC` (stopped), `%BUFCAP-6-DELETE` (removed). Buffer
    /// messages (`BUFFER_FULL`, ...) are not changes.
    fn bufcap(&mut self, platform: Platform, mn: &str, text: &str, m: &Meta<'_>) -> Ingested {
        let action = match mn {
            "CREATE" => Action::Create,
            "ENABLE" => Action::Start,
            "DISABLE" | "DISABLE_ASYNC" => Action::Stop,
            "DELETE" | "REMOVE" => Action::Delete,
            _ => return Ingested::Unmatched,
        };
        let mut ev = ConfigEvent::new(platform, action, m.raw, m.origin);
        ev.time_us = m.time_us;
        ev.device = m.device.map(str::to_owned);
        ev.resource = Some(ResourceKind::Capture);
        let mut words = text.split_whitespace();
        let mut name = None;
        while let Some(w) = words.next() {
            if w.eq_ignore_ascii_case("point") || w.eq_ignore_ascii_case("point:") {
                name = words
                    .next()
                    .map(|n| n.trim_end_matches(['.', ',', ':']))
                    .filter(|n| !n.is_empty());
                break;
            }
        }
        ev.resource_id = name.map(str::to_owned);
        if let (Some(n), Some(ctx)) = (name, self.devices.get(m.key())) {
            if let Some(st) = ctx.capture_state(n) {
                ev.destination = st.destination;
                ev.destination_ip = st.destination_ip;
                ev.sources = st.sources;
            }
        }
        Ingested::Event(Box::new(ev))
    }

    /// `%ETH_SPAN-5-ETH_SPAN_SESSION_UP: Session 1 is up.` and friends.
    fn status(&mut self, platform: Platform, action: Action, text: &str, m: &Meta<'_>) -> Ingested {
        let mut ev = ConfigEvent::new(platform, action, m.raw, m.origin);
        ev.time_us = m.time_us;
        ev.device = m.device.map(str::to_owned);
        if action == Action::Start {
            // `%MIRROR-6-PKTCAP_START: Packet capture CAP1 started on ...`
            ev.resource = Some(ResourceKind::Capture);
            let name = word_after(text, "capture");
            ev.resource_id = name.map(str::to_owned);
            if let (Some(n), Some(ctx)) = (name, self.devices.get(m.key())) {
                if let Some(st) = ctx.capture_state(n) {
                    ev.destination = st.destination;
                    ev.sources = st.sources;
                }
            }
            return Ingested::Event(Box::new(ev));
        }
        let num = session_number(text);
        ev.session = num;
        ev.resource = Some(ResourceKind::Session);
        ev.resource_id = num.map(|n| n.to_string());
        if let (Some(n), Some(ctx)) = (num, self.devices.get(m.key())) {
            if let Some(st) = ctx.monitor_state(&n.to_string()) {
                ev.erspan_id = st.erspan_id;
                ev.destination = st.destination;
                ev.destination_ip = st.destination_ip;
                ev.sources = st.sources;
            }
        }
        Ingested::Event(Box::new(ev))
    }

    fn junos(&mut self, rec: &SyslogRecord<'_>, m: &Meta<'_>) -> Ingested {
        let (tag, body) = match rec.msg.split_once(':') {
            Some((t, b))
                if t.starts_with("UI_")
                    && t.bytes().all(|c| c.is_ascii_uppercase() || c == b'_') =>
            {
                (t, b.trim())
            }
            _ => match rec.msgid {
                Some(id) => (id, rec.msg.trim()),
                None => return Ingested::Unmatched,
            },
        };
        match tag {
            "UI_CFG_AUDIT_SET"
            | "UI_CFG_AUDIT_DELETE"
            | "UI_CFG_AUDIT_OTHER"
            | "UI_CFG_AUDIT_SET_SECRET" => {
                if !body.contains("port-mirror") && !body.contains("analyzer") {
                    return Ingested::Unmatched;
                }
                let Some(audit) = parse_junos_audit(body) else {
                    return Ingested::Unmatched;
                };
                let ctx = self.devices.entry(m.key(), DeviceCtx::default);
                if ctx.junos_audit_repeats_cli(audit.user, audit.verb, audit.path, audit.value) {
                    return Ingested::Folded;
                }
                match ctx.junos_audit(audit.user, audit.verb, audit.path, audit.value) {
                    Some(o) => {
                        let mut ev = event_from(o, Platform::Junos, m);
                        ev.actor = audit.user.map(str::to_owned);
                        Ingested::Event(Box::new(ev))
                    }
                    None => Ingested::Unmatched,
                }
            }
            "UI_CMDLINE_READ_LINE" => {
                // Operational commands (`show`, `run`, `request`, ...) change
                // nothing: look at the verb before anything else.
                const VERBS: [&str; 11] = [
                    "set",
                    "delete",
                    "deactivate",
                    "activate",
                    "edit",
                    "top",
                    "up",
                    "exit",
                    "quit",
                    "configure",
                    "commit",
                ];
                let quick = body
                    .find("command '")
                    .and_then(|at| body.get(at + 9..))
                    .map(|c| c.split([' ', '\'']).next().unwrap_or(""));
                if quick.is_some_and(|v| !VERBS.contains(&v)) {
                    return Ingested::Unmatched;
                }
                let Some((user, cmd)) = parse_junos_cmdline(body, rec.structured_data) else {
                    return Ingested::Unmatched;
                };
                let verb = cmd.split_whitespace().next().unwrap_or("");
                if !VERBS.contains(&verb) {
                    return Ingested::Unmatched;
                }
                let relevant = cmd.contains("port-mirror")
                    || cmd.contains("analyzer")
                    || cmd.starts_with("edit")
                    || cmd.starts_with("top")
                    || cmd.starts_with("up")
                    || cmd.starts_with("exit")
                    || cmd.starts_with("configure");
                let ctx = if relevant {
                    self.devices.entry(m.key(), DeviceCtx::default)
                } else {
                    match self.devices.get_mut(m.key()) {
                        Some(ctx) => ctx,
                        None => return Ingested::Unmatched,
                    }
                };
                match ctx.junos_cli(user, cmd) {
                    Some(o) => {
                        let mut ev = event_from(o, Platform::Junos, m);
                        ev.actor = Some(user.to_owned()).filter(|u| !u.is_empty());
                        Ingested::Event(Box::new(ev))
                    }
                    None => Ingested::Unmatched,
                }
            }
            "UI_COMMIT" | "UI_COMMIT_COMPLETED" => {
                let Some(ctx) = self.devices.get_mut(m.key()) else {
                    return Ingested::Unmatched;
                };
                match ctx.junos_commit() {
                    Some((o, actor)) => {
                        let mut ev = event_from(o, Platform::Junos, m);
                        ev.actor = quoted_user(body).map(str::to_owned).or(actor);
                        Ingested::Event(Box::new(ev))
                    }
                    None => Ingested::Unmatched,
                }
            }
            _ => Ingested::Unmatched,
        }
    }
}

/// One CLI command to run through a device's context.
struct Cmd<'a> {
    platform: Platform,
    user: Option<&'a str>,
    caller_ip: Option<IpAddr>,
    text: &'a str,
    failed: bool,
    /// Mode path to replay first, after resetting the user's mode.
    path: Option<&'a [&'a str]>,
}

impl<'a> Cmd<'a> {
    fn new(platform: Platform, user: Option<&'a str>, text: &'a str) -> Self {
        Self {
            platform,
            user,
            caller_ip: None,
            text,
            failed: false,
            path: None,
        }
    }
}

fn event_from(o: CmdOutcome, platform: Platform, m: &Meta<'_>) -> ConfigEvent {
    let mut ev = ConfigEvent::new(platform, o.action, m.raw, m.origin);
    ev.time_us = m.time_us;
    ev.device = m.device.map(str::to_owned);
    ev.resource = o.kind.map(|k| match k {
        Kind::Monitor | Kind::Junos => ResourceKind::Session,
        Kind::Capture => ResourceKind::Capture,
    });
    ev.session = match o.kind {
        Some(Kind::Monitor) => o.name.as_deref().and_then(|n| n.parse().ok()),
        _ => None,
    };
    ev.resource_id = match (o.kind, o.name) {
        (Some(Kind::Junos), Some(n)) => Some(junos_display_name(&n).to_owned()),
        (_, n) => n,
    };
    ev.erspan_id = o.state.erspan_id;
    ev.destination = o.state.destination;
    ev.destination_ip = o.state.destination_ip;
    ev.sources = o.state.sources;
    ev
}

/// EOS agents that tag their syslog messages (`Aaa: %ACCOUNTING-...`).
const EOS_AGENTS: [&str; 40] = [
    "Aaa",
    "Acl",
    "Arp",
    "Bfd",
    "Bgp",
    "Cli",
    "ConfigAgent",
    "Dot1x",
    "Ebra",
    "EventMgr",
    "Fhrp",
    "Fru",
    "Igmp",
    "Ira",
    "Isis",
    "Lag",
    "Launcher",
    "LedPolicy",
    "Lldp",
    "Mirroring",
    "Mlag",
    "Ospf",
    "Ospf3",
    "PhyEthtool",
    "Pim",
    "PortSec",
    "ProcMgr",
    "Ptp",
    "Qos",
    "Rib",
    "Sand",
    "Sflow",
    "Snmp",
    "Stp",
    "StpTxRx",
    "Strata",
    "SuperServer",
    "Sysdb",
    "Tunnel",
    "Xcvr",
];

fn device_platform(rec: &SyslogRecord<'_>, tag: &PercentTag<'_>) -> Platform {
    let f = tag.facility;
    if rec.format == SyslogFormat::Nxos
        || f == "ETH_SPAN"
        || f.starts_with("VSHD")
        || f == "ETHPORT"
    {
        Platform::CiscoNxos
    } else if tag.mnemonic == "CFGLOG_LOGGEDCMD" {
        Platform::CiscoIos
    } else if f == "ACCOUNTING" || rec.app.is_some_and(|a| EOS_AGENTS.contains(&a)) {
        Platform::AristaEos
    } else {
        Platform::CiscoIos
    }
}

fn status_action(fac: &str, mn: &str) -> Option<Action> {
    let mirror_fac = ["SPAN", "MIRROR", "PKTCAP", "EPC", "BUFCAP"]
        .iter()
        .any(|k| fac.contains(k));
    if mn.contains("PKTCAP_START") {
        Some(Action::Start)
    } else if !mirror_fac {
        None
    } else if mn.ends_with("SESSION_UP") {
        Some(Action::SessionUp)
    } else if mn.ends_with("SESSION_DOWN") {
        Some(Action::SessionDown)
    } else {
        None
    }
}

/// `User:alice  logged command:monitor session 1 type erspan-source`.
fn parse_cfglog(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix("User:")?;
    let (user, rest) = rest.split_once(char::is_whitespace)?;
    let cmd = rest.trim_start().strip_prefix("logged command:")?;
    Some((user, cmd))
}

/// `Configured from console by alice on vty0 (10.1.1.5)`.
fn configured_by(text: &str) -> Option<&str> {
    let at = text.find(" by ")?;
    text.get(at + 4..)?.split_whitespace().next()
}

/// `User 'bob' ...`.
fn quoted_user(body: &str) -> Option<&str> {
    let rest = body.get(body.find("User '")? + 6..)?;
    rest.split_once('\'').map(|(u, _)| u)
}

/// First session number in a status text (`Session 1 is up`,
/// `session-id 7`, `session #2`).
fn session_number(text: &str) -> Option<u32> {
    let mut words = text.split_whitespace();
    while let Some(w) = words.next() {
        let lw = w.trim_end_matches([':', ',']);
        if lw.eq_ignore_ascii_case("session") || lw.eq_ignore_ascii_case("session-id") {
            let n = words.next()?;
            return n
                .trim_start_matches('#')
                .trim_end_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .ok();
        }
    }
    None
}

/// The word after `key` (ignoring case), trailing punctuation trimmed.
fn word_after<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let mut words = text.split_whitespace();
    while let Some(w) = words.next() {
        if w.eq_ignore_ascii_case(key) {
            return words
                .next()
                .map(|n| n.trim_end_matches(['.', ',', ':']))
                .filter(|n| !n.is_empty());
        }
    }
    None
}

/// Case-insensitive ASCII substring search.
fn find_ci(hay: &str, needle: &str) -> Option<usize> {
    let n = needle.as_bytes();
    if n.is_empty() {
        return Some(0);
    }
    hay.as_bytes()
        .windows(n.len())
        .position(|w| w.eq_ignore_ascii_case(n))
}

fn is_configure(e: &str) -> bool {
    let mut w = e.split_whitespace();
    let first = w.next().unwrap_or("");
    let second = w.next();
    kw(first, "configure", 4) && second.is_none_or(|s| kw(s, "terminal", 1)) && w.next().is_none()
}

/// Sender address from `udp:ADDR:PORT` / `tcp:[V6]:PORT` origins.
fn origin_host(origin: &str) -> Option<&str> {
    let rest = ["udp:", "tcp:", "tls:"]
        .iter()
        .find_map(|p| origin.strip_prefix(p))?;
    if let Some(v6) = rest.strip_prefix('[') {
        return v6.split_once(']').map(|(h, _)| h).filter(|h| !h.is_empty());
    }
    if rest.parse::<IpAddr>().is_ok() {
        return Some(rest);
    }
    rest.rsplit_once(':')
        .map(|(h, _)| h)
        .filter(|h| !h.is_empty())
}

/// `User 'bob', command 'set forwarding-options ... '` (Junos pads the
/// command with a space), or the RFC 5424 structured data
/// `[junos@2636... username="bob" command="..."]`.
fn parse_junos_cmdline<'a>(body: &'a str, sd: Option<&'a str>) -> Option<(&'a str, &'a str)> {
    if let Some(user) = quoted_user(body) {
        let at = body.find("command '")? + 9;
        let cmd = body.get(at..)?;
        let cmd = cmd.strip_suffix('\'').unwrap_or(cmd);
        return Some((user, cmd.trim()));
    }
    let sd = sd?;
    let user = sd_param(sd, "username")?;
    let cmd = sd_param(sd, "command")?;
    Some((user, cmd.trim()))
}

/// Value of `name="..."` in RFC 5424 structured data (unescaped values
/// only: a value holding an escape is not returned).
fn sd_param<'a>(sd: &'a str, name: &str) -> Option<&'a str> {
    let mut from = 0;
    loop {
        let at = from + sd.get(from..)?.find(name)?;
        let before_ok = at == 0 || sd.as_bytes().get(at - 1) == Some(&b' ');
        let rest = sd.get(at + name.len()..)?;
        if before_ok {
            if let Some(v) = rest.strip_prefix("=\"") {
                let end = v.find('"')?;
                let val = v.get(..end)?;
                return (!val.contains('\\')).then_some(val);
            }
        }
        from = at + name.len();
    }
}

struct JunosAudit<'a> {
    user: Option<&'a str>,
    verb: &'a str,
    path: &'a str,
    value: Option<&'a str>,
}

/// `User 'bob' set: [forwarding-options ...] <unconfigured> -> "203.0.113.7"`.
fn parse_junos_audit(body: &str) -> Option<JunosAudit<'_>> {
    let user = quoted_user(body);
    let after_user = match user {
        Some(_) => body.get(body.find("User '")? + 6..)?.split_once('\'')?.1,
        None => body,
    };
    let (verb, rest) = after_user.split_once(':')?;
    let rest = rest.trim_start();
    let inner = rest.strip_prefix('[')?;
    let close = inner.find("] ").or_else(|| inner.rfind(']'))?;
    let path = inner.get(..close)?;
    let tail = inner.get(close + 1..).unwrap_or("");
    let value = tail
        .split_once("->")
        .map(|(_, new)| new.trim())
        .and_then(|v| {
            let v = v.trim_matches('"');
            (v != "<unconfigured>" && !v.is_empty()).then_some(v)
        });
    Some(JunosAudit {
        user,
        verb: verb.trim(),
        path,
        value,
    })
}

/// One NX-OS accounting record:
/// `Fri Mar  1 18:46:11 2024:type=update:id=10.1.1.5@pts/0:user=admin:cmd=configure terminal ; monitor session 1 type erspan-source (SUCCESS)`.
struct Accounting<'a> {
    time_us: Option<i64>,
    id: &'a str,
    user: &'a str,
    cmd: &'a str,
    failed: bool,
}

fn parse_accounting(s: &str) -> Option<Accounting<'_>> {
    let at = s.find("type=")?;
    let prefix = s.get(..at)?.trim_end_matches(':').trim();
    let fields = s.get(at..)?;
    let id_at = fields.find(":id=")?;
    let user_at = fields.find(":user=")?;
    let cmd_at = fields.find(":cmd=")?;
    if !(id_at < user_at && user_at < cmd_at) {
        return None;
    }
    let id = fields.get(id_at + 4..user_at)?;
    let user = fields.get(user_at + 6..cmd_at)?;
    let mut cmd = fields.get(cmd_at + 5..)?.trim();
    let mut failed = false;
    if let Some((c, status)) = cmd.rsplit_once(" (") {
        if let Some(word) = status.strip_suffix(')') {
            if !word.is_empty() && word.bytes().all(|b| b.is_ascii_uppercase()) {
                failed = word == "FAILURE" || word == "FAILED";
                cmd = c.trim_end();
            }
        }
    }
    Some(Accounting {
        time_us: accounting_time(prefix),
        id,
        user,
        cmd,
        failed,
    })
}

/// `Fri Mar  1 18:46:11 2024` (switch local time, taken as UTC).
fn accounting_time(s: &str) -> Option<i64> {
    let w: Vec<&str> = s.split_whitespace().collect();
    let [_, mon, day, clock, year] = w.as_slice() else {
        return None;
    };
    let mut hms = clock.split(':').map(|x| x.parse::<u32>().ok());
    let civil = Civil {
        year: year.parse().ok()?,
        month: month_from_abbr(mon.as_bytes())?,
        day: day.parse().ok()?,
        hour: hms.next()??,
        minute: hms.next()??,
        second: hms.next()??,
        micros: 0,
    };
    civil.to_unix_us()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ingest_all(lines: &[&str]) -> Vec<ConfigEvent> {
        let mut ing = SyslogIngest::new(2024);
        lines
            .iter()
            .enumerate()
            .filter_map(|(i, l)| ing.ingest_line(l, &format!("t:{}", i + 1)))
            .collect()
    }

    #[test]
    fn cisco_cfglog_session_is_built_up() {
        let evs = ingest_all(&[
            "<189>101: rtr1: *Mar  1 18:46:11.123 UTC: %PARSER-5-CFGLOG_LOGGEDCMD: User:alice  logged command:monitor session 1 type erspan-source",
            "<189>102: rtr1: *Mar  1 18:46:12.123 UTC: %PARSER-5-CFGLOG_LOGGEDCMD: User:alice  logged command:destination",
            "<189>103: rtr1: *Mar  1 18:46:13.123 UTC: %PARSER-5-CFGLOG_LOGGEDCMD: User:alice  logged command:erspan-id 100",
            "<189>104: rtr1: *Mar  1 18:46:14.123 UTC: %PARSER-5-CFGLOG_LOGGEDCMD: User:alice  logged command:ip address 203.0.113.9",
            "<189>105: rtr1: *Mar  1 18:46:15.123 UTC: %SYS-5-CONFIG_I: Configured from console by alice on vty0 (10.1.1.5)",
            "<189>106: rtr1: *Mar  1 18:46:16.123 UTC: %PARSER-5-CFGLOG_LOGGEDCMD: User:alice  logged command:ip address 10.9.9.9",
        ]);
        assert_eq!(evs.len(), 4);
        assert_eq!(evs[0].action, Action::Create);
        assert_eq!(evs[0].platform, Platform::CiscoIos);
        assert_eq!(evs[0].device.as_deref(), Some("rtr1"));
        assert_eq!(evs[0].actor.as_deref(), Some("alice"));
        assert_eq!(evs[0].session, Some(1));
        let last = &evs[3];
        assert_eq!(last.action, Action::Modify);
        assert_eq!(last.erspan_id, Some(100));
        assert_eq!(last.destination_ip, "203.0.113.9".parse().ok());
        assert_eq!(last.origin, "t:4");
    }

    #[test]
    fn status_messages_carry_context() {
        let evs = ingest_all(&[
            "<189>1: nx1: *Mar  1 10:00:00 UTC: %PARSER-5-CFGLOG_LOGGEDCMD: User:a  logged command:monitor session 4 destination interface Gi0/2",
            "<189>2: nx1: *Mar  1 10:00:01 UTC: %SPAN-5-SESSION_UP: Monitor session 4 is up",
            "<189>3: nx1: *Mar  1 10:00:02 UTC: %LINK-3-UPDOWN: Interface Gi0/2, changed state to up",
        ]);
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[1].action, Action::SessionUp);
        assert_eq!(evs[1].session, Some(4));
        assert_eq!(evs[1].destination.as_deref(), Some("Gi0/2"));
    }

    #[test]
    fn network_origin_stands_in_for_host() {
        let mut ing = SyslogIngest::new(2024);
        let ev = ing
            .ingest_line(
                "<189>7: *Mar  1 10:00:00.000 UTC: %PARSER-5-CFGLOG_LOGGEDCMD: User:a  logged command:monitor session 9 source interface Gi1",
                "udp:192.0.2.7:514",
            )
            .unwrap();
        assert_eq!(ev.device.as_deref(), Some("192.0.2.7"));
        assert_eq!(origin_host("udp:[2001:db8::1]:514"), Some("2001:db8::1"));
        assert_eq!(origin_host("tcp:192.0.2.1"), Some("192.0.2.1"));
        assert_eq!(origin_host("file.log:3"), None);
    }

    #[test]
    fn accounting_records() {
        let acc = parse_accounting(
            "Fri Mar  1 18:46:11 2024:type=update:id=10.1.1.5@pts/0:user=admin:cmd=configure terminal ; monitor session 1 type erspan-source (SUCCESS)",
        )
        .unwrap();
        assert_eq!(acc.user, "admin");
        assert_eq!(acc.id, "10.1.1.5@pts/0");
        assert_eq!(
            acc.cmd,
            "configure terminal ; monitor session 1 type erspan-source"
        );
        assert!(!acc.failed);
        assert_eq!(acc.time_us, Some(1_709_318_771_000_000));
        let acc =
            parse_accounting("x:type=update:id=console0:user=a:cmd=no monitor session 1 (FAILURE)")
                .unwrap();
        assert!(acc.failed);
        assert_eq!(acc.time_us, None);
        assert!(parse_accounting("type=update:user=a:id=b:cmd=x").is_none());
        assert!(is_configure("configure terminal"));
        assert!(is_configure("conf t"));
        assert!(!is_configure("configure replace bootflash:x"));
    }

    #[test]
    fn helpers() {
        assert_eq!(session_number("Session 1 is up."), Some(1));
        assert_eq!(session_number("ERSPAN session-id 12, up"), Some(12));
        assert_eq!(session_number("monitor session #3: down"), Some(3));
        assert_eq!(session_number("no number"), None);
        assert_eq!(
            parse_cfglog("User:alice  logged command:ip address 1.2.3.4"),
            Some(("alice", "ip address 1.2.3.4"))
        );
        assert_eq!(
            configured_by("Configured from console by alice on vty0 (10.1.1.5)"),
            Some("alice")
        );
        let a = parse_junos_audit("User 'bob' set: [forwarding-options port-mirroring instance m1 family inet output ip-address 203.0.113.7] <unconfigured> -> \"203.0.113.7\"").unwrap();
        assert_eq!(a.user, Some("bob"));
        assert_eq!(a.verb, "set");
        assert_eq!(
            a.path,
            "forwarding-options port-mirroring instance m1 family inet output ip-address 203.0.113.7"
        );
        assert_eq!(a.value, Some("203.0.113.7"));
        let a = parse_junos_audit("User 'bob' delete: [forwarding-options analyzer a1]").unwrap();
        assert_eq!(
            (a.verb, a.path, a.value),
            ("delete", "forwarding-options analyzer a1", None)
        );
        assert_eq!(find_ci("Monitor Session", "session"), Some(8));
    }

    #[test]
    fn capture_point_messages() {
        let evs = ingest_all(&[
            "<189>1: csr8: *Mar  1 10:00:00.000 UTC: %BUFCAP-6-CREATE: Capture Point capture-p1 created.",
            "<189>2: csr8: *Mar  1 10:00:01.000 UTC: %BUFCAP-6-ENABLE: Capture Point capture-p1 enabled.",
            "<189>3: csr8: *Mar  1 10:00:02.000 UTC: %BUFCAP-6-DISABLE_ASYNC: Capture Point capture-p1 disabled. Reason : Buffer full",
            "<189>4: csr8: *Mar  1 10:00:03.000 UTC: %BUFCAP-5-BUFFER_FULL: Linear Buffer associated with capture buffer b1 is full.",
        ]);
        let got: Vec<(Action, Option<ResourceKind>, Option<&str>)> = evs
            .iter()
            .map(|e| (e.action, e.resource, e.resource_id.as_deref()))
            .collect();
        let cap = Some(ResourceKind::Capture);
        assert_eq!(
            got,
            vec![
                (Action::Create, cap, Some("capture-p1")),
                (Action::Start, cap, Some("capture-p1")),
                (Action::Stop, cap, Some("capture-p1")),
            ]
        );
    }

    #[test]
    fn junos_structured_data_parameters() {
        let sd = "[junos@2636.1.1.1.2.29 username=\"erin\" command=\"set forwarding-options analyzer a1 output ip-address 192.0.2.1\"]";
        assert_eq!(sd_param(sd, "username"), Some("erin"));
        assert_eq!(
            parse_junos_cmdline("-", Some(sd)),
            Some((
                "erin",
                "set forwarding-options analyzer a1 output ip-address 192.0.2.1"
            ))
        );
        assert_eq!(sd_param("[x name=\"a\\\"b\"]", "name"), None);
        assert_eq!(sd_param("[x username=\"u\"]", "name"), None);
        assert_eq!(
            parse_junos_cmdline("User 'bob', command 'show version '", None),
            Some(("bob", "show version"))
        );
        assert_eq!(parse_junos_cmdline("User 'bob' command", None), None);
    }

    #[test]
    fn random_token_soup_never_panics() {
        const TOKENS: [&str; 40] = [
            "<189>",
            "<13>",
            "<",
            ">",
            "1 ",
            "123: ",
            ": ",
            "rtr1: ",
            "*",
            ".",
            "Mar ",
            " 1 ",
            "2024 ",
            "18:46:11",
            ".123",
            " UTC: ",
            " XYZ: ",
            "%PARSER-5-CFGLOG_LOGGEDCMD: ",
            "%ETH_SPAN-5-ETH_SPAN_SESSION_UP: ",
            "%ACCOUNTING-6-CMD: ",
            "User:",
            "alice ",
            " logged command:",
            "monitor ",
            "session ",
            "capture ",
            "type=update:id=1.2.3.4@pts/0:user=a:cmd=",
            " ; ",
            "no ",
            "destination ",
            "ip address ",
            "203.0.113.9",
            "erspan-id ",
            "4294967296",
            "UI_CFG_AUDIT_SET: User '",
            "' set: [",
            "forwarding-options port-mirroring ",
            "] -> \"",
            "é",
            "\u{0}",
        ];
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut ing = SyslogIngest::with_max_devices(2024, 8);
        for _ in 0..20_000 {
            let mut line = String::new();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = (x % 14) as usize;
            for k in 0..n {
                let r = x.rotate_left(k as u32 * 5);
                line.push_str(TOKENS[(r % TOKENS.len() as u64) as usize]);
            }
            let _ = ing.ingest(&line, "udp:192.0.2.1:514");
            let _ = parse_syslog_line(&line, 2024);
        }
        assert!(ing.devices() <= 8);
    }

    #[test]
    fn malformed_and_blank() {
        let mut ing = SyslogIngest::new(2024);
        assert_eq!(ing.ingest("", "x"), Ingested::Unmatched);
        assert_eq!(
            ing.ingest("\u{0}\u{1}garbage", "x"),
            Ingested::Malformed("not a syslog record")
        );
        assert_eq!(ing.devices(), 0);
    }
}
