//! Live capture from network interfaces through libpcap.
use super::Frame;
use crate::decode::LinkType;

/// How an interface is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveOptions {
    pub promisc: bool,
    pub snaplen: i32,
    /// Kernel buffer size in bytes.
    pub buffer_size: i32,
    /// Deliver packets as they arrive instead of filling the buffer first.
    pub immediate: bool,
    /// A BPF expression, as for tcpdump.
    pub bpf: Option<String>,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            promisc: true,
            snaplen: 65_535,
            buffer_size: 32 << 20,
            immediate: false,
            bpf: None,
        }
    }
}

/// Why an interface could not be captured from.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("{iface}: no such interface (available: {available})")]
    NoSuchInterface { iface: String, available: String },
    #[error(
        "{iface}: permission denied: capturing needs root or CAP_NET_RAW and CAP_NET_ADMIN ({reason})"
    )]
    Permission { iface: String, reason: String },
    #[error("{iface}: bad BPF expression `{expr}`: {reason}")]
    Filter {
        iface: String,
        expr: String,
        reason: String,
    },
    #[error("{iface}: cannot capture: {reason}")]
    Open { iface: String, reason: String },
    #[error("{iface}: capture failed: {reason}")]
    Read { iface: String, reason: String },
}

/// Packets, drops as libpcap counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveStats {
    pub received: u64,
    pub kernel_dropped: u64,
    pub interface_dropped: u64,
}

/// An open interface.
pub struct LiveCapture {
    cap: pcap::Capture<pcap::Active>,
    /// libpcap's selectable descriptor, polled while no packet is ready.
    fd: i32,
    iface: String,
    linktype: LinkType,
    dlt: i32,
    /// libpcap's counters are 32-bit and wrap; these are widened.
    last: (u32, u32, u32),
    stats: LiveStats,
}

/// Read timeout: how often an idle capture returns to check for shutdown.
const TIMEOUT_MS: i32 = 100;

impl LiveCapture {
    pub fn open(iface: &str, opts: &LiveOptions) -> Result<Self, LiveError> {
        let devices = pcap::Device::list().map_err(|e| LiveError::Open {
            iface: iface.to_owned(),
            reason: e.to_string(),
        })?;
        if !devices.iter().any(|d| d.name == iface) {
            let mut names: Vec<&str> = devices.iter().map(|d| d.name.as_str()).collect();
            names.sort_unstable();
            return Err(LiveError::NoSuchInterface {
                iface: iface.to_owned(),
                available: if names.is_empty() {
                    "none visible".to_owned()
                } else {
                    names.join(", ")
                },
            });
        }
        let open_err = |e: pcap::Error| {
            let reason = e.to_string();
            if reason.contains("ermission") || reason.contains("not permitted") {
                LiveError::Permission {
                    iface: iface.to_owned(),
                    reason,
                }
            } else {
                LiveError::Open {
                    iface: iface.to_owned(),
                    reason,
                }
            }
        };
        let mut cap = pcap::Capture::from_device(iface)
            .map_err(open_err)?
            .promisc(opts.promisc)
            .snaplen(opts.snaplen)
            .buffer_size(opts.buffer_size)
            .immediate_mode(opts.immediate)
            .timeout(TIMEOUT_MS)
            .open()
            .map_err(open_err)?;
        if let Some(expr) = &opts.bpf {
            cap.filter(expr, true).map_err(|e| LiveError::Filter {
                iface: iface.to_owned(),
                expr: expr.clone(),
                reason: e.to_string(),
            })?;
        }
        // Non-blocking reads and our own poll with a timeout: libpcap's read
        // timeout is not honoured in immediate mode, and a capture must
        // notice a stop request even when no packet arrives.
        let cap = cap.setnonblock().map_err(|e| LiveError::Open {
            iface: iface.to_owned(),
            reason: e.to_string(),
        })?;
        let fd = {
            use std::os::fd::AsRawFd;
            cap.as_raw_fd()
        };
        let dlt = cap.get_datalink().0;
        Ok(LiveCapture {
            cap,
            fd,
            iface: iface.to_owned(),
            linktype: LinkType::from_dlt(dlt),
            dlt,
            last: (0, 0, 0),
            stats: LiveStats::default(),
        })
    }

    pub fn iface(&self) -> &str {
        &self.iface
    }

    pub fn dlt(&self) -> i32 {
        self.dlt
    }

    /// The next frame; `Ok(None)` when none arrived within the read
    /// timeout.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, LiveError> {
        let fd = self.fd;
        match self.cap.next_packet() {
            Ok(p) => Ok(Some(Frame::from_pcap(&p, self.linktype))),
            Err(pcap::Error::TimeoutExpired) => {
                // Nothing buffered: wait for the descriptor, at most the
                // read timeout.
                let mut pfd = libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd for the duration of the call.
                unsafe { libc::poll(&mut pfd, 1, TIMEOUT_MS) };
                Ok(None)
            }
            Err(e) => Err(LiveError::Read {
                iface: self.iface.clone(),
                reason: e.to_string(),
            }),
        }
    }

    /// libpcap's statistics, widened to 64 bits.
    pub fn stats(&mut self) -> LiveStats {
        if let Ok(s) = self.cap.stats() {
            let d = |now: u32, before: u32| u64::from(now.wrapping_sub(before));
            self.stats.received += d(s.received, self.last.0);
            self.stats.kernel_dropped += d(s.dropped, self.last.1);
            self.stats.interface_dropped += d(s.if_dropped, self.last.2);
            self.last = (s.received, s.dropped, s.if_dropped);
        }
        self.stats
    }
}
