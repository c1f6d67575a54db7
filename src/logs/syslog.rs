//! Syslog line parsing: RFC 3164 (with or without `<PRI>`, as received or
//! as written to files), RFC 5424, Cisco IOS/IOS-XE's own header
//! (`<PRI>seq: host: *Mmm dd hh:mm:ss.mmm TZ: %FAC-SEV-MNEMONIC: text`),
//! NX-OS headers (`<PRI>: 2024 Mar  1 10:00:00 UTC: %...` and the local
//! `2024 Mar  1 10:00:00 host %...` log file form), rsyslog's RFC 3339 file
//! format, and bare lines carrying a `%FAC-SEV-MNEMONIC:` tag.
//!
//! Parsing borrows from the line and allocates nothing.

use super::timefmt::{
    Civil, frac_to_micros, month_from_abbr, parse_rfc3339_prefix, tz_abbr_offset,
};

/// Which header form a line had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogFormat {
    /// `[<PRI>]Mmm dd hh:mm:ss host tag: msg` (or an RFC 3339 time stamp).
    Rfc3164,
    /// `<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG`.
    Rfc5424,
    /// Cisco IOS/IOS-XE header (sequence number and/or device time stamp),
    /// possibly behind an RFC 3164 header added by a relay.
    Cisco,
    /// NX-OS header with the year first.
    Nxos,
    /// No recognisable header, but a `%FAC-SEV-MNEMONIC:` tag.
    Bare,
}

/// One parsed syslog line. Fields borrow from the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogRecord<'a> {
    pub format: SyslogFormat,
    /// `<PRI>` value (facility * 8 + severity), when present.
    pub pri: Option<u8>,
    /// Microseconds since the Unix epoch (UTC). Headers without a year use
    /// the year given to [`parse_syslog_line`]; headers without a zone are
    /// taken as UTC; an unknown zone abbreviation gives `None`.
    pub time_us: Option<i64>,
    /// Host name (the device's own name when Cisco's header carries one,
    /// otherwise the relay's host field).
    pub host: Option<&'a str>,
    /// RFC 3164 tag / RFC 5424 APP-NAME (e.g. `mgd`, `Aaa`, `ConfigAgent`).
    pub app: Option<&'a str>,
    pub procid: Option<&'a str>,
    /// RFC 5424 MSGID (Junos puts its event tag there).
    pub msgid: Option<&'a str>,
    /// RFC 5424 structured data, brackets included.
    pub structured_data: Option<&'a str>,
    /// The message; for Cisco-style lines it starts at the `%` tag.
    pub msg: &'a str,
}

impl SyslogRecord<'_> {
    /// Syslog facility (0..=23) from `<PRI>`.
    pub fn facility(&self) -> Option<u8> {
        self.pri.map(|p| p >> 3)
    }

    /// Syslog severity (0..=7) from `<PRI>`.
    pub fn severity(&self) -> Option<u8> {
        self.pri.map(|p| p & 7)
    }
}

/// Parses one syslog line. `year` is used for headers without a year
/// (RFC 3164 and Cisco's default time stamps). Returns `None` for lines
/// that are not syslog at all. Never panics.
pub fn parse_syslog_line(line: &str, year: i32) -> Option<SyslogRecord<'_>> {
    let line = line.trim_end_matches(['\r', '\n']);
    let line = line.strip_prefix('\u{feff}').unwrap_or(line);
    let mut c = Cur { s: line, i: 0 };
    let pri = parse_pri(&mut c)?;
    if pri.is_some() {
        let save = c.i;
        if let Some(rec) = parse_5424(&mut c, pri) {
            return Some(rec);
        }
        c.i = save;
    }
    parse_legacy(c, pri, i64::from(year))
}

/// A byte cursor over a `&str`. Slices are only taken at ASCII delimiter
/// positions, and through `str::get`, so they never split a character.
struct Cur<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Cur<'a> {
    fn b(&self) -> &'a [u8] {
        self.s.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.b().get(self.i).copied()
    }

    fn peek_at(&self, k: usize) -> Option<u8> {
        self.b().get(self.i + k).copied()
    }

    fn eat(&mut self, ch: u8) -> bool {
        if self.peek() == Some(ch) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn spaces(&mut self) -> usize {
        let start = self.i;
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
        self.i - start
    }

    /// Between `min` and `max` digits (greedy); fails if more digits follow.
    fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        let start = self.i;
        let mut v: u32 = 0;
        while self.i - start < max {
            match self.peek() {
                Some(d @ b'0'..=b'9') => {
                    v = v.saturating_mul(10).saturating_add(u32::from(d - b'0'));
                    self.i += 1;
                }
                _ => break,
            }
        }
        let n = self.i - start;
        if n < min || self.peek().is_some_and(|d| d.is_ascii_digit()) {
            self.i = start;
            return None;
        }
        Some(v)
    }

    /// Up to the next space (or the end).
    fn word(&mut self) -> &'a str {
        let start = self.i;
        while self.peek().is_some_and(|b| b != b' ') {
            self.i += 1;
        }
        self.slice(start, self.i)
    }

    fn slice(&self, a: usize, b: usize) -> &'a str {
        self.s.get(a..b).unwrap_or("")
    }

    fn rest(&self) -> &'a str {
        self.s.get(self.i..).unwrap_or("")
    }
}

