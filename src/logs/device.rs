//! Per-device configuration context for network devices: the monitor
//! sessions a device is known to have, and per-user CLI mode, so that a
//! session configured over several logged commands (IOS-XE `monitor
//! session 1 type erspan-source`, then `destination`, `erspan-id 100`,
//! `ip address 203.0.113.9`) yields events that carry everything known so
//! far. Also Junos port-mirroring/analyzer instances and pending commits.
//!
//! Keywords are matched the way Cisco's parser does: any unambiguous
//! prefix of at least a few letters (`mon sess 1 ty erspan-source`).

use super::Action;
use std::net::IpAddr;

const MAX_SESSIONS: usize = 64;
const MAX_USERS: usize = 16;
const MAX_SOURCES: usize = 64;
const MAX_TOKENS: usize = 64;
const MAX_FIELD: usize = 256;
/// A user's CLI mode is forgotten after this long without a command.
const MODE_IDLE_US: i64 = 3600 * 1_000_000;

/// What a device session entry describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `monitor session` (Cisco, NX-OS, Arista).
    Monitor,
    /// `monitor capture` (IOS-XE Embedded Packet Capture).
    Capture,
    /// Junos `forwarding-options port-mirroring|analyzer` instance.
    Junos,
}

/// Everything known about one session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SessionState {
    pub erspan_id: Option<u32>,
    pub destination: Option<String>,
    pub destination_ip: Option<IpAddr>,
    /// ERSPAN origin / GRE tunnel source address.
    pub origin_ip: Option<IpAddr>,
    pub sources: Vec<String>,
}

impl SessionState {
    fn add_source(&mut self, s: String) {
        if !self.sources.contains(&s) && self.sources.len() < MAX_SOURCES {
            self.sources.push(s);
        }
    }

    fn remove_source(&mut self, s: &str) {
        self.sources.retain(|x| x != s);
    }

    fn set_destination_ip(&mut self, ip: IpAddr) {
        self.destination_ip = Some(ip);
        self.destination = Some(ip.to_string());
    }

    fn clear_destination(&mut self) {
        self.destination = None;
        self.destination_ip = None;
    }
}

struct Session {
    kind: Kind,
    name: String,
    state: SessionState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    Global,
    /// Interface configuration mode (IOS-XR attaches sources there).
    Interface(String),
    /// `config-monitor` mode of the named session.
    Monitor(String),
    /// A sub-mode inside it (IOS-XE `destination` / `source`).
    MonitorSub(String),
}

struct UserMode {
    user: String,
    mode: Mode,
    last_us: Option<i64>,
}

/// Junos changes seen since the last commit.
struct JunosPending {
    actor: Option<String>,
    name: String,
}

/// Result of one configuration command / audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CmdOutcome {
    pub action: Action,
    /// What the name names (`None`: a device-wide setting).
    pub kind: Option<Kind>,
    /// Session / capture / instance name, when the command names one.
    pub name: Option<String>,
    /// Snapshot of the session after (for deletes: before) the command.
    pub state: SessionState,
    /// Arista-only syntax (`destination tunnel mode gre ...`) was used.
    pub arista: bool,
}

/// Context of one device.
#[derive(Default)]
pub(crate) struct DeviceCtx {
    sessions: Vec<Session>,
    users: Vec<UserMode>,
    erspan_origin: Option<IpAddr>,
    junos_pending: Option<JunosPending>,
    /// GRE / `tunnel-ip` interfaces and their `tunnel destination`, for
    /// sessions whose destination is such an interface (IOS-XR ERSPAN).
    tunnels: Vec<(String, IpAddr)>,
    /// Junos CLI `[edit ...]` level per user.
    junos_edit: Vec<(String, Vec<String>)>,
    /// The last Junos CLI change (`user|verb|path`), so that the
    /// `UI_CFG_AUDIT_*` record of the same change is folded into it.
    junos_last_cli: Option<String>,
}

/// IOS-XR `monitor-session NAME` classes.
const XR_CLASSES: [&str; 5] = ["ethernet", "ipv4", "ipv6", "mpls-ipv4", "mpls-ipv6"];

/// `tunnel-ip 1`, `tunnel-ip1` and `Tunnel-IP1` are one interface.
fn same_interface(a: &str, b: &str) -> bool {
    let mut x = a.bytes().filter(|c| *c != b' ');
    let mut y = b.bytes().filter(|c| *c != b' ');
    loop {
        match (x.next(), y.next()) {
            (None, None) => return true,
            (Some(p), Some(q)) if p.eq_ignore_ascii_case(&q) => {}
            _ => return false,
        }
    }
}

fn is_xr_class(t: &str) -> bool {
    XR_CLASSES.iter().any(|c| t.eq_ignore_ascii_case(c))
}

/// The name a Junos instance key is reported under: `m1` for
/// `port-mirroring instance m1`, `a1` for `analyzer a1`.
pub(crate) fn junos_display_name(key: &str) -> &str {
    key.strip_prefix("port-mirroring instance ")
        .or_else(|| key.strip_prefix("analyzer "))
        .unwrap_or(key)
}

/// `tok` is `full` or an abbreviation of it at least `min` bytes long.
pub(crate) fn kw(tok: &str, full: &str, min: usize) -> bool {
    tok.len() >= min.min(full.len())
        && tok.len() <= full.len()
        && full
            .as_bytes()
            .get(..tok.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(tok.as_bytes()))
}

fn kw_at(t: &[&str], i: usize, full: &str, min: usize) -> bool {
    t.get(i).is_some_and(|tok| kw(tok, full, min))
}

fn clip(s: &str) -> String {
    let mut end = s.len().min(MAX_FIELD);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("").to_owned()
}

fn parse_ip(s: &str) -> Option<IpAddr> {
    s.trim_matches(|c| c == ',' || c == ';').parse().ok()
}

fn is_direction(t: &str) -> bool {
    ["rx", "tx", "both", "ingress", "egress"]
        .iter()
        .any(|d| t.eq_ignore_ascii_case(d))
}

