//! UDP sockets for the network inputs (`--flow-listen`, `--syslog-listen`)
//! that also learn how many datagrams the kernel dropped.
//!
//! A datagram that arrives while the socket's receive buffer is full is
//! dropped by the kernel before we could see it. Linux counts those drops
//! per socket and, with `SO_RXQ_OVFL` set, hands the running count to
//! `recvmsg` with every datagram (socket(7)). [`Receiver::recv`] reads it,
//! so the drops are counted as the next datagram arrives (drops after the
//! last datagram of all stay unseen until another comes).
//!
//! Written on `libc` directly: the two socket options and one `recvmsg`
//! with a control buffer. `socket2` would give the `recvmsg` call but not
//! the control-message parsing, which is most of the code here.
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

/// Receive buffer asked of the kernel (root may exceed `rmem_max`):
/// exports and syslog come in bursts (a router flushing its cache, a
/// device's whole configuration logged at once).
const RECV_BUFFER: libc::c_int = 32 << 20;

/// A bound UDP socket whose kernel drops are counted.
#[derive(Debug)]
pub struct Receiver {
    sock: UdpSocket,
    /// The kernel's count with the latest datagram (it wraps at 2^32).
    last: u32,
    /// Whether the kernel gives the count (`SO_RXQ_OVFL` was accepted).
    counting: bool,
}

impl Receiver {
    /// Takes a bound socket: asks for a large receive buffer and for the
    /// drop count.
    pub fn new(sock: UdpSocket) -> Self {
        set_int(&sock, libc::SO_RCVBUFFORCE, RECV_BUFFER)
            .or_else(|_| set_int(&sock, libc::SO_RCVBUF, RECV_BUFFER))
            .ok();
        let counting = set_int(&sock, libc::SO_RXQ_OVFL, 1).is_ok();
        Receiver {
            sock,
            last: 0,
            counting,
        }
    }

    /// The socket (for its address and timeouts).
    pub fn socket(&self) -> &UdpSocket {
        &self.sock
    }

    /// Whether kernel drops are counted on this system.
    pub fn counts_drops(&self) -> bool {
        self.counting
    }

