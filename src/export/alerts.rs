//! Alert and evidence writers.
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::detect::alert::Alert;
use crate::detect::{Engine, Processed, SessionKey, evidence_file_name};
use crate::export::pcapfile::PcapWriter;
use crate::source::Frame;

/// Writes alerts as JSON lines.
pub struct AlertWriter {
    out: Box<dyn Write + Send>,
    /// The file (None for standard output or a given writer).
    path: Option<String>,
    pub written: u64,
}

impl AlertWriter {
    /// `-` is standard output; anything else a file (appended to, so a
    /// restart never loses earlier alerts).
    pub fn open(path: &str) -> std::io::Result<Self> {
        if path == "-" {
            return Ok(AlertWriter {
                out: Box::new(std::io::stdout()),
                path: None,
                written: 0,
            });
        }
        Ok(AlertWriter {
            out: Box::new(Self::append(path)?),
            path: Some(path.to_owned()),
            written: 0,
        })
    }

    fn append(path: &str) -> std::io::Result<BufWriter<File>> {
        Ok(BufWriter::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?,
        ))
    }

    pub fn from_writer(out: Box<dyn Write + Send>) -> Self {
        AlertWriter {
            out,
            path: None,
            written: 0,
        }
    }

    /// Flushes and reopens the file by its name (after logrotate moved
    /// it: SIGHUP). On failure the old file stays in use.
    pub fn reopen(&mut self) -> std::io::Result<()> {
        let Some(path) = self.path.clone() else {
            return Ok(());
        };
        self.out.flush()?;
        self.out = Box::new(Self::append(&path)?);
        Ok(())
    }

    /// Writes one alert as one line, handed to the output whole.
    pub fn write(&mut self, a: &Alert) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(a)?;
        line.push(b'\n');
        self.out.write_all(&line)?;
        self.written += 1;
        Ok(())
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

struct EvidenceFile {
    writer: PcapWriter<BufWriter<File>>,
    packets: u64,
    bytes: u64,
}

/// Evidence captures: one pcap per alerting session, with its frames as
/// captured (outer headers intact), capped per session.
pub struct EvidenceWriter {
    dir: PathBuf,
    max_packets: u64,
    max_bytes: u64,
    max_files: usize,
    files: HashMap<SessionKey, EvidenceFile>,
    /// Frames not written because a cap was reached.
    pub capped: u64,
    /// The first write error, reported once.
    pub error: Option<String>,
}

impl EvidenceWriter {
    pub fn new(dir: &Path, max_packets: u64, max_bytes: u64) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(EvidenceWriter {
            dir: dir.to_path_buf(),
            max_packets,
            max_bytes,
            max_files: 1024,
            files: HashMap::new(),
            capped: 0,
            error: None,
        })
    }

    /// Appends a frame to the session's evidence file.
    pub fn write(
        &mut self,
        key: &SessionKey,
        linktype: i32,
        ts_us: i64,
        orig_len: u32,
        data: &[u8],
    ) {
        if self.error.is_some() {
            return;
        }
        if !self.files.contains_key(key) {
            if self.files.len() >= self.max_files {
                self.capped += 1;
                return;
            }
            let path = self.dir.join(evidence_file_name(key));
            let opened = File::create(&path)
                .and_then(|f| PcapWriter::new(BufWriter::new(f), linktype as u32));
            match opened {
                Ok(writer) => {
                    self.files.insert(
                        *key,
                        EvidenceFile {
                            writer,
                            packets: 0,
                            bytes: 0,
                        },
                    );
                }
                Err(e) => {
                    self.error = Some(format!("{}: {e}", path.display()));
                    return;
                }
            }
        }
        let Some(f) = self.files.get_mut(key) else {
            return;
        };
        if f.packets >= self.max_packets || f.bytes + data.len() as u64 > self.max_bytes {
            self.capped += 1;
            return;
        }
        if let Err(e) = f.writer.write_packet(ts_us, orig_len, data) {
            self.error = Some(format!(
                "{}: {e}",
                self.dir.join(evidence_file_name(key)).display()
            ));
            return;
        }
        f.packets += 1;
        f.bytes += data.len() as u64;
    }

    /// Keeps a processed frame when the engine marked it as evidence of
    /// its (alerting) session.
    #[inline]
    pub fn keep(&mut self, engine: &Engine, p: Processed, dlt: i32, fr: &Frame<'_>) {
        if p.evidence
            && let Some(r) = p.session
            && let Some((key, _)) = engine.sessions.get(r)
        {
            self.write(key, dlt, fr.ts_us, fr.orig_len, fr.data);
        }
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        for f in self.files.values_mut() {
            f.writer.flush()?;
        }
        Ok(())
    }

    pub fn files_written(&self) -> usize {
        self.files.len()
    }
}
