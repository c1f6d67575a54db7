//! Verdicts and destination classes as pure functions of a session's
//! statistics and the configuration.
use super::net::Cidr;
use super::session::{DstClass, SessionKey, SessionStats, Verdict};
use super::sketch::Bloom;
use crate::config::Authorized;
use crate::decode::Encap;

/// Destination class of a session key at time `ts_us`, and whether an
/// expired `[[authorized]]` entry matched it.
pub fn classify(
    authorized: &[Authorized],
    internal: &[Cidr],
    k: &SessionKey,
    ts_us: i64,
) -> (DstClass, bool) {
    let mut expired = false;
    for a in authorized {
        let matches = a.destination.contains(k.dst)
            && a.source.is_none_or(|s| s.contains(k.src))
            && a.encap.is_none_or(|e| e == k.encap)
            && a.id.is_none_or(|i| Some(i) == k.id);
        if matches {
            if a.expires.is_none_or(|d| ts_us < d.end_us()) {
                return (DstClass::Authorized, false);
            }
            expired = true;
        }
    }
    let inside = internal.iter().any(|c| c.contains(k.dst));
    (
        if inside {
            DstClass::Internal
        } else {
            DstClass::External
        },
        expired,
    )
}

/// The destination class of a flow pair (`flow_volume_shift`): as
/// [`classify`], with `encap` the tunnel family when the pair is one (an
/// `[[authorized]]` entry naming an encapsulation matches only that), and
/// entries naming an id never matching (a flow record has none).
pub fn classify_pair(
    authorized: &[Authorized],
    internal: &[Cidr],
    src: core::net::IpAddr,
    dst: core::net::IpAddr,
    encap: Option<Encap>,
    ts_us: i64,
) -> DstClass {
    let approved = authorized.iter().any(|a| {
        a.destination.contains(dst)
            && a.source.is_none_or(|s| s.contains(src))
            && a.encap.is_none_or(|e| Some(e) == encap)
            && a.id.is_none()
            && a.expires.is_none_or(|d| ts_us < d.end_us())
    });
    if approved {
        DstClass::Authorized
    } else if internal.iter().any(|c| c.contains(dst)) {
        DstClass::Internal
    } else {
        DstClass::External
    }
}

