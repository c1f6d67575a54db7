//! mirrorwatch: finds traffic mirroring sessions (ERSPAN, VXLAN, Geneve,
//! GRE, TZSP) and the copies they carry, to detect exfiltration by traffic
//! duplication (MITRE ATT&CK T1020.001).
//!
//! The modules follow the data: [`source`] → [`decode`] → [`detect`] →
//! [`export`]. [`replay`] ties them together for capture files and
//! [`synth`] generates the scenario captures used by tests and benchmarks.
pub mod config;
pub mod decode;
pub mod detect;
pub mod export;
pub mod logs;
pub mod replay;
pub mod sensor;
pub mod source;
pub mod synth;
pub mod time;