/// Interface / VLAN list: direction words dropped; NX-OS `ethernet 1/1`
/// joined to `ethernet1/1`.
fn iface_arg(args: &[&str]) -> Option<String> {
    // Options after the interface list are not part of it: `destination
    // interface Gi1/0/24 encapsulation replicate ingress dot1q vlan 5`.
    let end = args
        .iter()
        .enumerate()
        .position(|(i, t)| {
            kw(t, "encapsulation", 5)
                || kw(t, "learning", 5)
                || kw(t, "direction", 5)
                || (t.eq_ignore_ascii_case("ingress") && i + 1 < args.len())
        })
        .unwrap_or(args.len());
    let args = args.get(..end).unwrap_or(args);
    let kept: Vec<&str> = args.iter().copied().filter(|t| !is_direction(t)).collect();
    match kept.as_slice() {
        [] => None,
        [a, b]
            if b.starts_with(|c: char| c.is_ascii_digit())
                && a.chars().all(|c| c.is_ascii_alphabetic())
                && !a.eq_ignore_ascii_case("vlan") =>
        {
            Some(clip(&format!("{a}{b}")))
        }
        k => Some(clip(&k.join(" "))),
    }
}

/// A source list: `Gi0/0/1 , Gi0/0/2 both` (and `Gi0/0/1,Gi0/0/2`) is
/// two sources; a range (`Gi1/0/1 - 3`) is one.
fn iface_list(args: &[&str]) -> Vec<String> {
    let mut parts: Vec<Vec<&str>> = vec![Vec::new()];
    for (i, tok) in args.iter().enumerate() {
        let pieces: Vec<&str> = tok.split(',').collect();
        // What follows a comma must be an interface name (`vlan 10 , 20`
        // is one VLAN list).
        let next_is_name = args
            .get(i + 1)
            .is_some_and(|n| n.starts_with(|c: char| c.is_ascii_alphabetic()));
        let splits = pieces.len() > 1
            && pieces.iter().skip(1).all(|p| {
                p.starts_with(|c: char| c.is_ascii_alphabetic()) || (p.is_empty() && next_is_name)
            });
        if !splits {
            if let Some(last) = parts.last_mut() {
                last.push(tok);
            }
            continue;
        }
        for (k, p) in pieces.iter().enumerate() {
            if k > 0 && parts.len() < MAX_SOURCES {
                parts.push(Vec::new());
            }
            if !p.is_empty() {
                if let Some(last) = parts.last_mut() {
                    last.push(p);
                }
            }
        }
    }
    parts.iter().filter_map(|p| iface_arg(p)).collect()
}

enum SubEffect {
    Applied,
    EnterSub,
}

/// A command valid inside `config-monitor` mode (or after `monitor session
/// N` on one line). `None`: not a monitor sub-command.
fn apply_sub(st: &mut SessionState, t: &[&str], neg: bool, arista: &mut bool) -> Option<SubEffect> {
    let head = *t.first()?;
    let args = t.get(1..).unwrap_or(&[]);
    if kw(head, "source", 3) {
        let args = if kw_at(args, 0, "interface", 3) {
            args.get(1..).unwrap_or(&[])
        } else {
            args
        };
        let list = iface_list(args);
        if list.is_empty() {
            return Some(if neg {
                SubEffect::Applied
            } else {
                SubEffect::EnterSub
            });
        }
        for src in list {
            if neg {
                st.remove_source(&src);
            } else {
                st.add_source(src);
            }
        }
        return Some(SubEffect::Applied);
    }
    if kw(head, "destination", 4) {
        if neg {
            st.clear_destination();
            return Some(SubEffect::Applied);
        }
        if args.is_empty() {
            return Some(SubEffect::EnterSub);
        }
        if kw_at(args, 0, "interface", 3) {
            st.destination = iface_arg(args.get(1..).unwrap_or(&[]));
            st.destination_ip = None;
        } else if kw_at(args, 0, "ip", 2) {
            let at = if kw_at(args, 1, "address", 3) { 2 } else { 1 };
            if let Some(ip) = args.get(at).and_then(|s| parse_ip(s)) {
                st.set_destination_ip(ip);
            }
        } else if kw_at(args, 0, "tunnel", 3) {
            // Arista: destination tunnel mode gre source A destination B ...
            *arista = true;
            let mut i = 1;
            while i < args.len() {
                let val = args.get(i + 1).and_then(|s| parse_ip(s));
                if kw_at(args, i, "source", 3) {
                    if let Some(ip) = val {
                        st.origin_ip = Some(ip);
                        i += 1;
                    }
                } else if kw_at(args, i, "destination", 4) {
                    if let Some(ip) = val {
                        st.set_destination_ip(ip);
                        i += 1;
                    }
                }
                i += 1;
            }
        } else {
            // `destination remote vlan 900`, Arista `destination Ethernet2`.
            st.destination = Some(clip(&args.join(" ")));
            st.destination_ip = None;
        }
        return Some(SubEffect::Applied);
    }
    if kw(head, "erspan-id", 8) {
        st.erspan_id = if neg {
            None
        } else {
            args.first().and_then(|s| s.parse().ok())
        };
        return Some(SubEffect::Applied);
    }
    if head.eq_ignore_ascii_case("ip") {
        if kw_at(args, 0, "address", 3) {
            // `ip address A.B.C.D mask` belongs to an interface, not here.
            if args.len() > 2 {
                return None;
            }
            if neg {
                st.clear_destination();
            } else if let Some(ip) = args.get(1).and_then(|s| parse_ip(s)) {
                st.set_destination_ip(ip);
            }
            return Some(SubEffect::Applied);
        }
        let known = ["ttl", "dscp", "prec", "precedence", "tos"];
        return args
            .first()
            .filter(|a| known.iter().any(|k| a.eq_ignore_ascii_case(k)))
            .map(|_| SubEffect::Applied);
    }
    if kw(head, "origin", 3) {
        let at = if kw_at(args, 0, "ip-address", 4) {
            1
        } else if kw_at(args, 0, "ip", 2) && kw_at(args, 1, "address", 3) {
            2
        } else {
            return Some(SubEffect::Applied);
        };
        st.origin_ip = if neg {
            None
        } else {
            args.get(at).and_then(|s| parse_ip(s))
        };
        return Some(SubEffect::Applied);
    }
    const OTHER: [(&str, usize); 15] = [
        ("shutdown", 4),
        ("vrf", 3),
        ("mtu", 3),
        ("description", 4),
        ("filter", 4),
        ("header-type", 6),
        ("rate-limit", 6),
        ("ingress", 4),
        ("encapsulation", 5),
        ("plim", 4),
        ("erspan", 6),
        ("truncate", 5),
        ("forward-drops", 7),
        ("marker-packet", 6),
        ("type", 2),
    ];
    OTHER
        .iter()
        .any(|(k, min)| kw(head, k, *min))
        .then_some(SubEffect::Applied)
}

