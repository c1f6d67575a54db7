//! Output: human-readable reports, JSON, capture files.
pub mod pcapfile;
pub mod table;