/// `Some(None)`: no PRI; `Some(Some(p))`: valid PRI; `None`: broken PRI.
fn parse_pri(c: &mut Cur<'_>) -> Option<Option<u8>> {
    if c.peek() != Some(b'<') {
        return Some(None);
    }
    c.i += 1;
    let v = c.digits(1, 3)?;
    if !c.eat(b'>') || v > 191 {
        return None;
    }
    Some(u8::try_from(v).ok())
}

/// `-` (NILVALUE) to `None`.
fn nil(s: &str) -> Option<&str> {
    if s == "-" || s.is_empty() {
        None
    } else {
        Some(s)
    }
}

fn parse_5424<'a>(c: &mut Cur<'a>, pri: Option<u8>) -> Option<SyslogRecord<'a>> {
    if !c.peek().is_some_and(|d| (b'1'..=b'9').contains(&d)) {
        return None;
    }
    c.digits(1, 3)?;
    if !c.eat(b' ') {
        return None;
    }
    let time_us = if c.peek() == Some(b'-') && c.peek_at(1) == Some(b' ') {
        c.i += 1;
        None
    } else {
        let (t, used) = parse_rfc3339_prefix(c.rest().as_bytes())?;
        c.i += used;
        Some(t)
    };
    // HOSTNAME APP-NAME PROCID MSGID, each after one space.
    let mut field = || c.eat(b' ').then(|| nil(c.word()));
    let (host, app, procid, msgid) = (field()?, field()?, field()?, field()?);
    if !c.eat(b' ') {
        return None;
    }
    let structured_data = match c.peek() {
        Some(b'-') => {
            c.i += 1;
            None
        }
        Some(b'[') => {
            let start = c.i;
            while c.peek() == Some(b'[') {
                skip_sd_element(c)?;
            }
            Some(c.slice(start, c.i))
        }
        _ => return None,
    };
    let msg = match c.peek() {
        None => "",
        Some(b' ') => {
            c.i += 1;
            let m = c.rest();
            m.strip_prefix('\u{feff}').unwrap_or(m)
        }
        _ => return None,
    };
    Some(SyslogRecord {
        format: SyslogFormat::Rfc5424,
        pri,
        time_us,
        host,
        app,
        procid,
        msgid,
        structured_data,
        msg,
    })
}

/// One `[id param="value" ...]` element; `\"`, `\]` and `\\` are escapes
/// inside values.
fn skip_sd_element(c: &mut Cur<'_>) -> Option<()> {
    if !c.eat(b'[') {
        return None;
    }
    let mut quoted = false;
    loop {
        let b = c.peek()?;
        c.i += 1;
        match b {
            b'\\' if quoted => c.i += 1,
            b'"' => quoted = !quoted,
            b']' if !quoted => return Some(()),
            _ => {}
        }
    }
}

/// Time stamp without zone: optional year (when the header has none).
#[derive(Debug, Clone, Copy)]
struct Stamp {
    year: Option<i64>,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    micros: u32,
}

impl Stamp {
    fn to_us(self, default_year: i64, offset_s: Option<i64>) -> Option<i64> {
        let civil = Civil {
            year: self.year.unwrap_or(default_year),
            month: self.month,
            day: self.day,
            hour: self.hour,
            minute: self.minute,
            second: self.second,
            micros: self.micros,
        };
        Some(civil.to_unix_us()? - offset_s? * 1_000_000)
    }
}

fn month(c: &mut Cur<'_>) -> Option<u32> {
    let m = month_from_abbr(c.b().get(c.i..c.i + 3)?)?;
    c.i += 3;
    Some(m)
}

/// `hh:mm:ss[.fff]`.
fn clock(c: &mut Cur<'_>) -> Option<(u32, u32, u32, u32)> {
    let h = c.digits(1, 2)?;
    if !c.eat(b':') {
        return None;
    }
    let m = c.digits(2, 2)?;
    if !c.eat(b':') {
        return None;
    }
    let s = c.digits(2, 2)?;
    let mut us = 0;
    if c.peek() == Some(b'.') && c.peek_at(1).is_some_and(|d| d.is_ascii_digit()) {
        c.i += 1;
        let start = c.i;
        while c.peek().is_some_and(|d| d.is_ascii_digit()) {
            c.i += 1;
        }
        us = frac_to_micros(c.b().get(start..c.i).unwrap_or(b""));
    }
    Some((h, m, s, us))
}

/// `Mmm dd [yyyy] hh:mm:ss[.fff]`; restores the cursor on failure.
fn bsd_stamp(c: &mut Cur<'_>) -> Option<Stamp> {
    let save = c.i;
    let r = bsd_stamp_inner(c);
    if r.is_none() {
        c.i = save;
    }
    r
}