impl DeviceCtx {
    fn find(&self, kind: Kind, name: &str) -> Option<usize> {
        self.sessions
            .iter()
            .position(|s| s.kind == kind && s.name == name)
    }

    /// Index of the session, and whether it was just created.
    fn ensure(&mut self, kind: Kind, name: &str) -> (usize, bool) {
        let name = clip(name);
        if let Some(i) = self.find(kind, &name) {
            return (i, false);
        }
        if self.sessions.len() >= MAX_SESSIONS {
            self.sessions.remove(0);
        }
        self.sessions.push(Session {
            kind,
            name,
            state: SessionState::default(),
        });
        (self.sessions.len() - 1, true)
    }

    fn state_mut(&mut self, i: usize) -> Option<&mut SessionState> {
        self.sessions.get_mut(i).map(|s| &mut s.state)
    }

    fn snapshot(&self, i: usize) -> SessionState {
        let mut st = self
            .sessions
            .get(i)
            .map(|s| s.state.clone())
            .unwrap_or_default();
        if st.origin_ip.is_none() {
            st.origin_ip = self.erspan_origin;
        }
        if st.destination_ip.is_none() {
            if let Some(d) = st.destination.as_deref() {
                st.destination_ip = self.tunnel_destination(d);
            }
        }
        st
    }

    fn tunnel_destination(&self, ifc: &str) -> Option<IpAddr> {
        self.tunnels
            .iter()
            .find(|(n, _)| same_interface(n, ifc))
            .map(|(_, ip)| *ip)
    }

    /// `tunnel destination A.B.C.D` in interface mode: the address of
    /// the sessions sending to that interface; an event for the first.
    fn set_tunnel(&mut self, ifc: &str, ip: Option<IpAddr>) -> Option<CmdOutcome> {
        self.tunnels.retain(|(n, _)| !same_interface(n, ifc));
        if let Some(ip) = ip {
            if self.tunnels.len() >= MAX_SESSIONS {
                self.tunnels.remove(0);
            }
            self.tunnels.push((clip(ifc), ip));
        }
        let i = self.sessions.iter().position(|s| {
            s.kind == Kind::Monitor
                && s.state
                    .destination
                    .as_deref()
                    .is_some_and(|d| same_interface(d, ifc))
        })?;
        Some(CmdOutcome {
            action: Action::Modify,
            kind: Some(Kind::Monitor),
            name: self.sessions.get(i).map(|s| s.name.clone()),
            state: self.snapshot(i),
            arista: false,
        })
    }

    fn remove(&mut self, kind: Kind, name: &str) -> SessionState {
        match self.find(kind, &clip(name)) {
            Some(i) => {
                let st = self.snapshot(i);
                self.sessions.remove(i);
                st
            }
            None => SessionState::default(),
        }
    }

    /// A known monitor session's state, for status messages.
    pub(crate) fn monitor_state(&self, name: &str) -> Option<SessionState> {
        self.find(Kind::Monitor, name).map(|i| self.snapshot(i))
    }

    /// A known capture point's state, for `%BUFCAP` messages.
    pub(crate) fn capture_state(&self, name: &str) -> Option<SessionState> {
        self.find(Kind::Capture, name).map(|i| self.snapshot(i))
    }

    fn mode(&self, user: &str, now: Option<i64>) -> Mode {
        match self.users.iter().find(|u| u.user == user) {
            Some(u) => {
                let idle = match (now, u.last_us) {
                    (Some(n), Some(l)) => n.saturating_sub(l) > MODE_IDLE_US,
                    _ => false,
                };
                if idle { Mode::Global } else { u.mode.clone() }
            }
            None => Mode::Global,
        }
    }

    fn set_mode(&mut self, user: &str, mode: Mode, now: Option<i64>) {
        if let Some(u) = self.users.iter_mut().find(|u| u.user == user) {
            u.mode = mode;
            u.last_us = now.or(u.last_us);
            return;
        }
        if mode == Mode::Global {
            return;
        }
        if self.users.len() >= MAX_USERS {
            self.users.remove(0);
        }
        self.users.push(UserMode {
            user: clip(user),
            mode,
            last_us: now,
        });
    }

    /// Ends any configuration mode of `user` (`%SYS-5-CONFIG_I`, `end`).
    pub(crate) fn end_config(&mut self, user: Option<&str>) {
        match user {
            Some(u) => self.set_mode(u, Mode::Global, None),
            None => self.users.clear(),
        }
    }

    /// Resets `user` to global configuration mode (each NX-OS accounting
    /// record carries its full mode path).
    pub(crate) fn reset_mode(&mut self, user: &str) {
        self.set_mode(user, Mode::Global, None);
    }

