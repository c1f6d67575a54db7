//! Decompression of inputs as other tools hand them over: gzip of any
//! number of members ([`gzip`]), zstd of any number of frames ([`zstd`]),
//! and a thread that runs a decompressor ahead of its reader
//! ([`decompress`]).
//!
//! A leaf: plain `std::io::Read` adapters that know nothing of captures or
//! logs, used by the capture reader and the flow-log reader
//! (`crate::source`) and by the configuration-log reader (`crate::logs`)
//! alike, so that each reads a compressed file the same way.
pub mod decompress;
pub mod gzip;
pub mod zstd;