/// The verdict of a session and the evidence behind it: ERSPAN and TZSP
/// exist only to carry copies; other tunnels are mirrors when both
/// directions of inner conversations travel one way in the tunnel or
/// their inner packets duplicate packets seen elsewhere, overlays when
/// their inner replies travel in the reverse tunnel (or the reverse tunnel
/// exists and enough packets were seen), else undetermined. `reverse`: the
/// reverse session's packets and its forward-flow sketch.
pub fn judge(
    key: &SessionKey,
    s: &SessionStats,
    reverse: Option<&(u64, Bloom)>,
    min_packets: u64,
) -> (Verdict, Vec<String>) {
    let mut ev = Vec::new();
    if matches!(
        key.encap,
        Encap::Erspan1 | Encap::Erspan2 | Encap::Erspan3 | Encap::Tzsp
    ) {
        ev.push(format!(
            "mirror_encapsulation: {} exists only to carry copies of traffic",
            key.encap
        ));
        if s.dup_packets > 0 {
            ev.push(format!(
                "duplicates: {} inner packets duplicate packets seen elsewhere",
                s.dup_packets
            ));
        }
        return (Verdict::Mirror, ev);
    }
    match reverse {
        None => ev.push(format!(
            "one_way: no traffic from {} to {} with the same id",
            key.dst, key.src
        )),
        Some((n, _)) => ev.push(format!(
            "reverse_traffic: {n} packets from {} to {}",
            key.dst, key.src
        )),
    }
    if s.both_directions > 0 {
        ev.push(format!(
            "both_directions: {} inner packets answer a conversation travelling the same way in this tunnel",
            s.both_directions
        ));
    }
    if s.dup_packets > 0 {
        ev.push(format!(
            "duplicates: {} inner packets duplicate packets seen elsewhere",
            s.dup_packets
        ));
    }
    let matching = reverse.is_some_and(|(_, fwd)| fwd.overlap(&s.flows_rev) > 0);
    if matching {
        ev.push("matching_directions: inner replies travel in the reverse tunnel".to_owned());
    }
    if s.inner_related == 0 && s.packets > 0 {
        ev.push("inner_unrelated: inner addresses differ from the tunnel endpoints".to_owned());
    }
    let verdict = if s.both_directions > 0 || s.dup_packets > 0 {
        Verdict::Mirror
    } else if matching {
        Verdict::Overlay
    } else if s.packets < min_packets {
        ev.push(format!(
            "too_few_packets: {} of {min_packets} needed",
            s.packets
        ));
        Verdict::Undetermined
    } else if reverse.is_some() {
        Verdict::Overlay
    } else {
        Verdict::Undetermined
    };
    (verdict, ev)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Date;

    fn key(encap: Encap, dst: &str) -> SessionKey {
        SessionKey {
            encap,
            src: "10.0.0.1".parse().expect("ip"),
            dst: dst.parse().expect("ip"),
            id: Some(7),
        }
    }

    #[test]
    fn classify_table() {
        let internal: Vec<Cidr> = vec!["10.0.0.0/8".parse().expect("cidr")];
        let auth = |dst: &str,
                    source: Option<&str>,
                    encap: Option<Encap>,
                    expires: Option<Date>| Authorized {
            destination: dst.parse().expect("cidr"),
            source: source.map(|s| s.parse().expect("cidr")),
            encap,
            id: None,
            reference: String::new(),
            expires,
        };
        let t2026 = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z
        let old = Some(Date {
            year: 2025,
            month: 12,
            day: 31,
        });
        let later = Some(Date {
            year: 2026,
            month: 1,
            day: 1,
        });
        let cases = [
            (
                "no entries, internal",
                vec![],
                "10.9.0.10",
                (DstClass::Internal, false),
            ),
            (
                "no entries, external",
                vec![],
                "203.0.113.5",
                (DstClass::External, false),
            ),
            (
                "authorised",
                vec![auth("10.9.0.10", None, None, None)],
                "10.9.0.10",
                (DstClass::Authorized, false),
            ),
            (
                "authorised external",
                vec![auth("203.0.113.0/24", None, None, None)],
                "203.0.113.5",
                (DstClass::Authorized, false),
            ),
            (
                "other source",
                vec![auth("10.9.0.10", Some("10.1.0.0/16"), None, None)],
                "10.9.0.10",
                (DstClass::Internal, false),
            ),
            (
                "other encapsulation",
                vec![auth("10.9.0.10", None, Some(Encap::Erspan2), None)],
                "10.9.0.10",
                (DstClass::Internal, false),
            ),
            (
                "expired",
                vec![auth("10.9.0.10", None, None, old)],
                "10.9.0.10",
                (DstClass::Internal, true),
            ),
            (
                "valid through the day",
                vec![auth("10.9.0.10", None, None, later)],
                "10.9.0.10",
                (DstClass::Authorized, false),
            ),
            (
                "expired and a valid one",
                vec![
                    auth("10.9.0.10", None, None, old),
                    auth("10.9.0.0/24", None, None, None),
                ],
                "10.9.0.10",
                (DstClass::Authorized, false),
            ),
        ];
        for (what, entries, dst, want) in cases {
            assert_eq!(
                classify(&entries, &internal, &key(Encap::Vxlan, dst), t2026),
                want,
                "{what}"
            );
        }
    }

    #[test]
    fn judge_table() {
        let mut flows = Bloom::default();
        flows.insert(42);
        let stats = |packets: u64, both: u64, dups: u64, rev_flow: bool| {
            let mut s = SessionStats {
                packets,
                both_directions: both,
                dup_packets: dups,
                inner_related: 0,
                ..SessionStats::default()
            };
            if rev_flow {
                s.flows_rev.insert(42);
            }
            s
        };
        let rev_matching = (10u64, flows.clone());
        let rev_other = (10u64, Bloom::default());
        type Case<'a> = (
            &'a str,
            Encap,
            SessionStats,
            Option<&'a (u64, Bloom)>,
            Verdict,
            &'a str,
        );
        let cases: [Case<'_>; 9] = [
            (
                "erspan is a mirror",
                Encap::Erspan2,
                stats(1, 0, 0, false),
                None,
                Verdict::Mirror,
                "mirror_encapsulation",
            ),
            (
                "tzsp is a mirror",
                Encap::Tzsp,
                stats(1, 0, 0, false),
                None,
                Verdict::Mirror,
                "mirror_encapsulation",
            ),
            (
                "both directions one way",
                Encap::Vxlan,
                stats(2, 1, 0, false),
                None,
                Verdict::Mirror,
                "both_directions",
            ),
            (
                "duplicates",
                Encap::Geneve,
                stats(2, 0, 1, false),
                None,
                Verdict::Mirror,
                "duplicates",
            ),
            (
                "matching reverse tunnel",
                Encap::Vxlan,
                stats(2, 0, 0, true),
                Some(&rev_matching),
                Verdict::Overlay,
                "matching_directions",
            ),
            (
                "too few packets",
                Encap::Vxlan,
                stats(2, 0, 0, false),
                None,
                Verdict::Undetermined,
                "too_few_packets",
            ),
            (
                "reverse, enough packets",
                Encap::GreTeb,
                stats(10, 0, 0, false),
                Some(&rev_other),
                Verdict::Overlay,
                "reverse_traffic",
            ),
            (
                "one way, enough packets",
                Encap::Vxlan,
                stats(10, 0, 0, false),
                None,
                Verdict::Undetermined,
                "one_way",
            ),
            (
                "duplicates beat a reverse tunnel",
                Encap::Vxlan,
                stats(10, 0, 3, true),
                Some(&rev_matching),
                Verdict::Mirror,
                "duplicates",
            ),
        ];
        for (what, encap, s, rev, want, signal) in cases {
            let (v, ev) = judge(&key(encap, "10.9.0.10"), &s, rev, 4);
            assert_eq!(v, want, "{what}");
            assert!(ev.iter().any(|e| e.starts_with(signal)), "{what}: {ev:?}");
        }
    }
}
