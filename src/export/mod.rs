//! Output: human-readable reports, JSON, capture files.
pub mod alerts;
pub mod http;
pub mod metrics;
pub mod pcapfile;
pub mod state;
pub mod table;