fn bsd_stamp_inner(c: &mut Cur<'_>) -> Option<Stamp> {
    let month = month(c)?;
    if c.spaces() == 0 {
        return None;
    }
    let day = c.digits(1, 2)?;
    if c.spaces() == 0 {
        return None;
    }
    let save = c.i;
    let mut year = None;
    if let Some(y) = c.digits(4, 4) {
        if c.spaces() > 0 {
            year = Some(i64::from(y));
        } else {
            c.i = save;
        }
    }
    let (hour, minute, second, micros) = clock(c)?;
    if year.is_none() {
        // `Mmm dd hh:mm:ss yyyy` (a year after the clock).
        let save = c.i;
        if c.spaces() > 0 {
            match c.digits(4, 4) {
                Some(y) if c.peek() == Some(b' ') => year = Some(i64::from(y)),
                _ => c.i = save,
            }
        } else {
            c.i = save;
        }
    }
    Some(Stamp {
        year,
        month,
        day,
        hour,
        minute,
        second,
        micros,
    })
}

/// `yyyy Mmm dd hh:mm:ss[.fff]` (NX-OS); restores the cursor on failure.
fn year_first_stamp(c: &mut Cur<'_>) -> Option<Stamp> {
    let save = c.i;
    let r = year_first_inner(c);
    if r.is_none() {
        c.i = save;
    }
    r
}

fn year_first_inner(c: &mut Cur<'_>) -> Option<Stamp> {
    let year = c.digits(4, 4)?;
    if c.spaces() == 0 {
        return None;
    }
    let month = month(c)?;
    if c.spaces() == 0 {
        return None;
    }
    let day = c.digits(1, 2)?;
    if c.spaces() == 0 {
        return None;
    }
    let (hour, minute, second, micros) = clock(c)?;
    Some(Stamp {
        year: Some(i64::from(year)),
        month,
        day,
        hour,
        minute,
        second,
        micros,
    })
}

/// After a device time stamp: `: ` or ` TZ: ` (or the end of the line).
/// Returns the zone's offset (`Some(None)` for an unknown zone name).
fn device_tz_colon(c: &mut Cur<'_>) -> Option<Option<i64>> {
    let save = c.i;
    let colon_end = |c: &mut Cur<'_>| {
        if c.eat(b':') && matches!(c.peek(), None | Some(b' ')) {
            c.spaces();
            true
        } else {
            false
        }
    };
    if colon_end(c) {
        return Some(Some(0));
    }
    c.i = save;
    // IOS-XR: `hh:mm:ss.mmm : process[pid]: ...`.
    if c.eat(b' ') && colon_end(c) {
        return Some(Some(0));
    }
    c.i = save;
    if c.eat(b' ') {
        let start = c.i;
        while c.peek().is_some_and(|b| b.is_ascii_alphabetic()) && c.i - start < 6 {
            c.i += 1;
        }
        let tz = c.slice(start, c.i);
        if !tz.is_empty() && tz.bytes().all(|b| b.is_ascii_uppercase()) && colon_end(c) {
            return Some(tz_abbr_offset(tz));
        }
    }
    c.i = save;
    None
}

/// IOS-XR node name right before the device time stamp
/// (`RP/0/RSP0/CPU0:Mar  1 ...`, `0/RP0/CPU0:2024 Mar ...`): its length,
/// colon included.
fn xr_node_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    // `RP/`, `LC/`, `0/`: a slash within the first four bytes.
    if !b.iter().take(4).any(|x| *x == b'/') {
        return None;
    }
    let n = b
        .iter()
        .take(32)
        .take_while(|x| x.is_ascii_alphanumeric() || **x == b'/')
        .count();
    let node = b.get(..n)?;
    if n < 3 || !node.contains(&b'/') || b.get(n) != Some(&b':') {
        return None;
    }
    let next = b.get(n + 1)?;
    (next.is_ascii_alphanumeric() || *next == b'*' || *next == b'.').then_some(n + 1)
}

/// A host field that is really a Cisco sequence number (`000123`).
fn is_sequence_field(h: &str) -> bool {
    let d = h.strip_suffix(':').unwrap_or(h);
    !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())
}

/// Does a device time stamp (`*Mar`, `.Mar`, `Mar  1`, `2024 Mar`) start here?
fn stamp_ahead(c: &Cur<'_>) -> bool {
    let b = c.b().get(c.i..).unwrap_or(b"");
    let b = match b.first() {
        Some(b'*' | b'.') => b.get(1..).unwrap_or(b""),
        _ => b,
    };
    let is_month =
        b.get(..3).is_some_and(|m| month_from_abbr(m).is_some()) && b.get(3) == Some(&b' ');
    let is_year =
        b.len() > 5 && b.iter().take(4).all(u8::is_ascii_digit) && b.get(4) == Some(&b' ');
    is_month || is_year
}

fn is_tag_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/' | b'@')
}