    /// Applies one CLI configuration command typed by `user`.
    pub(crate) fn apply_command(
        &mut self,
        user: &str,
        cmd: &str,
        now: Option<i64>,
    ) -> Option<CmdOutcome> {
        let mut cmd = cmd.trim();
        let mut exec = false;
        if let Some(rest) = cmd.strip_prefix("!exec:") {
            cmd = rest.trim();
            exec = true;
        }
        let toks: Vec<&str> = cmd.split_whitespace().take(MAX_TOKENS).collect();
        let mut t: &[&str] = &toks;
        if t.first().is_some_and(|f| f.eq_ignore_ascii_case("do")) {
            // `do show ...` from configuration mode: an exec command that
            // leaves the mode alone.
            t = t.get(1..).unwrap_or(&[]);
            exec = true;
        }
        let neg = t
            .first()
            .is_some_and(|f| f.eq_ignore_ascii_case("no") || f.eq_ignore_ascii_case("default"));
        if neg {
            t = t.get(1..).unwrap_or(&[]);
        }
        if t.first()
            .is_some_and(|f| f.eq_ignore_ascii_case("monitor-session"))
            && !exec
        {
            if let Mode::Interface(ifc) = self.mode(user, now) {
                return self.xr_attach(&ifc, neg, t);
            }
            // IOS-XR: `monitor-session NAME [ethernet|ipv4|ipv6]` enters
            // monitor-session configuration mode.
            let name = *t.get(1)?;
            let mut rest = t.get(2..).unwrap_or(&[]);
            if rest.first().is_some_and(|c| is_xr_class(c)) {
                rest = rest.get(1..).unwrap_or(&[]);
            }
            let mut v: Vec<&str> = vec!["monitor", "session", name];
            v.extend_from_slice(rest);
            self.set_mode(user, Mode::Global, now);
            return self.monitor_command(user, neg, &v, now, false);
        }
        if kw_at(t, 0, "monitor", 3) {
            if !exec {
                self.set_mode(user, Mode::Global, now);
            }
            return self.monitor_command(user, neg, t, now, exec);
        }
        if exec {
            return None;
        }
        let mode = self.mode(user, now);
        if matches!(mode, Mode::Global | Mode::Interface(_)) {
            if kw_at(t, 0, "interface", 3) && !neg {
                if let Some(ifc) = iface_arg(t.get(1..).unwrap_or(&[])) {
                    self.set_mode(user, Mode::Interface(ifc), now);
                }
            } else if matches!(mode, Mode::Interface(_))
                && (kw_at(t, 0, "exit", 3) || kw_at(t, 0, "end", 3) || kw_at(t, 0, "router", 3))
            {
                self.set_mode(user, Mode::Global, now);
            } else if let Mode::Interface(ifc) = &mode {
                if kw_at(t, 0, "tunnel", 3) && kw_at(t, 1, "destination", 4) {
                    let ip = if neg {
                        None
                    } else {
                        Some(t.get(2).and_then(|s| parse_ip(s))?)
                    };
                    return self.set_tunnel(ifc, ip);
                }
            }
            return None;
        }
        let (name, sub) = match mode {
            Mode::Global | Mode::Interface(_) => return None,
            Mode::Monitor(n) => (n, false),
            Mode::MonitorSub(n) => (n, true),
        };
        if kw_at(t, 0, "exit", 3) && !neg {
            let back = if sub {
                Mode::Monitor(name)
            } else {
                Mode::Global
            };
            self.set_mode(user, back, now);
            return None;
        }
        if kw_at(t, 0, "end", 3) && !neg {
            self.set_mode(user, Mode::Global, now);
            return None;
        }
        let (i, created) = self.ensure(Kind::Monitor, &name);
        let mut arista = false;
        let effect = self
            .state_mut(i)
            .and_then(|st| apply_sub(st, t, neg, &mut arista));
        match effect {
            None => {
                // Anything else (`interface Gi1`, `router ospf 1`, ...) leaves
                // the monitor configuration.
                if created {
                    self.sessions
                        .retain(|s| !(s.kind == Kind::Monitor && s.name == name));
                }
                let next = match t.get(1..) {
                    Some(args) if kw_at(t, 0, "interface", 3) && !neg => {
                        iface_arg(args).map_or(Mode::Global, Mode::Interface)
                    }
                    _ => Mode::Global,
                };
                self.set_mode(user, next, now);
                None
            }
            Some(effect) => {
                let mode = match effect {
                    SubEffect::EnterSub => Mode::MonitorSub(name.clone()),
                    SubEffect::Applied if sub => Mode::MonitorSub(name.clone()),
                    SubEffect::Applied => Mode::Monitor(name.clone()),
                };
                self.set_mode(user, mode, now);
                Some(CmdOutcome {
                    kind: Some(Kind::Monitor),
                    action: if created {
                        Action::Create
                    } else {
                        Action::Modify
                    },
                    name: Some(name),
                    state: self.snapshot(i),
                    arista,
                })
            }
        }
    }

    /// IOS-XR interface mode: `[no] monitor-session NAME [ethernet]
    /// [direction rx-only|tx-only] [port-level]` attaches the interface
    /// as a source of the session.
    fn xr_attach(&mut self, ifc: &str, neg: bool, t: &[&str]) -> Option<CmdOutcome> {
        let name = *t.get(1)?;
        let (i, created) = self.ensure(Kind::Monitor, name);
        if let Some(st) = self.state_mut(i) {
            if neg {
                st.remove_source(ifc);
            } else {
                st.add_source(clip(ifc));
            }
        }
        Some(CmdOutcome {
            action: if created {
                Action::Create
            } else {
                Action::Modify
            },
            kind: Some(Kind::Monitor),
            name: Some(clip(name)),
            state: self.snapshot(i),
            arista: false,
        })
    }

    fn junos_level(&mut self, user: &str) -> &mut Vec<String> {
        if let Some(i) = self.junos_edit.iter().position(|(u, _)| u == user) {
            return &mut self.junos_edit[i].1;
        }
        if self.junos_edit.len() >= MAX_USERS {
            self.junos_edit.remove(0);
        }
        self.junos_edit.push((clip(user), Vec::new()));
        let last = self.junos_edit.len() - 1;
        &mut self.junos_edit[last].1
    }

    /// Junos CLI line (`UI_CMDLINE_READ_LINE`), relative to the user's
    /// `[edit ...]` level: `edit`, `up`, `top`, `exit` move it; `set`,
    /// `delete`, `deactivate`, `activate` change the configuration.
    pub(crate) fn junos_cli(&mut self, user: &str, line: &str) -> Option<CmdOutcome> {
        let toks: Vec<&str> = line
            .split_whitespace()
            .take(MAX_TOKENS)
            .map(|t| t.trim_matches('"'))
            .filter(|t| !t.is_empty())
            .collect();
        let mut t: &[&str] = &toks;
        let mut top = false;
        if t.first() == Some(&"top") && t.len() > 1 {
            top = true;
            t = t.get(1..).unwrap_or(&[]);
        }
        let verb = *t.first()?;
        let args = t.get(1..).unwrap_or(&[]);
        match verb {
            "edit" => {
                let level = self.junos_level(user);
                if top {
                    level.clear();
                }
                for a in args {
                    if level.len() < MAX_TOKENS {
                        level.push(clip(a));
                    }
                }
                return None;
            }
            "top" | "configure" | "exit" | "quit" | "up" => {
                let level = self.junos_level(user);
                match verb {
                    "up" => {
                        let n = args.first().and_then(|n| n.parse().ok()).unwrap_or(1);
                        let keep = level.len().saturating_sub(n);
                        level.truncate(keep);
                    }
                    "exit" | "quit" if args.is_empty() => {
                        level.pop();
                    }
                    _ => level.clear(),
                }
                return None;
            }
            "set" | "delete" | "deactivate" | "activate" => {}
            _ => return None,
        }
        let mut path: Vec<String> = if top {
            Vec::new()
        } else {
            self.junos_edit
                .iter()
                .find(|(u, _)| u == user)
                .map(|(_, p)| p.clone())
                .unwrap_or_default()
        };
        path.extend(args.iter().map(|a| clip(a)));
        let path = path.join(" ");
        let o = self.junos_audit(Some(user), verb, &path, None)?;
        self.junos_last_cli = Some(format!("{user}|{verb}|{path}"));
        Some(o)
    }