    /// Receives one datagram into `buf`: its length, its sender, and the
    /// datagrams the kernel dropped since the previous call that learned
    /// the count. A datagram longer than `buf` is cut to it. Errors are
    /// those of `recv_from` (a read timeout is `WouldBlock`).
    pub fn recv(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, u64)> {
        // SAFETY: all-zero is a valid sockaddr_storage and msghdr.
        let mut name: libc::sockaddr_storage = unsafe { core::mem::zeroed() };
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // Room for one SO_RXQ_OVFL message (a header and a u32), aligned
        // as cmsghdr wants.
        let mut control = [0u64; 8];
        // SAFETY: as above.
        let mut msg: libc::msghdr = unsafe { core::mem::zeroed() };
        msg.msg_name = (&raw mut name).cast();
        msg.msg_namelen = core::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        msg.msg_iov = &raw mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = core::mem::size_of_val(&control) as _;
        // SAFETY: the fd is open (owned by `self.sock`); msg points at
        // `name`, `iov` (over `buf`) and `control`, all live and of the
        // lengths given, for the whole call.
        let n = unsafe { libc::recvmsg(self.sock.as_raw_fd(), &raw mut msg, 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let len = usize::try_from(n).unwrap_or(0).min(buf.len());
        let peer = peer_of(&name).ok_or_else(|| io::Error::other("sender of unknown family"))?;
        let mut dropped = 0;
        if let Some(count) = drop_count(&msg) {
            dropped = u64::from(count.wrapping_sub(self.last));
            self.last = count;
        }
        Ok((len, peer, dropped))
    }
}

/// Sets an int-valued `SOL_SOCKET` option.
fn set_int(sock: &UdpSocket, option: libc::c_int, value: libc::c_int) -> io::Result<()> {
    let p = (&raw const value).cast::<libc::c_void>();
    let len = core::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: the fd is open (owned by `sock`); the value is a c_int that
    // outlives the call.
    let r = unsafe { libc::setsockopt(sock.as_raw_fd(), libc::SOL_SOCKET, option, p, len) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The `SO_RXQ_OVFL` count among `msg`'s control messages.
fn drop_count(msg: &libc::msghdr) -> Option<u32> {
    // SAFETY: msg's control buffer and length are those recvmsg filled;
    // CMSG_FIRSTHDR/NXTHDR stay within them and return null past the end.
    let mut c = unsafe { libc::CMSG_FIRSTHDR(msg) };
    // SAFETY: CMSG_LEN is arithmetic on its argument.
    let want = unsafe { libc::CMSG_LEN(core::mem::size_of::<u32>() as u32) } as usize;
    while !c.is_null() {
        // SAFETY: c is a header within the control buffer (above).
        let h = unsafe { &*c };
        if h.cmsg_level == libc::SOL_SOCKET
            && h.cmsg_type == libc::SO_RXQ_OVFL
            && h.cmsg_len as usize >= want
        {
            // SAFETY: the message holds at least a u32 after its header
            // (checked above); it may be unaligned.
            return Some(unsafe { libc::CMSG_DATA(c).cast::<u32>().read_unaligned() });
        }
        // SAFETY: as for CMSG_FIRSTHDR.
        c = unsafe { libc::CMSG_NXTHDR(msg, c) };
    }
    None
}

/// The sender's address as recvmsg wrote it.
fn peer_of(name: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match libc::c_int::from(name.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says it is a sockaddr_in, which fits in
            // the storage.
            let a = unsafe { &*(&raw const *name).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::new(IpAddr::V4(ip), u16::from_be(a.sin_port)))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, a sockaddr_in6.
            let a = unsafe { &*(&raw const *name).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::V6(std::net::SocketAddrV6::new(
                ip,
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn receiver(addr: &str) -> Receiver {
        let sock = UdpSocket::bind(addr).expect("bind");
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        Receiver::new(sock)
    }

    #[test]
    fn gives_the_sender_and_the_bytes() {
        for addr in ["127.0.0.1:0", "[::1]:0"] {
            let Ok(probe) = UdpSocket::bind(addr) else {
                continue; // no IPv6 loopback here
            };
            drop(probe);
            let mut r = receiver(addr);
            let to = r.socket().local_addr().expect("addr");
            let tx = UdpSocket::bind(addr).expect("bind");
            tx.send_to(b"hello", to).expect("send");
            let mut buf = [0u8; 64];
            let (n, peer, dropped) = r.recv(&mut buf).expect("recv");
            assert_eq!(&buf[..n], b"hello");
            assert_eq!(peer, tx.local_addr().expect("addr"));
            assert_eq!(dropped, 0);
            // A datagram longer than the buffer is cut to it.
            tx.send_to(&[7u8; 100], to).expect("send");
            let (n, _, _) = r.recv(&mut buf).expect("recv");
            assert_eq!(n, 64);
        }
    }

    /// A burst the receive buffer cannot hold: what the kernel dropped is
    /// learned with the next datagram, and received + dropped is what was
    /// sent.
    #[test]
    fn counts_what_the_kernel_dropped() {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let mut r = Receiver::new(sock);
        assert!(r.counts_drops(), "SO_RXQ_OVFL refused");
        // Shrink the buffer again (the kernel doubles it, to some 4 KiB).
        set_int(r.socket(), libc::SO_RCVBUF, 2048).expect("rcvbuf");
        let to = r.socket().local_addr().expect("addr");
        let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let sent = 500u64;
        for _ in 0..sent {
            tx.send_to(&[1u8; 1000], to).expect("send");
        }
        let mut buf = vec![0u8; 2048];
        let (mut received, mut dropped) = (0u64, 0u64);
        while let Ok((_, _, d)) = r.recv(&mut buf) {
            received += 1;
            dropped += d;
        }
        assert!(received > 0 && received < sent, "received {received}");
        // One more, once there is room: it carries the count.
        tx.send_to(b"last", to).expect("send");
        let (_, _, d) = r.recv(&mut buf).expect("recv");
        received += 1;
        dropped += d;
        assert_eq!(
            received + dropped,
            sent + 1,
            "received {received}, dropped {dropped}"
        );
        assert!(dropped > 0);
    }
}