fn parse_legacy(mut c: Cur<'_>, pri: Option<u8>, year: i64) -> Option<SyslogRecord<'_>> {
    let mut rec = SyslogRecord {
        format: SyslogFormat::Rfc3164,
        pri,
        time_us: None,
        host: None,
        app: None,
        procid: None,
        msgid: None,
        structured_data: None,
        msg: "",
    };
    let mut header = false;
    let mut cisco = false;
    let mut nxos = false;
    let mut time_set = false;

    // NX-OS sends `<PRI>: 2024 Mar ...` (an empty sequence-number field).
    if c.peek() == Some(b':') && c.peek_at(1) == Some(b' ') {
        c.i += 1;
        c.spaces();
        cisco = true;
    }

    // Outer header (relay / file writer, or NX-OS).
    let save = c.i;
    if let Some(st) = bsd_stamp(&mut c) {
        if let Some(tz) = device_tz_colon(&mut c) {
            // A Cisco device time stamp with no host: `Mar  1 10:00:00.123 UTC: %...`
            rec.time_us = st.to_us(year, tz);
            time_set = true;
            header = true;
            cisco = true;
        } else if c.spaces() > 0 && c.peek().is_some() {
            let at = c.i;
            let host = c.word();
            if host.ends_with(':') && is_sequence_field(host) {
                // `Mar  1 10:00:00 000123: *Mar ...`: no host, a sequence number.
                c.i = at;
            } else {
                c.spaces();
                rec.host = Some(host);
            }
            rec.time_us = st.to_us(year, Some(0));
            time_set = true;
            header = true;
        } else {
            c.i = save;
        }
    } else if let Some((t, used)) = parse_rfc3339_prefix(c.rest().as_bytes()) {
        c.i += used;
        if c.spaces() > 0 && c.peek().is_some() {
            let at = c.i;
            let host = c.word();
            if host.ends_with(':') && is_sequence_field(host) {
                c.i = at;
            } else {
                c.spaces();
                rec.host = Some(host);
            }
            rec.time_us = Some(t);
            time_set = true;
            header = true;
        } else {
            c.i = save;
        }
    } else if let Some(st) = year_first_stamp(&mut c) {
        nxos = true;
        header = true;
        time_set = true;
        if let Some(tz) = device_tz_colon(&mut c) {
            rec.time_us = st.to_us(year, tz);
        } else {
            rec.time_us = st.to_us(year, Some(0));
            if c.spaces() > 0 && c.peek().is_some_and(|b| b != b'%') {
                rec.host = Some(c.word());
                c.spaces();
            }
        }
    }

    // Cisco's own header, after any relay header, in any of its forms:
    // `seq: ` (the logging counter, and a second one with `service
    // sequence-numbers`; never a host name), `: ` (NX-OS's empty sequence
    // field), `host: ` (`logging origin-id`), IOS-XR's `host NODE:` /
    // `NODE:` (`RP/0/RSP0/CPU0:`) right before its time stamp, and the
    // device time stamp `*Mmm dd hh:mm:ss.mmm TZ: `.
    let mut inner_host: Option<&str> = None;
    let mut stamp_seen = false;
    for _ in 0..6 {
        if c.peek() == Some(b'%') {
            break;
        }
        let save = c.i;
        if c.peek() == Some(b':') && c.peek_at(1) == Some(b' ') {
            c.i += 1;
            c.spaces();
            cisco = true;
            continue;
        }
        if c.digits(1, 20).is_some() && c.eat(b':') && c.peek() == Some(b' ') {
            c.spaces();
            cisco = true;
            continue;
        }
        c.i = save;
        // Time stamps and node names start with `*`, `.`, a digit or a
        // capital letter: a lower-case word (a host, an RFC 3164 tag) is
        // not tried as one.
        let stamp_like = c
            .peek()
            .is_some_and(|b| matches!(b, b'*' | b'.' | b'0'..=b'9' | b'A'..=b'Z'));
        if !stamp_seen && stamp_like {
            if let Some(n) = xr_node_len(c.rest()) {
                c.i += n;
                cisco = true;
            }
            let at = c.i;
            if !c.eat(b'*') {
                c.eat(b'.');
            }
            let mut year_first = false;
            let stamp = bsd_stamp(&mut c).or_else(|| {
                let st = year_first_stamp(&mut c);
                year_first = st.is_some();
                st
            });
            if let Some((st, tz)) = stamp.and_then(|st| device_tz_colon(&mut c).map(|tz| (st, tz)))
            {
                nxos |= year_first;
                if !time_set {
                    rec.time_us = st.to_us(year, tz);
                }
                cisco = true;
                stamp_seen = true;
                continue;
            }
            c.i = at;
            if c.i != save {
                // A node name without a time stamp after it.
                c.i = save;
            }
        }
        if inner_host.is_some() || stamp_seen {
            break;
        }
        // `host: ` (or IOS-XR `host NODE:stamp`).
        let token = c.word();
        let after = c.i;
        let spaced = c.spaces() > 0;
        if spaced && token.len() > 1 && !token.starts_with(['*', '.', '%']) {
            if let Some(h) = token.strip_suffix(':') {
                let digits_ahead = {
                    let b = c.b().get(c.i..).unwrap_or(b"");
                    let n = b.iter().take_while(|d| d.is_ascii_digit()).count();
                    n > 0 && b.get(n) == Some(&b':')
                };
                if stamp_ahead(&c) || digits_ahead || (cisco && c.peek() == Some(b'%')) {
                    inner_host = Some(h);
                    continue;
                }
            } else if cisco
                && c.peek().is_some_and(|b| b.is_ascii_alphanumeric())
                && xr_node_len(c.rest()).is_some()
            {
                inner_host = Some(token);
                continue;
            }
        }
        let _ = after;
        c.i = save;
        break;
    }
    if let Some(h) = inner_host.filter(|h| !h.is_empty()) {
        rec.host = Some(h);
        cisco = true;
    }
    if cisco && rec.host.is_some_and(is_sequence_field) {
        rec.host = None;
    }

    if c.peek() == Some(b'%') {
        rec.msg = c.rest();
    } else {
        // RFC 3164 tag: `tag[pid]: msg` or `tag: msg`.
        let save = c.i;
        let start = c.i;
        while c.peek().is_some_and(is_tag_byte) && c.i - start < 64 {
            c.i += 1;
        }
        let tag = c.slice(start, c.i);
        let mut procid = None;
        let mut ok = !tag.is_empty();
        if ok && c.eat(b'[') {
            let p = c.i;
            while c.peek().is_some_and(|b| b != b']' && b != b' ') {
                c.i += 1;
            }
            procid = Some(c.slice(p, c.i));
            ok = c.eat(b']');
        }
        if ok && c.eat(b':') && matches!(c.peek(), None | Some(b' ')) {
            c.eat(b' ');
            rec.app = Some(tag);
            rec.procid = procid;
        } else {
            c.i = save;
        }
        rec.msg = c.rest();
    }

    rec.format = if nxos {
        SyslogFormat::Nxos
    } else if cisco {
        SyslogFormat::Cisco
    } else {
        SyslogFormat::Rfc3164
    };
    if !header && !cisco {
        // No header at all: accept only lines carrying a Cisco-style tag.
        let line = c.s;
        let at = find_percent_tag(line)?;
        rec.msg = line.get(at..)?;
        rec.format = SyslogFormat::Bare;
        rec.app = None;
        rec.procid = None;
    }
    Some(rec)
}

/// A Cisco/Arista `%FACILITY-SEVERITY-MNEMONIC:` tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PercentTag<'a> {
    /// `SYS`, `PARSER`, `ETH_SPAN`, ... (sub-facilities joined with `-`).
    pub facility: &'a str,
    pub severity: u8,
    pub mnemonic: &'a str,
    /// Text after `: `.
    pub text: &'a str,
}

