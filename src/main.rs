//! The `mirrorwatch` command line: parse arguments, run, map the outcome to
//! an exit code. All the work is in the library.
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use mirrorwatch::config::Config;
use mirrorwatch::detect::alert::Severity;
use mirrorwatch::export::alerts::{AlertWriter, EvidenceWriter};
use mirrorwatch::export::table;
use mirrorwatch::replay::{self, Progress};

const EXAMPLES: &str = "\
Examples:
  mirrorwatch replay pcaps/erspan2.pcap
  mirrorwatch replay --format json capture1.pcap capture2.pcapng > inventory.json
  tcpdump -i eth0 -w - | mirrorwatch replay -
  mirrorwatch synth --out pcaps
  mirrorwatch synth --mixed --packets 1000000 --out /tmp/mixed.pcap";

/// Finds traffic-mirroring sessions (ERSPAN, VXLAN, Geneve, GRE, TZSP) used
/// to exfiltrate copies of traffic (MITRE ATT&CK T1020.001).
#[derive(Parser)]
#[command(name = "mirrorwatch", version, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read pcap/pcapng files and print the mirror-session inventory.
    #[command(after_help = "\
Examples:
  mirrorwatch replay pcaps/erspan2.pcap
  mirrorwatch replay --format json a.pcap b.pcapng > inventory.json
  mirrorwatch replay --config sensor.toml /data/span-*.pcap
  mirrorwatch replay --alerts alerts.jsonl --evidence evidence/ --fail-on high suspect.pcap
  tcpdump -i eth0 -w - | mirrorwatch replay -

Files are read in order into one session table; `-` reads standard input.
Exit status: 0 on success (a capture cut off mid-record or with an
unsupported link type is reported as a warning and its frames are kept),
1 when an input could not be opened or an output could not be written,
2 on a usage or configuration error, 3 when --fail-on is given and an
alert at or above that severity was raised.")]
    Replay {
        /// Configuration file (TOML); see docs/configuration.md.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Write alerts as JSON lines to FILE (appended), `-` for stdout.
        #[arg(long, value_name = "FILE")]
        alerts: Option<String>,
        /// Write a pcap per alerting session into DIR.
        #[arg(long, value_name = "DIR")]
        evidence: Option<PathBuf>,
        /// Exit with status 3 when an alert at or above SEVERITY was raised.
        #[arg(long, value_name = "SEVERITY", value_parser = ["info", "low", "medium", "high"])]
        fail_on: Option<String>,
        /// Capture files (pcap or pcapng), `-` for standard input.
        #[arg(required = true, value_name = "PCAP")]
        pcaps: Vec<String>,
    },
    /// Print the default configuration, or check a configuration file.
    #[command(
        subcommand,
        after_help = "\
Examples:
  mirrorwatch config default > /etc/mirrorwatch.toml
  mirrorwatch config check /etc/mirrorwatch.toml"
    )]
    Config(ConfigCommand),
    /// Generate the deterministic scenario captures, or a large mixed one.
    #[command(after_help = "\
