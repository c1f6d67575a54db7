//! Export traffic from capture files: UDP datagrams to the collector ports
//! in pcap/pcapng files, read with [`crate::source::CaptureFile`] and the
//! project's decoder.