    /// Is this `UI_CFG_AUDIT_*` record the one of the last Junos CLI
    /// change? (It is then folded into the CLI line's event.)
    pub(crate) fn junos_audit_repeats_cli(
        &mut self,
        user: Option<&str>,
        verb: &str,
        path: &str,
        value: Option<&str>,
    ) -> bool {
        let Some(last) = self.junos_last_cli.as_deref() else {
            return false;
        };
        let u = user.unwrap_or("");
        let norm = |p: &str| p.split_whitespace().collect::<Vec<_>>().join(" ");
        let path = norm(path);
        let same = |p: &str| last == format!("{u}|{verb}|{p}");
        let hit = same(&path)
            || value
                .is_some_and(|v| same(&format!("{path} {v}")) || same(&format!("{path} \"{v}\"")));
        if hit {
            self.junos_last_cli = None;
        }
        hit
    }

    fn monitor_command(
        &mut self,
        user: &str,
        neg: bool,
        t: &[&str],
        now: Option<i64>,
        exec: bool,
    ) -> Option<CmdOutcome> {
        if kw_at(t, 1, "session", 3) {
            let name = *t.get(2)?;
            let rest = t.get(3..).unwrap_or(&[]);
            let mut arista = false;
            if neg {
                if rest.is_empty() || kw_at(rest, 0, "type", 2) {
                    let state = self.remove(Kind::Monitor, name);
                    return Some(CmdOutcome {
                        kind: Some(Kind::Monitor),
                        action: Action::Delete,
                        name: Some(clip(name)),
                        state,
                        arista,
                    });
                }
                let (i, _) = self.ensure(Kind::Monitor, name);
                if let Some(st) = self.state_mut(i) {
                    apply_sub(st, rest, true, &mut arista);
                }
                return Some(CmdOutcome {
                    kind: Some(Kind::Monitor),
                    action: Action::Modify,
                    name: Some(clip(name)),
                    state: self.snapshot(i),
                    arista,
                });
            }
            let (i, created) = self.ensure(Kind::Monitor, name);
            if rest.is_empty() || kw_at(rest, 0, "type", 2) {
                if !exec {
                    self.set_mode(user, Mode::Monitor(clip(name)), now);
                }
            } else if let Some(st) = self.state_mut(i) {
                apply_sub(st, rest, false, &mut arista);
            }
            return Some(CmdOutcome {
                kind: Some(Kind::Monitor),
                action: if created {
                    Action::Create
                } else {
                    Action::Modify
                },
                name: Some(clip(name)),
                state: self.snapshot(i),
                arista,
            });
        }
        if kw_at(t, 1, "capture", 3) {
            let name = *t.get(2)?;
            if neg {
                let state = self.remove(Kind::Capture, name);
                return Some(CmdOutcome {
                    kind: Some(Kind::Capture),
                    action: Action::Delete,
                    name: Some(clip(name)),
                    state,
                    arista: false,
                });
            }
            let (i, created) = self.ensure(Kind::Capture, name);
            let rest = t.get(3..).unwrap_or(&[]);
            let mut action = if created {
                Action::Create
            } else {
                Action::Modify
            };
            if let Some(st) = self.state_mut(i) {
                let mut k = 0;
                while k < rest.len() {
                    let tok = rest.get(k).copied().unwrap_or("");
                    if kw(tok, "interface", 3) {
                        if let Some(ifc) = rest.get(k + 1) {
                            st.add_source(clip(ifc));
                            k += 1;
                        }
                    } else if tok.eq_ignore_ascii_case("control-plane") {
                        st.add_source("control-plane".to_owned());
                    } else if kw(tok, "export", 3) {
                        // `export tftp://...` or `export location flash:x.pcap`
                        let mut j = k + 1;
                        if rest.get(j).is_some_and(|s| kw(s, "location", 3)) {
                            j += 1;
                        }
                        if let Some(dst) = rest.get(j) {
                            st.destination = Some(clip(dst));
                            k = j;
                        }
                    } else if tok.eq_ignore_ascii_case("start") {
                        action = Action::Start;
                    } else if tok.eq_ignore_ascii_case("stop")
                        || tok.eq_ignore_ascii_case("stop_export")
                    {
                        action = Action::Stop;
                    }
                    k += 1;
                }
            }
            return Some(CmdOutcome {
                kind: Some(Kind::Capture),
                action,
                name: Some(clip(name)),
                state: self.snapshot(i),
                arista: false,
            });
        }
        if kw_at(t, 1, "erspan", 6) && t.iter().any(|x| kw(x, "origin", 3)) {
            // NX-OS: monitor erspan origin ip-address A.B.C.D [global]
            let ip = t
                .iter()
                .position(|x| kw(x, "ip-address", 4) || kw(x, "address", 3))
                .and_then(|p| t.get(p + 1))
                .and_then(|s| parse_ip(s));
            self.erspan_origin = if neg { None } else { ip };
            return Some(CmdOutcome {
                kind: None,
                action: Action::Modify,
                name: None,
                state: SessionState {
                    origin_ip: ip,
                    ..SessionState::default()
                },
                arista: false,
            });
        }
        None
    }