Examples:
  mirrorwatch synth --out pcaps                  # every scenario, one file each
  mirrorwatch synth --mixed --packets 1000000 --out /tmp/mixed.pcap")]
    Synth {
        /// Output directory (scenarios) or file (--mixed).
        #[arg(long, short, value_name = "PATH")]
        out: PathBuf,
        /// Write one large mixed capture for benchmarks instead.
        #[arg(long)]
        mixed: bool,
        /// Packets in the mixed capture.
        #[arg(long, default_value_t = 1_000_000, requires = "mixed")]
        packets: u64,
        /// Seed of the mixed capture.
        #[arg(long, default_value_t = 1, requires = "mixed")]
        seed: u64,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print every setting with its default and a comment.
    Default,
    /// Validate a configuration file; errors name the field and line.
    Check {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// Readable table, totals and decode errors.
    Table,
    /// One JSON document (see README for the fields).
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mirrorwatch: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Replay {
            config,
            format,
            alerts,
            evidence,
            fail_on,
            pcaps,
        } => run_replay(ReplayArgs {
            config,
            format,
            alerts,
            evidence,
            fail_on,
            pcaps,
        }),
        Command::Config(ConfigCommand::Default) => {
            print!("{}", mirrorwatch::config::DEFAULT_TOML);
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Check { file }) => {
            let cfg = Config::load(&file)?;
            println!(
                "{}: ok (sensor {:?}, {} internal networks, {} authorized destinations)",
                file.display(),
                cfg.sensor,
                cfg.internal_networks.len(),
                cfg.authorized.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Synth {
            out,
            mixed,
            packets,
            seed,
        } => run_synth(&out, mixed, packets, seed),
    }
}

fn load_config(path: Option<PathBuf>) -> anyhow::Result<Config> {
    Ok(match path {
        Some(p) => Config::load(&p)?,
        None => Config::default(),
    })
}

struct ReplayArgs {
    config: Option<PathBuf>,
    format: Format,
    alerts: Option<String>,
    evidence: Option<PathBuf>,
    fail_on: Option<String>,
    pcaps: Vec<String>,
}

fn run_replay(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let ReplayArgs {
        config,
        format,
        alerts,
        evidence,
        fail_on,
        pcaps,
    } = args;
    let cfg = load_config(config)?;
    let mut alert_writer = match &alerts {
        Some(p) => {
            Some(AlertWriter::open(p).with_context(|| format!("{p}: cannot open alerts file"))?)
        }
        None => None,
    };
    let mut evidence_writer = match &evidence {
        Some(d) => Some(
            EvidenceWriter::new(
                d,
                cfg.evidence.max_packets_per_session,
                cfg.evidence.max_bytes_per_session,
            )
            .with_context(|| format!("{}: cannot create evidence directory", d.display()))?,
        ),
        None => None,
    };
    let stderr_tty = std::io::stderr().is_terminal();
    let mut shown = false;
    let mut bar = |p: Progress<'_>| {
        let secs = p.elapsed.as_secs_f64().max(1e-9);
        eprint!(
            "\r[{}/{}] {}: {} packets, {}, {:.2} Mpkt/s   ",
            p.file_index + 1,
            p.files,
            p.path,
            p.packets,
            table::human_bytes(p.bytes),
            p.packets as f64 / secs / 1e6
        );
        shown = true;
    };
    let progress: Option<&mut dyn FnMut(Progress<'_>)> =
        if stderr_tty { Some(&mut bar) } else { None };
    let (report, problems) = replay::replay_with(
        &pcaps,
        &cfg,
        replay::Outputs {
            progress,
            alerts: alert_writer.as_mut(),
            evidence: evidence_writer.as_mut(),
        },
    );
    if shown {
        eprint!("\r\x1b[K");
    }
    let mut stdout = std::io::stdout().lock();
    match format {
        Format::Table => stdout.write_all(table::render(&report).as_bytes())?,
        Format::Json => {
            serde_json::to_writer_pretty(&mut stdout, &report)?;
            stdout.write_all(b"\n")?;
        }
    }
    stdout.flush()?;
    for (path, dlt) in &problems.unsupported {
        eprintln!(
            "mirrorwatch: warning: {path}: link type {dlt} is not supported; its frames were counted, not decoded"
        );
    }
    for e in &problems.truncated {
        eprintln!("mirrorwatch: warning: {e}; the frames before it are in the report");
    }
    for e in &problems.unreadable {
        eprintln!("mirrorwatch: error: {e}");
    }
    for e in &problems.output {
        eprintln!("mirrorwatch: error: {e}");
    }
    if !problems.unreadable.is_empty() || !problems.output.is_empty() {
        return Ok(ExitCode::from(1));
    }
    let threshold = fail_on.as_deref().and_then(Severity::parse);
    Ok(match (threshold, report.max_severity()) {
        (Some(t), Some(max)) if max >= t => ExitCode::from(3),
        _ => ExitCode::SUCCESS,
    })
}

fn run_synth(
    out: &std::path::Path,
    mixed: bool,
    packets: u64,
    seed: u64,
) -> anyhow::Result<ExitCode> {
    use mirrorwatch::synth;
    if mixed {
        let f = std::fs::File::create(out)
            .with_context(|| format!("{}: cannot create", out.display()))?;
        let s = synth::write_mixed(std::io::BufWriter::new(f), packets, seed)
            .with_context(|| format!("{}: write failed", out.display()))?;
        eprintln!(
            "wrote {} ({} packets, {})",
            out.display(),
            s.packets,
            table::human_bytes(s.bytes)
        );
        return Ok(ExitCode::SUCCESS);
    }
    std::fs::create_dir_all(out)
        .with_context(|| format!("{}: cannot create directory", out.display()))?;
    for s in synth::scenarios() {
        let path = out.join(s.file_name());
        let f = std::fs::File::create(&path)
            .with_context(|| format!("{}: cannot create", path.display()))?;
        synth::write_scenario(std::io::BufWriter::new(f), &s)
            .with_context(|| format!("{}: write failed", path.display()))?;
        eprintln!(
            "wrote {} ({} packets): {}",
            path.display(),
            s.packets.len(),
            s.description
        );
    }
    Ok(ExitCode::SUCCESS)
}
