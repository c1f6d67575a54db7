//! Helpers shared by the integration tests.
#![allow(dead_code)]
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `../shared/pcaps` (or `$MIRRORWATCH_SHARED_PCAPS`), if present. When it
/// is absent the caller skips with a message naming the path.
pub fn shared_pcaps() -> Option<PathBuf> {
    let p = std::env::var_os("MIRRORWATCH_SHARED_PCAPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/pcaps"));
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!(
            "SKIPPED: reference captures not found at {} (set MIRRORWATCH_SHARED_PCAPS)",
            p.display()
        );
        None
    }
}

/// Capture files in `dir`, sorted.
pub fn captures_in(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("readable directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("pcap" | "pcapng")
            )
        })
        .collect();
    v.sort();
    v
}

/// Every file in `dir` (none if it cannot be read), sorted: the evidence
/// files a replay wrote, for one.
pub fn files_in(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// `mirrorwatch synth --mixed` of `packets` frames written to `path`.
pub fn mixed_capture(path: &std::path::Path, packets: u32) {
    let n = packets.to_string();
    let out = mirrorwatch(
        &[
            "synth",
            "--mixed",
            "--packets",
            &n,
            "--out",
            path.to_str().expect("a UTF-8 path"),
        ],
        Duration::from_secs(120),
    );
    assert!(
        out.status.success(),
        "synth --mixed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The capture without frames shorter than an Ethernet header (the kernel
/// refuses to send those, and tcpreplay stops at them) or with a VLAN tag
/// cut short (sent, but dropped on receipt): a copy in `dir` when there
/// are any, else the capture itself.
pub fn sendable(src: &std::path::Path, dir: &std::path::Path) -> PathBuf {
    let b = std::fs::read(src).expect("read capture");
    let Some(spans) = pcap_spans(&b).filter(|_| b.get(..4) == Some(&[0xd4, 0xc3, 0xb2, 0xa1][..]))
    else {
        return src.to_path_buf();
    };
    let mut out = b[..24].to_vec();
    let mut dropped = 0;
    for (start, end) in spans {
        let caplen = end - start - 16;
        // A VLAN tag cut short the receiving kernel drops.
        let vlan = matches!(
            b.get(start + 28..start + 30),
            Some([0x81, 0x00] | [0x88, 0xa8])
        );
        if caplen >= 14 && !(vlan && caplen < 18) {
            out.extend_from_slice(&b[start..end]);
        } else {
            dropped += 1;
        }
    }
    if dropped == 0 {
        return src.to_path_buf();
    }
    let name = src
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let p = dir.join(format!("sendable-{name}"));
    std::fs::write(&p, out).expect("write sendable capture");
    p
}

/// The project's own `pcaps/` directory.
pub fn project_pcaps() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pcaps")
}

/// Runs the mirrorwatch binary with a time limit; a run that exceeds it is
/// killed and the test fails (a hang is a bug).
pub fn mirrorwatch(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mirrorwatch"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mirrorwatch");
    let start = Instant::now();
    // Drain the pipes on threads so a large output cannot block the child.
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut v).ok();
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut err, &mut v).ok();
        v
    });
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > limit {
            child.kill().ok();
            panic!("mirrorwatch {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output {
        status,
        stdout: t_out.join().expect("stdout thread"),
        stderr: t_err.join().expect("stderr thread"),
    }
}

/// The start of a little-endian pcapng: a section header block (version
/// 1.0, section length unknown) and one Ethernet interface (snap length
/// 262,144) with the option bytes `idb_options` (end-of-options included
/// by the caller when there are options).
pub fn pcapng_ethernet_start(idb_options: &[u8]) -> Vec<u8> {
    use mirrorwatch_pcapfile::pcapng_block as block;
    let mut shb = 0x1a2b_3c4du32.to_le_bytes().to_vec();
    shb.extend_from_slice(&[1, 0, 0, 0]);
    shb.extend_from_slice(&u64::MAX.to_le_bytes());
    let mut b = block(0x0a0d_0d0a, &shb);
    let mut idb = 1u16.to_le_bytes().to_vec();
    idb.extend_from_slice(&[0, 0]);
    idb.extend_from_slice(&262_144u32.to_le_bytes());
    idb.extend_from_slice(idb_options);
    b.extend(block(1, &idb));
    b
}