/// Parses a tag at the start of `s` (which must begin with `%`).
pub(crate) fn parse_percent_tag(s: &str) -> Option<PercentTag<'_>> {
    let b = s.as_bytes();
    if b.first() != Some(&b'%') {
        return None;
    }
    let mut i = 1;
    while b
        .get(i)
        .is_some_and(|&x| x.is_ascii_uppercase() || x.is_ascii_digit() || x == b'_' || x == b'-')
    {
        i += 1;
        if i > 96 {
            return None;
        }
    }
    let name = s.get(1..i)?;
    // IOS-XR writes `%MGBL-SYS-5-CONFIG_I : Configured ...`.
    let colon = if b.get(i) == Some(&b' ') && b.get(i + 1) == Some(&b':') {
        i + 1
    } else {
        i
    };
    if b.get(colon) != Some(&b':') {
        return None;
    }
    let text = s.get(colon + 1..)?.trim_start();
    // FAC[-SUB]-SEV-MNEMONIC: the severity is the last single-digit field
    // before the mnemonic.
    let (head, mnemonic) = name.rsplit_once('-')?;
    let (facility, sev) = head.rsplit_once('-')?;
    let sev = sev.as_bytes();
    if sev.len() != 1
        || !(b'0'..=b'7').contains(&sev[0])
        || facility.is_empty()
        || mnemonic.is_empty()
    {
        return None;
    }
    Some(PercentTag {
        facility,
        severity: sev[0] - b'0',
        mnemonic,
        text,
    })
}

