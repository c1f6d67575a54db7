//! Decode errors: small `Copy` values, counted per layer and reason.
use serde::Serialize;

labelled_enum! {
    /// The protocol layer a decode error happened in.
    pub enum Layer {
        Link => "link",
        Ethernet => "ethernet",
        Vlan => "vlan",
        Mpls => "mpls",
        Ip => "ip",
        Ipv4 => "ipv4",
        Ipv6 => "ipv6",
        Udp => "udp",
        Gre => "gre",
        Erspan => "erspan",
        Vxlan => "vxlan",
        VxlanGpe => "vxlan-gpe",
        Geneve => "geneve",
        Tzsp => "tzsp",
        Tunnel => "tunnel",
    }
}

labelled_enum! {
    /// Why decoding stopped.
    pub enum Reason {
        Truncated => "truncated",
        BadVersion => "bad_version",
        BadHeaderLen => "bad_header_len",
        BadLength => "bad_length",
        BadFrameType => "bad_frame_type",
        UnsupportedLinktype => "unsupported_linktype",
        Unterminated => "unterminated",
        TooDeep => "too_deep",
    }
}

/// One decode failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DecodeError {
    pub layer: Layer,
    pub reason: Reason,
}

impl DecodeError {
    pub const fn new(layer: Layer, reason: Reason) -> Self {
        DecodeError { layer, reason }
    }
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}/{}", self.layer, self.reason)
    }
}

/// Counters of decode errors by layer and reason: a fixed table, no
/// allocation when counting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorCounts {
    counts: [[u64; Reason::COUNT]; Layer::COUNT],
}

impl Default for ErrorCounts {
    fn default() -> Self {
        ErrorCounts {
            counts: [[0; Reason::COUNT]; Layer::COUNT],
        }
    }
}

impl ErrorCounts {
    #[inline]
    pub fn add(&mut self, e: DecodeError) {
        self.counts[e.layer as usize][e.reason as usize] += 1;
    }

    pub fn get(&self, e: DecodeError) -> u64 {
        self.counts[e.layer as usize][e.reason as usize]
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    pub fn merge(&mut self, other: &ErrorCounts) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            for (x, y) in a.iter_mut().zip(b.iter()) {
                *x += *y;
            }
        }
    }

    /// Non-zero counters, in layer then reason order.
    pub fn iter(&self) -> impl Iterator<Item = (DecodeError, u64)> + '_ {
        Layer::ALL.iter().flat_map(move |&layer| {
            Reason::ALL.iter().filter_map(move |&reason| {
                let n = self.counts[layer as usize][reason as usize];
                (n > 0).then_some((DecodeError::new(layer, reason), n))
            })
        })
    }
}

impl Serialize for ErrorCounts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        for (e, n) in self.iter() {
            m.serialize_entry(&format_args!("{e}").to_string(), &n)?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_labels() {
        let mut c = ErrorCounts::default();
        let e = DecodeError::new(Layer::Gre, Reason::Truncated);
        c.add(e);
        c.add(e);
        c.add(DecodeError::new(Layer::Tunnel, Reason::TooDeep));
        assert_eq!(c.get(e), 2);
        assert_eq!(c.total(), 3);
        let v: Vec<String> = c.iter().map(|(e, n)| format!("{e}={n}")).collect();
        assert_eq!(v, ["gre/truncated=2", "tunnel/too_deep=1"]);
        assert_eq!(
            serde_json::to_string(&c).expect("serialise"),
            r#"{"gre/truncated":2,"tunnel/too_deep":1}"#
        );
    }
}