    /// Junos `UI_CFG_AUDIT_*`: `verb` is the audit verb (`set`, `delete`,
    /// `deactivate`, ...), `path` the bracketed configuration path,
    /// `value` the new value. `None` when the path is not mirroring.
    pub(crate) fn junos_audit(
        &mut self,
        user: Option<&str>,
        verb: &str,
        path: &str,
        value: Option<&str>,
    ) -> Option<CmdOutcome> {
        let mut toks: Vec<&str> = path.split_whitespace().take(MAX_TOKENS).collect();
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            toks.push(v);
        }
        let mut reference = false;
        let (name, body_at) = if let Some(p) = toks.windows(2).position(|w| {
            (w[0] == "forwarding-options" && (w[1] == "port-mirroring" || w[1] == "analyzer"))
                || (w[0] == "ethernet-switching-options" && w[1] == "analyzer")
        }) {
            let area = toks.get(p + 1).copied().unwrap_or("");
            if area == "analyzer" {
                match toks.get(p + 2) {
                    Some(n) => (format!("analyzer {n}"), p + 3),
                    None => ("analyzer".to_owned(), p + 2),
                }
            } else if toks.get(p + 2) == Some(&"instance") {
                match toks.get(p + 3) {
                    Some(n) => (format!("port-mirroring instance {n}"), p + 4),
                    None => ("port-mirroring".to_owned(), p + 3),
                }
            } else {
                ("port-mirroring".to_owned(), p + 2)
            }
        } else if let Some(p) = toks
            .iter()
            .position(|t| *t == "port-mirror" || *t == "port-mirror-instance")
        {
            // firewall filter action: ... then port-mirror[-instance NAME]
            let name = match toks.get(p + 1) {
                Some(n) if toks.get(p) == Some(&"port-mirror-instance") => {
                    format!("port-mirroring instance {n}")
                }
                _ => "port-mirroring".to_owned(),
            };
            reference = true;
            (name, toks.len())
        } else {
            return None;
        };
        let deleting = ["delete", "deactivate"]
            .iter()
            .any(|v| verb.eq_ignore_ascii_case(v));
        let (i, created) = self.ensure(Kind::Junos, &name);
        if let Some(filter) = toks
            .iter()
            .position(|t| *t == "filter")
            .and_then(|p| toks.get(p + 1))
            .filter(|_| toks.contains(&"firewall"))
        {
            if let Some(st) = self.state_mut(i) {
                st.add_source(clip(&format!("filter {filter}")));
            }
        }
        let body = toks.get(body_at..).unwrap_or(&[]);
        if let Some(st) = self.state_mut(i) {
            let mut section = "";
            let mut k = 0;
            while k < body.len() {
                let tok = body.get(k).copied().unwrap_or("");
                let arg = body.get(k + 1).copied();
                match tok {
                    "input" | "output" => section = tok,
                    "ip-address" => {
                        if let Some(ip) = arg.and_then(parse_ip) {
                            if deleting {
                                st.clear_destination()
                            } else {
                                st.set_destination_ip(ip)
                            }
                            k += 1;
                        }
                    }
                    "next-hop" => {
                        // The collector's address, not the output interface.
                        if let Some(ip) = arg.and_then(parse_ip) {
                            if deleting {
                                st.clear_destination();
                            } else {
                                st.set_destination_ip(ip);
                            }
                            k += 1;
                        }
                    }
                    "interface" | "vlan" | "routing-instance" => {
                        if let Some(a) = arg {
                            let v = if tok == "interface" {
                                clip(a)
                            } else {
                                clip(&format!("{tok} {a}"))
                            };
                            if section == "output" {
                                if deleting {
                                    if st.destination_ip.is_none() {
                                        st.destination = None;
                                    }
                                } else if st.destination_ip.is_none() {
                                    // An address (next-hop, ip-address) wins.
                                    st.destination = Some(v);
                                }
                            } else if section == "input" {
                                if deleting {
                                    st.remove_source(&v)
                                } else {
                                    st.add_source(v)
                                }
                            }
                            k += 1;
                        }
                    }
                    _ => {}
                }
                k += 1;
            }
        }
        // Deleting a part of an instance (or a filter's reference to it)
        // modifies it; deleting the instance itself deletes it.
        let whole = body.is_empty() && !reference;
        let action = if deleting && whole {
            Action::Delete
        } else if created && !deleting {
            Action::Create
        } else {
            Action::Modify
        };
        let state = self.snapshot(i);
        if deleting && whole {
            self.remove(Kind::Junos, &name);
        }
        self.junos_pending = Some(JunosPending {
            actor: user.map(clip),
            name: name.clone(),
        });
        Some(CmdOutcome {
            kind: Some(Kind::Junos),
            action,
            name: Some(name),
            state,
            arista: false,
        })
    }

    /// Junos `UI_COMMIT` / `UI_COMMIT_COMPLETED`: an event when mirroring
    /// changes were pending (`modify`, or `delete` when the instance was
    /// deleted); returns the actor of those changes too.
    pub(crate) fn junos_commit(&mut self) -> Option<(CmdOutcome, Option<String>)> {
        let p = self.junos_pending.take()?;
        let found = self.find(Kind::Junos, &p.name);
        let state = found.map(|i| self.snapshot(i)).unwrap_or_default();
        Some((
            CmdOutcome {
                kind: Some(Kind::Junos),
                action: if found.is_some() {
                    Action::Modify
                } else {
                    Action::Delete
                },
                name: Some(p.name),
                state,
                arista: false,
            },
            p.actor,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn keyword_abbreviations() {
        assert!(kw("mon", "monitor", 3));
        assert!(kw("MONITOR", "monitor", 3));
        assert!(!kw("mo", "monitor", 3));
        assert!(!kw("monitors", "monitor", 3));
        assert!(kw("ip", "ip", 2));
    }

    #[test]
    fn ios_xe_erspan_over_several_commands() {
        let mut d = DeviceCtx::default();
        let o = d
            .apply_command("alice", "monitor session 1 type erspan-source", None)
            .unwrap();
        assert_eq!((o.action, o.name.as_deref()), (Action::Create, Some("1")));
        let o = d
            .apply_command("alice", "source interface Gi0/0/1 rx", None)
            .unwrap();
        assert_eq!(o.action, Action::Modify);
        assert_eq!(o.state.sources, vec!["Gi0/0/1".to_owned()]);
        d.apply_command("alice", "destination", None).unwrap();
        let o = d.apply_command("alice", "erspan-id 100", None).unwrap();
        assert_eq!(o.state.erspan_id, Some(100));
        let o = d
            .apply_command("alice", "ip address 203.0.113.9", None)
            .unwrap();
        assert_eq!(o.state.destination_ip, ip("203.0.113.9"));
        let o = d
            .apply_command("alice", "origin ip address 10.1.1.1", None)
            .unwrap();
        assert_eq!(o.state.origin_ip, ip("10.1.1.1"));
        assert_eq!(o.state.destination_ip, ip("203.0.113.9"));
        assert_eq!(o.state.destination.as_deref(), Some("203.0.113.9"));
        // Another user's commands do not land in alice's session.
        assert_eq!(
            d.apply_command("bob", "ip address 198.51.100.1", None),
            None
        );
        // Leaving the mode: the interface address is not the destination.
        assert_eq!(
            d.apply_command("alice", "interface GigabitEthernet0/0/2", None),
            None
        );
        assert_eq!(d.apply_command("alice", "ip address 192.0.2.1", None), None);
        let o = d
            .apply_command("alice", "no monitor session 1", None)
            .unwrap();
        assert_eq!(o.action, Action::Delete);
        assert_eq!(o.state.erspan_id, Some(100));
        assert!(d.monitor_state("1").is_none());
    }

    #[test]
    fn one_line_span_and_show_commands() {
        let mut d = DeviceCtx::default();
        let o = d
            .apply_command(
                "u",
                "monitor session 2 source interface Gi1/0/1 - 3 both",
                None,
            )
            .unwrap();
        assert_eq!(o.action, Action::Create);
        assert_eq!(o.state.sources, vec!["Gi1/0/1 - 3".to_owned()]);
        let o = d
            .apply_command(
                "u",
                "monitor session 3 source interface Gi0/0/1 , Gi0/0/2,Gi0/0/4 rx",
                None,
            )
            .unwrap();
        assert_eq!(o.state.sources, vec!["Gi0/0/1", "Gi0/0/2", "Gi0/0/4"]);
        let o = d
            .apply_command("u", "no monitor session 3 source interface Gi0/0/2", None)
            .unwrap();
        assert_eq!(o.state.sources, vec!["Gi0/0/1", "Gi0/0/4"]);
        let o = d
            .apply_command("u", "monitor session 3 source vlan 10 , 20", None)
            .unwrap();
        assert_eq!(o.state.sources, vec!["Gi0/0/1", "Gi0/0/4", "vlan 10 , 20"]);
        let o = d
            .apply_command("u", "monitor session 2 destination remote vlan 900", None)
            .unwrap();
        assert_eq!(o.action, Action::Modify);
        assert_eq!(o.state.destination.as_deref(), Some("remote vlan 900"));
        assert_eq!(
            d.apply_command("u", "do show monitor session 2", None),
            None
        );
        let o = d
            .apply_command(
                "u",
                "monitor session 2 destination interface Gi1/0/24 encapsulation replicate ingress dot1q vlan 5",
                None,
            )
            .unwrap();
        assert_eq!(o.state.destination.as_deref(), Some("Gi1/0/24"));
        assert_eq!(d.apply_command("u", "show monitor session 2", None), None);
        let o = d
            .apply_command(
                "u",
                "no monitor session 2 source interface Gi1/0/1 - 3 both",
                None,
            )
            .unwrap();
        assert_eq!(o.action, Action::Modify);
        assert!(o.state.sources.is_empty());
    }

    #[test]
    fn nxos_erspan_and_arista_tunnel() {
        let mut d = DeviceCtx::default();
        let o = d
            .apply_command(
                "admin",
                "monitor erspan origin ip-address 10.0.0.1 global",
                None,
            )
            .unwrap();
        assert_eq!(o.state.origin_ip, ip("10.0.0.1"));
        d.apply_command("admin", "monitor session 3 type erspan-source", None)
            .unwrap();
        let o = d
            .apply_command("admin", "source interface ethernet 1/1 both", None)
            .unwrap();
        assert_eq!(o.state.sources, vec!["ethernet1/1".to_owned()]);
        let o = d
            .apply_command("admin", "destination ip 203.0.113.9", None)
            .unwrap();
        assert_eq!(o.state.destination_ip, ip("203.0.113.9"));
        assert_eq!(o.state.origin_ip, ip("10.0.0.1"));

        let mut a = DeviceCtx::default();
        let o = a
            .apply_command("admin", "monitor session exfil destination tunnel mode gre source 10.0.0.1 destination 203.0.113.50 ttl 128", None)
            .unwrap();
        assert!(o.arista);
        assert_eq!(o.action, Action::Create);
        assert_eq!(o.state.destination_ip, ip("203.0.113.50"));
        assert_eq!(o.state.origin_ip, ip("10.0.0.1"));
    }

    #[test]
    fn capture_points() {
        let mut d = DeviceCtx::default();
        let o = d
            .apply_command(
                "u",
                "!exec: monitor capture CAP1 interface GigabitEthernet0/0/1 both match any start",
                None,
            )
            .unwrap();
        assert_eq!(o.action, Action::Start);
        assert_eq!(o.state.sources, vec!["GigabitEthernet0/0/1".to_owned()]);
        let o = d
            .apply_command(
                "u",
                "!exec: monitor capture CAP1 export tftp://198.51.100.20/c.pcap",
                None,
            )
            .unwrap();
        assert_eq!(o.action, Action::Modify);
        assert_eq!(
            o.state.destination.as_deref(),
            Some("tftp://198.51.100.20/c.pcap")
        );
        let o = d
            .apply_command("u", "monitor capture CAP1 stop", None)
            .unwrap();
        assert_eq!(o.action, Action::Stop);
        let o = d
            .apply_command("u", "no monitor capture CAP1", None)
            .unwrap();
        assert_eq!(o.action, Action::Delete);
    }

    #[test]
    fn ios_xr_monitor_session_and_interface_attachment() {
        let mut d = DeviceCtx::default();
        let o = d
            .apply_command("erin", "monitor-session EXFIL ethernet", None)
            .unwrap();
        assert_eq!(o.action, Action::Create);
        assert_eq!(
            (o.kind, o.name.as_deref()),
            (Some(Kind::Monitor), Some("EXFIL"))
        );
        let o = d
            .apply_command("erin", "destination interface tunnel-ip1", None)
            .unwrap();
        assert_eq!(o.state.destination.as_deref(), Some("tunnel-ip1"));
        assert_eq!(d.apply_command("erin", "exit", None), None);
        assert_eq!(
            d.apply_command("erin", "interface GigabitEthernet0/0/0/2", None),
            None
        );
        let o = d
            .apply_command(
                "erin",
                "monitor-session EXFIL ethernet direction rx-only",
                None,
            )
            .unwrap();
        assert_eq!(o.action, Action::Modify);
        assert_eq!(o.state.sources, vec!["GigabitEthernet0/0/0/2".to_owned()]);
        assert_eq!(o.state.destination.as_deref(), Some("tunnel-ip1"));
        // Interface addresses are not destinations.
        assert_eq!(
            d.apply_command("erin", "ipv4 address 192.0.2.1 255.255.255.0", None),
            None
        );
        // The tunnel interface's destination is the session's address.
        assert_eq!(d.apply_command("erin", "exit", None), None);
        d.apply_command("erin", "interface tunnel-ip 1", None);
        let o = d
            .apply_command("erin", "tunnel destination 203.0.113.90", None)
            .unwrap();
        assert_eq!(o.name.as_deref(), Some("EXFIL"));
        assert_eq!(o.state.destination.as_deref(), Some("tunnel-ip1"));
        assert_eq!(o.state.destination_ip, ip("203.0.113.90"));
        assert_eq!(
            d.apply_command("erin", "tunnel source 192.0.2.1", None),
            None
        );
        d.apply_command("erin", "interface GigabitEthernet0/0/0/2", None);
        // In interface mode, `no` detaches the interface ...
        let o = d
            .apply_command("erin", "no monitor-session EXFIL ethernet", None)
            .unwrap();
        assert_eq!(o.action, Action::Modify);
        assert!(o.state.sources.is_empty());
        // ... in configuration mode it deletes the session.
        assert_eq!(d.apply_command("erin", "exit", None), None);
        let o = d
            .apply_command("erin", "no monitor-session EXFIL", None)
            .unwrap();
        assert_eq!(o.action, Action::Delete);
        assert_eq!(o.state.destination.as_deref(), Some("tunnel-ip1"));
    }

    #[test]
    fn junos_cli_edit_levels() {
        let mut d = DeviceCtx::default();
        assert_eq!(
            d.junos_cli("dave", "edit forwarding-options port-mirroring"),
            None
        );
        let o = d
            .junos_cli(
                "dave",
                "set instance m2 family inet output interface ge-0/0/1.0 next-hop 203.0.113.5",
            )
            .unwrap();
        assert_eq!(o.name.as_deref(), Some("port-mirroring instance m2"));
        assert_eq!(o.state.destination_ip, ip("203.0.113.5"));
        assert_eq!(o.state.destination.as_deref(), Some("203.0.113.5"));
        // The audit record of the same change is recognised as such.
        assert!(d.junos_audit_repeats_cli(
            Some("dave"),
            "set",
            "forwarding-options port-mirroring instance m2 family inet output interface ge-0/0/1.0 next-hop",
            Some("203.0.113.5")
        ));
        assert!(!d.junos_audit_repeats_cli(Some("dave"), "set", "x", None));
        assert_eq!(d.junos_cli("dave", "up 2"), None);
        assert_eq!(d.junos_cli("dave", "set system host-name x"), None);
        let o = d
            .junos_cli(
                "dave",
                "top delete forwarding-options port-mirroring instance m2",
            )
            .unwrap();
        assert_eq!(o.action, Action::Delete);
        // `exit` pops one level; an unrelated user has its own level.
        d.junos_cli("eve", "edit forwarding-options analyzer a9");
        assert!(
            d.junos_cli("frank", "set input ingress interface ge-0/0/2.0")
                .is_none()
        );
        let o = d
            .junos_cli("eve", "set input ingress interface ge-0/0/2.0")
            .unwrap();
        assert_eq!(o.name.as_deref(), Some("analyzer a9"));
        // Deleting a part of an instance modifies it.
        let o = d
            .junos_cli("eve", "delete input ingress interface ge-0/0/2.0")
            .unwrap();
        assert_eq!(o.action, Action::Modify);
        assert!(o.state.sources.is_empty());
        assert_eq!(junos_display_name("analyzer a9"), "a9");
        // EX switches: `ethernet-switching-options analyzer NAME`.
        let o = d
            .junos_cli(
                "eve",
                "top set ethernet-switching-options analyzer employee-monitor output interface ge-0/0/10.0",
            )
            .unwrap();
        assert_eq!(o.name.as_deref(), Some("analyzer employee-monitor"));
        assert_eq!(o.state.destination.as_deref(), Some("ge-0/0/10.0"));
        assert_eq!(junos_display_name("port-mirroring"), "port-mirroring");
    }

    #[test]
    fn idle_mode_expires() {
        let mut d = DeviceCtx::default();
        d.apply_command("u", "monitor session 1 type erspan-source", Some(0))
            .unwrap();
        assert!(
            d.apply_command("u", "erspan-id 5", Some(1_000_000))
                .is_some()
        );
        assert_eq!(
            d.apply_command("u", "erspan-id 6", Some(MODE_IDLE_US + 2_000_000)),
            None
        );
    }

    #[test]
    fn junos_audit_and_commit() {
        let mut d = DeviceCtx::default();
        let o = d
            .junos_audit(Some("bob"), "set", "forwarding-options port-mirroring instance m1 family inet output ip-address 203.0.113.7", None)
            .unwrap();
        assert_eq!(o.action, Action::Create);
        assert_eq!(o.name.as_deref(), Some("port-mirroring instance m1"));
        assert_eq!(o.state.destination_ip, ip("203.0.113.7"));
        let o = d
            .junos_audit(
                Some("bob"),
                "set",
                "forwarding-options analyzer a1 input ingress interface",
                Some("ge-0/0/1.0"),
            )
            .unwrap();
        assert_eq!(o.state.sources, vec!["ge-0/0/1.0".to_owned()]);
        assert!(
            d.junos_audit(Some("bob"), "set", "system host-name", Some("x"))
                .is_none()
        );
        let (o, actor) = d.junos_commit().unwrap();
        assert_eq!(o.action, Action::Modify);
        assert_eq!(actor.as_deref(), Some("bob"));
        assert!(d.junos_commit().is_none());
        let o = d
            .junos_audit(
                Some("bob"),
                "delete",
                "forwarding-options port-mirroring instance m1",
                None,
            )
            .unwrap();
        assert_eq!(o.action, Action::Delete);
        assert_eq!(o.state.destination_ip, ip("203.0.113.7"));
    }

    #[test]
    fn bounded_per_device_state() {
        let mut d = DeviceCtx::default();
        for n in 0..1000 {
            d.apply_command(
                &format!("user{n}"),
                &format!("monitor session {n} type erspan-source"),
                None,
            );
            d.apply_command(
                &format!("user{n}"),
                &format!("source interface Gi{n}"),
                None,
            );
        }
        assert!(d.sessions.len() <= MAX_SESSIONS);
        assert!(d.users.len() <= MAX_USERS);
        let long = "x".repeat(10_000);
        let o = d
            .apply_command("u", &format!("monitor session {long}"), None)
            .unwrap();
        assert!(o.name.unwrap().len() <= MAX_FIELD);
    }
}