/// The records of the classic pcap `b` (either byte order) as byte ranges,
/// record header included, up to the first one the file cuts short; None
/// when `b` is not a classic pcap.
pub fn pcap_spans(b: &[u8]) -> Option<Vec<(usize, usize)>> {
    let le = match b.get(..4)? {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => return None,
    };
    let (mut off, mut spans) = (24usize, Vec::new());
    while let Some(raw) = b.get(off + 8..off + 12) {
        let raw: [u8; 4] = raw.try_into().ok()?;
        let caplen = if le {
            u32::from_le_bytes(raw)
        } else {
            u32::from_be_bytes(raw)
        } as usize;
        let end = off + 16 + caplen;
        if end > b.len() {
            break;
        }
        spans.push((off, end));
        off = end;
    }
    Some(spans)
}

/// Frames in a classic pcap file, counted from its record headers; None
/// for pcapng or unreadable files.
pub fn pcap_record_count(path: &std::path::Path) -> Option<u64> {
    let b = std::fs::read(path).ok()?;
    Some(pcap_spans(&b)?.len() as u64)
}

/// A plain HTTP/1.1 GET on loopback; returns (status, body).
pub fn http_get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let chunked = head.lines().any(|l| {
        l.split_once(':').is_some_and(|(n, v)| {
            n.eq_ignore_ascii_case("transfer-encoding") && v.trim().eq_ignore_ascii_case("chunked")
        })
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok((status, body))
}

/// The payload of a chunked HTTP/1.1 body.
pub fn dechunk(mut b: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = b.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        b = rest.get(n + 2..).unwrap_or_default();
    }
    out
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Polls `f` until it returns Some or `limit` passes.
pub fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A tool's path on `PATH`, if it is installed.
pub fn on_path(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
    })
}

