//! Output: human-readable reports, JSON, capture files.
pub mod alerts;
pub mod pcapfile;
pub mod table;