/// Byte offset of the first well-formed `%FAC-SEV-MNEMONIC:` tag in `s`.
pub(crate) fn find_percent_tag(s: &str) -> Option<usize> {
    let mut from = 0;
    for _ in 0..8 {
        let at = from + s.get(from..)?.find('%')?;
        if parse_percent_tag(s.get(at..)?).is_some() {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const Y: i32 = 2024;
    // 2024-03-01T00:00:00Z
    const MAR1: i64 = 1_709_251_200_000_000;

    fn at(h: i64, m: i64, s: i64, us: i64) -> Option<i64> {
        Some(MAR1 + ((h * 3600 + m * 60 + s) * 1_000_000) + us)
    }

    #[test]
    fn rfc3164_with_and_without_pri() {
        let r = parse_syslog_line(
            "<13>Mar  1 10:00:00 mx1 mgd[4163]: UI_COMMIT: User 'bob'",
            Y,
        )
        .unwrap();
        assert_eq!(r.format, SyslogFormat::Rfc3164);
        assert_eq!(r.pri, Some(13));
        assert_eq!(r.facility(), Some(1));
        assert_eq!(r.severity(), Some(5));
        assert_eq!(r.time_us, at(10, 0, 0, 0));
        assert_eq!(r.host, Some("mx1"));
        assert_eq!(r.app, Some("mgd"));
        assert_eq!(r.procid, Some("4163"));
        assert_eq!(r.msg, "UI_COMMIT: User 'bob'");

        let r = parse_syslog_line("Mar  1 10:00:00  mx1 sshd: hello world\r\n", Y).unwrap();
        assert_eq!(r.pri, None);
        assert_eq!(r.host, Some("mx1"));
        assert_eq!(r.app, Some("sshd"));
        assert_eq!(r.msg, "hello world");

        let r = parse_syslog_line("Mar  1 10:00:00 sw1 Aaa: %ACCOUNTING-6-CMD: admin", Y).unwrap();
        assert_eq!(r.app, Some("Aaa"));
        assert_eq!(r.msg, "%ACCOUNTING-6-CMD: admin");

        // No tag: the whole rest is the message.
        let r = parse_syslog_line("Mar  1 10:00:00 host just some text", Y).unwrap();
        assert_eq!(r.app, None);
        assert_eq!(r.msg, "just some text");
    }

    #[test]
    fn year_after_the_clock() {
        let r =
            parse_syslog_line("Mar  1 10:00:00 2023 mx1 mgd[1]: UI_COMMIT: User 'bob'", Y).unwrap();
        assert_eq!(r.host, Some("mx1"));
        assert_eq!(r.time_us, at(10, 0, 0, 0).map(|t| t - 366 * 86_400_000_000));
        // A host name of four digits followed by a tag is not a year.
        let r = parse_syslog_line("Mar  1 10:00:00 2023: x", Y).unwrap();
        assert_eq!(r.time_us, at(10, 0, 0, 0));
    }

    #[test]
    fn rsyslog_rfc3339_file_format() {
        let r = parse_syslog_line(
            "2024-03-01T10:00:00.5+00:00 sw1 ConfigAgent: %SYS-5-CONFIG_I: x",
            Y,
        )
        .unwrap();
        assert_eq!(r.time_us, at(10, 0, 0, 500_000));
        assert_eq!(r.host, Some("sw1"));
        assert_eq!(r.app, Some("ConfigAgent"));
        assert_eq!(r.msg, "%SYS-5-CONFIG_I: x");
    }

    #[test]
    fn cisco_native_header() {
        let line = "<189>123: router1: *Mar  1 18:46:11.123 UTC: %PARSER-5-CFGLOG_LOGGEDCMD: User:alice  logged command:monitor session 1 type erspan-source";
        let r = parse_syslog_line(line, Y).unwrap();
        assert_eq!(r.format, SyslogFormat::Cisco);
        assert_eq!(r.pri, Some(189));
        assert_eq!(r.host, Some("router1"));
        assert_eq!(r.time_us, at(18, 46, 11, 123_000));
        assert!(r.msg.starts_with("%PARSER-5-CFGLOG_LOGGEDCMD: User:alice"));

        // Relayed: an RFC 3164 header in front; the device's name wins,
        // the relay's time stamp is kept.
        let line = "Mar  1 18:46:12 10.0.0.1 123: router1: *Mar  1 18:46:11.123 UTC: %SYS-5-CONFIG_I: Configured";
        let r = parse_syslog_line(line, Y).unwrap();
        assert_eq!(r.format, SyslogFormat::Cisco);
        assert_eq!(r.host, Some("router1"));
        assert_eq!(r.time_us, at(18, 46, 12, 0));
        assert_eq!(r.msg, "%SYS-5-CONFIG_I: Configured");

        // No host name, time zone with offset, year in the stamp.
        let r =
            parse_syslog_line("<189>45: .Mar  1 2023 18:46:11 EST: %SYS-5-CONFIG_I: x", Y).unwrap();
        assert_eq!(r.host, None);
        assert_eq!(
            r.time_us,
            Some(MAR1 - 366 * 86_400_000_000 + (23 * 3600 + 46 * 60 + 11) * 1_000_000)
        );

        // Unknown zone: no time rather than a wrong one.
        let r = parse_syslog_line("<189>45: *Mar  1 18:46:11 XYZ: %SYS-5-CONFIG_I: x", Y).unwrap();
        assert_eq!(r.time_us, None);
        assert_eq!(r.msg, "%SYS-5-CONFIG_I: x");

        // Sequence number and host name only.
        let r = parse_syslog_line(
            "<189>7: rtr: %LINK-3-UPDOWN: Interface Gi1, changed state to up",
            Y,
        )
        .unwrap();
        assert_eq!(r.host, Some("rtr"));
        assert_eq!(r.time_us, None);
        assert!(r.msg.starts_with("%LINK-3-UPDOWN"));
    }

    #[test]
    fn sequence_numbers_are_never_hosts() {
        // `service sequence-numbers`: the logging counter, then the
        // sequence number, before the device time stamp.
        let r = parse_syslog_line(
            "<189>45: 000043: *Mar  1 18:46:11.123 UTC: %SYS-5-CONFIG_I: x",
            Y,
        )
        .unwrap();
        assert_eq!((r.host, r.time_us), (None, at(18, 46, 11, 123_000)));
        assert_eq!(r.msg, "%SYS-5-CONFIG_I: x");
        let r = parse_syslog_line(
            "<189>45: rtr1: 000043: *Mar  1 18:46:11.123 UTC: %SYS-5-CONFIG_I: x",
            Y,
        )
        .unwrap();
        assert_eq!(r.host, Some("rtr1"));
        // A relay's file: the sender address, then the sequence number.
        let r = parse_syslog_line(
            "Mar  1 18:46:12 10.0.0.1 000123: *Mar  1 18:46:11.123 UTC: %SYS-5-CONFIG_I: x",
            Y,
        )
        .unwrap();
        assert_eq!((r.host, r.time_us), (Some("10.0.0.1"), at(18, 46, 12, 0)));
        // A relay that wrote no host field at all.
        let r = parse_syslog_line(
            "Mar  1 18:46:12 000123: *Mar  1 18:46:11.123 UTC: %SYS-5-CONFIG_I: x",
            Y,
        )
        .unwrap();
        assert_eq!(r.host, None);
        assert_eq!(r.msg, "%SYS-5-CONFIG_I: x");
        let r = parse_syslog_line(
            "2024-03-01T18:46:12+00:00 10.0.0.1 123: 000045: Mar  1 18:46:11.123: %SYS-5-CONFIG_I: x",
            Y,
        )
        .unwrap();
        assert_eq!(r.host, Some("10.0.0.1"));
        assert_eq!(r.msg, "%SYS-5-CONFIG_I: x");
    }

    #[test]
    fn ios_xr_headers() {
        // napalm-logs' IOS-XR examples: `seq: host NODE:stamp : proc[pid]: %TAG : text`.
        let r = parse_syslog_line(
            "<149>2647599: vmx01 RP/0/RSP1/CPU0:Mar 28 15:08:30.941 UTC: bgp[1051]: %ROUTING-BGP-5-MAXPFX : No. of IPv4 Unicast prefixes",
            Y,
        )
        .unwrap();
        assert_eq!(r.format, SyslogFormat::Cisco);
        assert_eq!(r.host, Some("vmx01"));
        assert_eq!((r.app, r.procid), (Some("bgp"), Some("1051")));
        let t = parse_percent_tag(r.msg).unwrap();
        assert_eq!((t.facility, t.mnemonic), ("ROUTING-BGP", "MAXPFX"));
        assert_eq!(t.text, "No. of IPv4 Unicast prefixes");
        let r = parse_syslog_line(
            "<187>94307: gw2.acy1 LC/0/2/CPU0:Jul  7 20:16:14.834 : ifmgr[214]: %PKT_INFRA-LINK-3-UPDOWN : Interface TenGigE0/2/0/4, changed state to Down",
            Y,
        )
        .unwrap();
        assert_eq!(r.host, Some("gw2.acy1"));
        assert!(r.time_us.is_some());
        assert!(r.msg.starts_with("%PKT_INFRA-LINK-3-UPDOWN"));
        assert_eq!(xr_node_len("RP/0/RSP0/CPU0:Mar"), Some(15));
        assert_eq!(xr_node_len("host: Mar"), None);
    }

    #[test]
    fn nxos_headers() {
        let r = parse_syslog_line(
            "<189>: 2024 Mar  1 18:46:11 UTC: %ETH_SPAN-5-ETH_SPAN_SESSION_UP: Session 1 is up",
            Y,
        )
        .unwrap();
        assert_eq!(r.format, SyslogFormat::Nxos);
        assert_eq!(r.time_us, at(18, 46, 11, 0));
        assert_eq!(r.host, None);
        assert!(r.msg.starts_with("%ETH_SPAN-5-"));

        let r = parse_syslog_line("Mar  1 18:47:00 10.0.0.2 : 2024 Mar  1 18:46:59 UTC: %ETH_SPAN-5-ETH_SPAN_SESSION_UP: Session 3 is up.", Y).unwrap();
        assert_eq!(r.format, SyslogFormat::Nxos);
        assert_eq!(r.host, Some("10.0.0.2"));
        assert_eq!(r.time_us, at(18, 47, 0, 0));
        assert!(r.msg.starts_with("%ETH_SPAN-5-ETH_SPAN_SESSION_UP"));

        let r = parse_syslog_line(
            "2024 Mar  1 18:46:11 nx1 %ETH_SPAN-5-ETH_SPAN_SESSION_DOWN: Session 1 is down",
            Y,
        )
        .unwrap();
        assert_eq!(r.format, SyslogFormat::Nxos);
        assert_eq!(r.host, Some("nx1"));
        assert!(r.msg.starts_with("%ETH_SPAN-5-ETH_SPAN_SESSION_DOWN"));
    }

    #[test]
    fn rfc5424() {
        let line = "<165>1 2024-03-01T10:00:00.003Z mx1 mgd 4242 UI_CFG_AUDIT_SET [junos@2636.1.1.1.2.18 username=\"bob\" x=\"a\\]b\"] \u{feff}User 'bob' set: [a]";
        let r = parse_syslog_line(line, Y).unwrap();
        assert_eq!(r.format, SyslogFormat::Rfc5424);
        assert_eq!(r.time_us, at(10, 0, 0, 3000));
        assert_eq!(r.host, Some("mx1"));
        assert_eq!(r.app, Some("mgd"));
        assert_eq!(r.procid, Some("4242"));
        assert_eq!(r.msgid, Some("UI_CFG_AUDIT_SET"));
        assert_eq!(
            r.structured_data,
            Some("[junos@2636.1.1.1.2.18 username=\"bob\" x=\"a\\]b\"]")
        );
        assert_eq!(r.msg, "User 'bob' set: [a]");

        let r = parse_syslog_line("<34>1 - - - - - -", Y).unwrap();
        assert_eq!(r.time_us, None);
        assert_eq!(r.host, None);
        assert_eq!(r.msg, "");
        // Unterminated structured data is not RFC 5424; it falls back to
        // legacy parsing, which finds no header.
        assert_eq!(parse_syslog_line("<34>1 - h a p m [x y=\"", Y), None);
    }

    #[test]
    fn bare_percent_tags_and_rejects() {
        let r = parse_syslog_line("garbage %SYS-5-CONFIG_I: Configured from console", Y).unwrap();
        assert_eq!(r.format, SyslogFormat::Bare);
        assert_eq!(r.msg, "%SYS-5-CONFIG_I: Configured from console");
        assert_eq!(parse_syslog_line("hello world", Y), None);
        assert_eq!(parse_syslog_line("100% done: ok", Y), None);
        assert_eq!(parse_syslog_line("<999>Mar  1 10:00:00 h t: m", Y), None);
        assert_eq!(parse_syslog_line("<13", Y), None);
        assert_eq!(parse_syslog_line("", Y), None);
        assert_eq!(parse_syslog_line("Mar  1 10:00:00", Y), None);
        // Feb 29 in a non-leap year: the line parses, the time does not.
        let r = parse_syslog_line("Feb 29 10:00:00 h t: m", 2023).unwrap();
        assert_eq!(r.time_us, None);
    }

    #[test]
    fn percent_tags() {
        let t =
            parse_percent_tag("%PARSER-5-CFGLOG_LOGGEDCMD: User:alice  logged command:x").unwrap();
        assert_eq!(
            (t.facility, t.severity, t.mnemonic),
            ("PARSER", 5, "CFGLOG_LOGGEDCMD")
        );
        assert_eq!(t.text, "User:alice  logged command:x");
        let t = parse_percent_tag("%MGBL-CONFIG-6-DB_COMMIT: done").unwrap();
        assert_eq!(
            (t.facility, t.severity, t.mnemonic),
            ("MGBL-CONFIG", 6, "DB_COMMIT")
        );
        assert_eq!(parse_percent_tag("%SYS-9-X: y"), None);
        assert_eq!(parse_percent_tag("%SYS: y"), None);
        assert_eq!(parse_percent_tag("%-5-X: y"), None);
        assert_eq!(find_percent_tag("50% of %SYS-5-CONFIG_I: x"), Some(7));
    }

    #[test]
    fn never_panics_on_prefixes_of_tricky_lines() {
        let lines = [
            "<189>123: router1: *Mar  1 18:46:11.123 UTC: %PARSER-5-CFGLOG_LOGGEDCMD: User:a  logged command:x",
            "<165>1 2024-03-01T10:00:00.003Z mx1 mgd 4242 UI [a b=\"c\"] m",
            "<189>: 2024 Mar  1 18:46:11 UTC: %ETH_SPAN-5-ETH_SPAN_SESSION_UP: Session 1 is up",
            "2024-03-01T10:00:00.5+00:00 sw1 ConfigAgent: %SYS-5-CONFIG_I: é ü",
            "Mar  1 10:00:00 h tag[1]: ✓ ünïcödé",
        ];
        for l in lines {
            for (i, _) in l.char_indices() {
                let _ = parse_syslog_line(&l[..i], Y);
                let _ = parse_syslog_line(&l[i..], Y);
            }
        }
    }
}
