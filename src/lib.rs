//! mirrorwatch: finds traffic mirroring sessions (ERSPAN, VXLAN, Geneve,
//! GRE, TZSP) and the copies they carry, to detect exfiltration by traffic
//! duplication (MITRE ATT&CK T1020.001).
//!
//! The modules follow the data: [`source`] → [`decode`] → [`detect`] →
//! [`export`], and [`pipeline`] drives them (one driver for `replay`,
//! `replay --listen` and `live`); [`report`] is the one report model the
//! table, JSON, API, metrics and report use. The scenario generator is the
//! workspace crate `mirrorwatch-synth` (`mirrorwatch synth`).
/// A fieldless enum whose variants have fixed labels (used in JSON, in
/// metric labels and on the command line): `ALL` in declaration order,
/// `COUNT`, `as_str`, `parse`, `Display`, and serialisation as the label.
macro_rules! labelled_enum {
    (@unit $v:ident) => { () };
    ($(#[$m:meta])* pub enum $name:ident {
        $($(#[$vm:meta])* $variant:ident => $label:literal,)+
    }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vm])* $variant,)+ }
        impl $name {
            pub const ALL: [$name; <[()]>::len(&[$(labelled_enum!(@unit $variant)),+])] =
                [$($name::$variant,)+];
            pub const COUNT: usize = $name::ALL.len();
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $label,)+ }
            }
            pub fn parse(s: &str) -> Option<$name> {
                $name::ALL.into_iter().find(|v| v.as_str() == s)
            }
        }
        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                $name::parse(&s).ok_or_else(|| {
                    serde::de::Error::custom(format!("unknown {} {s:?}", stringify!($name)))
                })
            }
        }
    };
}

pub mod compress;
pub mod config;
pub mod decode;
pub mod detect;
pub mod export;
pub mod flows;
pub mod logs;
pub mod pipeline;
pub mod report;
pub mod sensor;
pub mod source;
pub mod store;
pub mod time;
