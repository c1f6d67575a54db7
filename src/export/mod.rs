//! Output: human-readable reports, JSON, capture files.
pub mod alerts;
pub mod formats;
pub mod http;
pub mod incident;
pub mod metrics;
/// The capture-file writers (a workspace crate shared with the scenario
/// generator).
pub use mirrorwatch_pcapfile as pcapfile;
pub mod state;
pub mod syslog;
pub mod table;