/// Every panel of a Grafana dashboard, rows' nested panels included, in
/// order.
pub fn all_panels(d: &serde_json::Value) -> Vec<&serde_json::Value> {
    fn walk<'a>(panels: &'a serde_json::Value, out: &mut Vec<&'a serde_json::Value>) {
        for p in panels.as_array().into_iter().flatten() {
            out.push(p);
            if let Some(nested) = p.get("panels") {
                walk(nested, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&d["panels"], &mut out);
    out
}

/// The project's scenario captures with external or unauthorised mirror
/// sessions (each alerts), as paths.
pub fn mirror_captures() -> Vec<String> {
    [
        "erspan1.pcap",
        "erspan3.pcap",
        "tzsp.pcap",
        "gre-teb-external.pcap",
        "aws-vxlan-mirror.pcap",
        "erspan3-ipv6.pcap",
        "vxlan-external-2pkt.pcap",
    ]
    .iter()
    .map(|f| project_pcaps().join(f).to_string_lossy().into_owned())
    .collect()
}

/// Records of a little-endian classic pcap (microsecond or nanosecond,
/// as evidence files are) whose records fill the file exactly (no torn
/// record), or None.
pub fn whole_pcap(path: &std::path::Path) -> Option<u64> {
    let b = std::fs::read(path).ok()?;
    if !matches!(
        b.get(..4)?,
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1]
    ) {
        return None;
    }
    let spans = pcap_spans(&b)?;
    (spans.last().map_or(24, |s| s.1) == b.len()).then_some(spans.len() as u64)
}

/// Runs a shell command quietly; whether it succeeded.
pub fn sh(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", cmd])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Asserts that the exposition `metrics` has each of `names`, with the
/// single label `label`, at 0: nothing of that kind was lost.
#[allow(dead_code)]
pub fn assert_none_lost(metrics: &str, label: &str, names: &[&str]) {
    for name in names {
        assert!(
            metrics.contains(&format!("{name}{{{label}}} 0")),
            "{name}: {metrics}"
        );
    }
}

/// Waits up to 15 s for the sensor on `addr` to answer /healthz with 200.
pub fn wait_healthy(addr: &str) -> bool {
    wait_for(Duration::from_secs(15), || {
        http_get(addr, "/healthz").ok().filter(|(c, _)| *c == 200)
    })
    .is_some()
}

/// `mirrorwatch live` with `args`, its output discarded; not yet ready
/// (see [`wait_healthy`]).
pub fn spawn_live<S: AsRef<std::ffi::OsStr>>(args: impl IntoIterator<Item = S>) -> Proc {
    let child = Command::new(env!("CARGO_BIN_EXE_mirrorwatch"))
        .arg("live")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mirrorwatch live");
    Proc(child)
}

/// Whether the live-capture tests can run (root, iproute2, tcpreplay);
/// prints the skip otherwise.
pub fn can_capture_live() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root || on_path("ip").is_none() || on_path("tcpreplay").is_none() {
        eprintln!("SKIPPED: live-capture tests need root, iproute2 and tcpreplay");
        return false;
    }
    true
}

/// A network namespace holding one end of a veth pair (jumbo MTU so that
/// no scenario frame is refused, IPv6 off so nothing else is sent); the
/// other end stays here. Removed on drop, also when the test fails.
pub struct Veth {
    pub ns: String,
    pub host: String,
    pub peer: String,
}

impl Veth {
    pub fn new(tag: &str) -> Veth {
        let id = std::process::id() % 100_000;
        let v = Veth {
            ns: format!("mw{tag}{id}"),
            host: format!("mwh{tag}{id}"),
            peer: format!("mwp{tag}{id}"),
        };
        let ok = sh(&format!("ip netns add {}", v.ns))
            && sh(&format!(
                "ip link add {} type veth peer name {}",
                v.host, v.peer
            ))
            && sh(&format!("ip link set {} netns {}", v.peer, v.ns))
            && sh(&format!(
                "sysctl -qw net.ipv6.conf.{}.disable_ipv6=1",
                v.host
            ))
            && sh(&format!(
                "ip netns exec {} sysctl -qw net.ipv6.conf.all.disable_ipv6=1",
                v.ns
            ))
            && sh(&format!("ip link set {} mtu 9000 up", v.host))
            && sh(&format!(
                "ip netns exec {} ip link set {} mtu 9000 up",
                v.ns, v.peer
            ));
        assert!(
            ok,
            "could not set up namespace {} and veth {}",
            v.ns, v.host
        );
        v
    }

    /// tcpreplay of `pcap` (with `extra` options) from the namespace.
    pub fn replay(&self, pcap: &str, extra: &str) -> bool {
        sh(&format!(
            "ip netns exec {} tcpreplay -q {extra} -i {} {pcap}",
            self.ns, self.peer
        ))
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        sh(&format!("ip link del {}", self.host));
        sh(&format!("ip netns del {}", self.ns));
    }
}

/// A child process killed on drop.
pub struct Proc(pub std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[allow(dead_code)]
fn checksum(h: &[u8]) -> u16 {
    let mut s: u32 = h
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

#[allow(dead_code)]
pub fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut h = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0];
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let c = checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

#[allow(dead_code)]
pub fn ethernet(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x00, 0x1b, 0x21, 1, 2, 3, 0x52, 0x54, 0, 4, 5, 6];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// `sessions` ERSPAN type I sessions (GRE 0x88BE, no sequence number) from
/// 10.1.0.1 to distinct collectors in 100.64.0.0/10, `per` packets each,
/// 10 us apart.
#[allow(dead_code)]
pub fn erspan_flood(path: &std::path::Path, sessions: u32, per: u32) {
    let t0 = 1_767_225_600_000_000i64;
    let frames = (0..sessions).flat_map(move |i| {
        let dst = [100, 64 + (i >> 16) as u8, (i >> 8) as u8, i as u8];
        (0..per).map(move |k| erspan_frame([10, 1, 0, 1], dst, k))
    });
    write_pcap(
        path,
        frames
            .enumerate()
            .map(|(n, f)| (t0 + 10 * (n as i64 + 1), f)),
    );
}

/// An ERSPAN type I frame (GRE 0x88BE) from `src` to `dst` carrying a small
/// inner UDP packet numbered `k`.
#[allow(dead_code)]
pub fn erspan_frame(src: [u8; 4], dst: [u8; 4], k: u32) -> Vec<u8> {
    let udp = [
        0x30,
        0x39,
        0x00,
        0x35,
        0,
        12,
        0,
        0,
        b'q',
        b'r',
        k as u8,
        (k >> 8) as u8,
    ];
    let inner = ethernet(0x0800, &ipv4([192, 168, 0, 1], [192, 168, 0, 2], 17, &udp));
    let mut gre = vec![0, 0, 0x88, 0xbe];
    gre.extend_from_slice(&inner);
    ethernet(0x0800, &ipv4(src, dst, 47, &gre))
}

/// Writes a little-endian microsecond pcap of Ethernet frames.
#[allow(dead_code)]
pub fn write_pcap(path: &std::path::Path, frames: impl Iterator<Item = (i64, Vec<u8>)>) {
    use std::io::Write;
    let f = std::fs::File::create(path).expect("create capture");
    let mut w = std::io::BufWriter::new(f);
    let mut out = Vec::with_capacity(24);
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    w.write_all(&out).expect("write");
    for (ts, frame) in frames {
        let mut h = Vec::with_capacity(16);
        h.extend_from_slice(&((ts / 1_000_000) as u32).to_le_bytes());
        h.extend_from_slice(&((ts % 1_000_000) as u32).to_le_bytes());
        h.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        h.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        w.write_all(&h).expect("write");
        w.write_all(&frame).expect("write");
    }
    w.flush().expect("flush");
}
