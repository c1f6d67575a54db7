//! The `mirrorwatch` command line: parse arguments, run, map the outcome to
//! an exit code. All the work is in the library.
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};

use mirrorwatch::config::Config;
use mirrorwatch::detect::alert::Severity;
use mirrorwatch::export::alerts::{AlertWriter, EvidenceWriter};
use mirrorwatch::export::formats::AlertFormat;
use mirrorwatch::export::table;
use mirrorwatch::pipeline::{self, Progress, Signals, signals::exit_status};
use mirrorwatch::report::Report;
use mirrorwatch::sensor::{self, Input, SensorOptions};
use mirrorwatch::source::live::LiveOptions;

const EXAMPLES: &str = "\
Examples:
  mirrorwatch replay pcaps/erspan3.pcap
  mirrorwatch replay --format json capture1.pcap capture2.pcapng > inventory.json
  mirrorwatch replay --alerts alerts.jsonl --evidence evidence/ --fail-on high suspect.pcap
  mirrorwatch report --html incident.html --markdown incident.md --logs cloudtrail.json suspect.pcap
  mirrorwatch live -i eth1 --config /etc/mirrorwatch.toml --alerts /var/log/mirrorwatch.jsonl
  mirrorwatch config default > /etc/mirrorwatch.toml
  mirrorwatch synth --out pcaps";

/// Finds traffic-mirroring sessions (ERSPAN, VXLAN, Geneve, GRE, TZSP) used
/// to exfiltrate copies of traffic (MITRE ATT&CK T1020.001).
#[derive(Parser)]
#[command(name = "mirrorwatch", version, after_help = EXAMPLES)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Read pcap/pcapng files and print the mirror-session inventory.
    #[command(after_help = "\
Examples:
  mirrorwatch replay pcaps/erspan3.pcap
  mirrorwatch replay --format json a.pcap b.pcapng > inventory.json
  mirrorwatch replay --config sensor.toml /data/span-*.pcap
  mirrorwatch replay --alerts alerts.jsonl --evidence evidence/ --fail-on high suspect.pcap
  mirrorwatch replay --listen 127.0.0.1:9750 --pace realtime --hold suspect.pcap
  mirrorwatch replay --state case-42.db day1.pcap && mirrorwatch replay --state case-42.db day2.pcap
  mirrorwatch replay <(zcat capture.pcap.gz)
  tcpdump -i eth0 -w - | mirrorwatch replay -
  mirrorwatch replay --flows netflow-exports.pcap --flows vpc-flow-logs/ span.pcap
  mirrorwatch replay --workers 4 --format json /data/big-capture.pcap.zst

Files are read in order into one session table; `-` reads standard input.
--flows inputs are read after the captures: a session seen in packets and
in flow records is one session, seen_by both, alerted once. Export
datagrams inside the captures (UDP to flows.collector_ports) count too.
SIGINT or SIGTERM stops reading, also from a pipe or FIFO that sends
nothing more: what was read is judged, alerts and evidence are flushed, and the report is printed with \"interrupted\": true.
SIGHUP re-reads --config.
Exit status: 0 on success (a capture cut off mid-record or with an
unsupported link type is reported as a warning and its frames are kept),
1 when an input (a capture, or a --logs or --flows input of which nothing
could be read) could not be opened or an output (standard output, alerts,
evidence) could not be written,
2 on a usage or configuration error (an input given twice, even under
another path, is one), 3 when --fail-on is given and an alert at or above
that severity was raised, 130 or 143 when stopped by SIGINT or SIGTERM.")]
    Replay(ReplayArgs),
    /// Replay captures and write the analyst's incident report: one
    /// self-contained HTML page and/or its Markdown twin.
    #[command(after_help = "\
Examples:
  mirrorwatch report --html incident.html pcaps/erspan3.pcap
  mirrorwatch report --html incident.html --markdown incident.md \\
      --config /etc/mirrorwatch.toml --logs cloudtrail.json --evidence evidence/ suspect.pcap
  SOURCE_DATE_EPOCH=0 mirrorwatch report --markdown ticket.md capture.pcapng

The report answers the playbook's questions (unauthorised mirror
configurations? copies towards external or unknown addresses? changes
traceable to users?), states the escalation decision and its reasons, and
gives per session its verdict and evidence, a bytes/s chart, the
configuration events that explain it, duplicates, the top inner hosts and
services, containment commands for the platform that made it (filled in
from the correlated event when --logs has one) and the chain of custody:
SHA-256 of every input, evidence file and the alerts file, and the
mirrorwatch version. The HTML has no external asset (inline CSS and SVG)
and prints cleanly. SOURCE_DATE_EPOCH fixes the \"generated\" time.
Exit status as for replay (3 with --fail-on).")]
    Report(ReportArgs),
    /// Capture live from interfaces and serve metrics and the HTTP API.
    #[command(after_help = "\
Examples:
  mirrorwatch live -i eth1
  mirrorwatch live -i eth1 -i eth2 --bpf 'not port 22' --config /etc/mirrorwatch.toml
  mirrorwatch live -i span0 --alerts /var/log/mirrorwatch/alerts.jsonl --evidence /var/lib/mirrorwatch --user nobody
  mirrorwatch live --flow-listen 0.0.0.0:2055 --flow-listen 0.0.0.0:6343 --listen 0.0.0.0:9750 --web-config web.yml
  mirrorwatch live -i tap0 --flow-listen 0.0.0.0:4739
  mirrorwatch live -i ens1f0 -i ens1f1 --workers 4 --buffer-mib 256

HTTP (default 127.0.0.1:9750): /metrics, /healthz (503 while an output
fails), /api/v1/sessions, /api/v1/alerts?since=RFC3339. SIGINT/SIGTERM stop
(queues drained, alerts and evidence flushed, state saved; exit 0), SIGHUP
reopens --alerts (logrotate) and re-reads --config. Sessions, alerted kinds
and configuration events survive restarts in --state (SQLite; --no-state
for none, --fresh-state to start afresh). --flow-listen receives NetFlow
v5/v9, IPFIX and sFlow (told by content) into the same inventory; with no
--interface the sensor is a flow collector (docs/scale.md for fleets).")]
    Live(LiveArgs),
    /// Read device syslog and cloud audit logs and list the mirror
    /// configuration changes in them.
    #[command(after_help = "\
Examples:
  mirrorwatch logs /var/log/network/switches.log
  mirrorwatch logs --config /etc/mirrorwatch.toml cloudtrail/*.json.gz gcp-audit.jsonl
  mirrorwatch logs --format json --alerts alerts.jsonl azure-activity.jsonl
  mirrorwatch logs --alerts changes.ocsf.jsonl --alerts-format ocsf \
      --alerts-syslog tcp://siem.example:514 cloudtrail.json

Recognised: Cisco IOS/IOS-XE/NX-OS (MIRROR/SPAN messages, logged `monitor
session` / `monitor capture` commands), Arista EOS, Juniper (port-mirroring,
analyzer), AWS CloudTrail Traffic Mirroring calls, GCP packetMirrorings and
mirroring resources, Azure virtual network TAPs. Lines that match nothing
are counted, not alerted; malformed records are warnings naming file and
line. Exit status: 0 on success, 1 when a file could not be read or an
output (standard output, --alerts) could not be written (the events are
still printed), 2 on a usage or configuration error (a file given twice
is one).")]
    Logs(LogsArgs),
    /// Read captures of flow exports (NetFlow v5/v9, IPFIX, sFlow v5),
    /// cloud flow logs (AWS VPC, GCP VPC, Azure VNet/NSG) and IDS logs
    /// (Zeek, Suricata) and list the mirror sessions in the flow records.
    #[command(after_help = "\
Examples:
  mirrorwatch flows exports.pcap
  mirrorwatch flows --format json --config /etc/mirrorwatch.toml netflow-*.pcapng
  tcpdump -i eth0 -w exports.pcap 'udp port 2055 or udp port 4739 or udp port 6343'
  mirrorwatch flows --alerts alerts.jsonl --fail-on high exports.pcap
  mirrorwatch flows vpc-flow-logs/ conn.log eve.json.gz
  mirrorwatch flows --input-format aws-vpc flows.log.gz
  mirrorwatch flows --logs cloudtrail.json sflow-exports.pcap

Export datagrams are UDP to flows.collector_ports (2055, 4739, 9995, 9996,
6343 by default); the format is told by content. A record to IP protocol
47 or to a VXLAN/VXLAN-GPE/Geneve/TZSP/GRE-in-UDP port (decode.*_ports) is
a mirror or tunnel session; sFlow raw headers and IPFIX packet sections
(315, 313) are decoded for the exact encapsulation and ERSPAN id / VNI.
Sampled counts are scaled by the sampling rate and marked estimated. A
datagram that cannot be read is counted and skipped with a warning naming
file and frame.

Log files (plain, gzip or zstd, directories walked): AWS VPC Flow Logs (default
format, or custom formats with their header line), GCP VPC Flow Logs
(Cloud Logging JSON), Azure VNet flow logs and NSG flow logs v2, Zeek
conn.log and tunnel.log (TSV or JSON), Suricata EVE flow and netflow
events; the kind is told by content unless --input-format says it. A
malformed line is counted and skipped with a warning naming file and line.
Per (source, destination, protocol) pair a rate baseline is kept:
flow_volume_shift is raised for a new one-way pair to an external address
at flows.new_flow_min_bytes_per_s or more, or a jump past
alerts.spike_factor x the baseline. --logs links sessions to configuration
events as for replay. Exit status as for replay.")]
    Flows(FlowsArgs),
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
    Synth(SynthArgs),
}

#[derive(Args)]
struct Outputs {
    /// Configuration file (TOML); `mirrorwatch config default` prints one.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Write alerts as JSON lines to FILE (appended), `-` for stdout.
    #[arg(long, value_name = "FILE")]
    alerts: Option<String>,
    /// Format of the --alerts lines: mirrorwatch's own JSON, Suricata EVE,
    /// Elastic Common Schema or an OCSF Detection Finding (docs/alerts.md).
    #[arg(long, value_name = "FORMAT", default_value = "native", value_parser = parse_alerts_format)]
    alerts_format: AlertFormat,
    /// Also send each alert as an RFC 5424 syslog message (MSG: the line
    /// in --alerts-format) to a collector, reconnecting with backoff.
    #[arg(long, value_name = "udp://HOST:PORT|tcp://HOST:PORT")]
    alerts_syslog: Option<String>,
    /// Write a pcap per alerting session into DIR.
    #[arg(long, value_name = "DIR")]
    evidence: Option<PathBuf>,
}

#[derive(Args)]
struct ReplayArgs {
    #[command(flatten)]
    out: Outputs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Exit with status 3 when an alert at or above SEVERITY was raised.
    #[arg(long, value_name = "SEVERITY", value_parser = ["info", "low", "medium", "high"])]
    fail_on: Option<String>,
    /// Configuration-change log (device syslog, CloudTrail, GCP or Azure
    /// audit log; .gz or .zst too) to link to the sessions (repeatable).
    #[arg(long = "logs", value_name = "FILE")]
    logs: Vec<String>,
    /// Year of RFC 3164 syslog times in --logs (they carry none); default
    /// this year.
    #[arg(long)]
    year: Option<i32>,
    /// Serve /metrics and the HTTP API while replaying (e.g. 127.0.0.1:9750).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// With --listen: replay at the capture's pace (`realtime`) or FACTOR
    /// times faster (e.g. 10).
    #[arg(long, value_name = "realtime|FACTOR", requires = "listen", value_parser = parse_pace)]
    pace: Option<f64>,
    /// With --listen: keep serving after the end until SIGINT/SIGTERM.
    #[arg(long, requires = "listen")]
    hold: bool,
    /// With --listen: TLS and basic/bearer authentication from a web
    /// configuration file (Prometheus exporter-toolkit format).
    #[arg(long, value_name = "FILE", requires = "listen")]
    web_config: Option<PathBuf>,
    /// Keep the session inventory, alerted kinds and configuration events
    /// in this SQLite database across runs (restored at start, saved at
    /// the end).
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Drop what the --state database held and start afresh.
    #[arg(long, requires = "state")]
    fresh_state: bool,
    /// Flow records to merge into the replay (repeatable): captures of
    /// NetFlow/IPFIX/sFlow export traffic, AWS/GCP/Azure flow logs, Zeek
    /// conn/tunnel logs, Suricata EVE, or directories of them. A session
    /// seen in packets and in flows is one session, `seen_by` both.
    #[arg(long = "flows", value_name = "INPUT")]
    flows: Vec<String>,
    /// Threads beside the engine thread: 0 does everything on one thread;
    /// 1 reads and decodes the captures on a thread of its own; N >= 2
    /// reads on one and decodes and fingerprints on N - 1 more. Default:
    /// one per core beyond the engine's, from 1 to 4 (1 on two cores).
    /// Results are the same for every N. On a virtual machine whose vCPUs
    /// the host runs in different caches, 0 can be faster: time both.
    /// Standard input, a FIFO or a device among the inputs is read on the
    /// engine thread, so that each frame is judged as it arrives.
    #[arg(long, value_name = "N", value_parser = parse_workers)]
    workers: Option<usize>,
    /// Capture files (pcap or pcapng), `-` for standard input.
    #[arg(required = true, value_name = "PCAP")]
    pcaps: Vec<String>,
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("report_out").required(true).multiple(true)))]
struct ReportArgs {
    #[command(flatten)]
    out: Outputs,
    /// Write the HTML report to FILE.
    #[arg(long, value_name = "FILE", group = "report_out")]
    html: Option<PathBuf>,
    /// Write the Markdown report to FILE.
    #[arg(long, value_name = "FILE", group = "report_out")]
    markdown: Option<PathBuf>,
    /// Exit with status 3 when an alert at or above SEVERITY was raised.
    #[arg(long, value_name = "SEVERITY", value_parser = ["info", "low", "medium", "high"])]
    fail_on: Option<String>,
    /// Configuration-change log (device syslog, CloudTrail, GCP or Azure
    /// audit log; .gz or .zst too) to link to the sessions (repeatable).
    #[arg(long = "logs", value_name = "FILE")]
    logs: Vec<String>,
    /// Year of RFC 3164 syslog times in --logs; default this year.
    #[arg(long)]
    year: Option<i32>,
    /// Flow records to merge into the replay (repeatable), as for replay
    /// --flows; their files are hashed with the other inputs.
    #[arg(long = "flows", value_name = "INPUT")]
    flows: Vec<String>,
    /// Capture files (pcap or pcapng), `-` for standard input.
    #[arg(required = true, value_name = "PCAP")]
    pcaps: Vec<String>,
}

#[derive(Args)]
struct LiveArgs {
    /// Interface to capture from (repeat for several).
    #[arg(
        short = 'i',
        long = "interface",
        required_unless_present = "flow_listen",
        value_name = "IFACE"
    )]
    interfaces: Vec<String>,
    /// Receive NetFlow v5/v9, IPFIX and sFlow v5 export datagrams on this
    /// UDP address (repeatable; the format is told by content), e.g.
    /// 0.0.0.0:2055. With no --interface the sensor is a flow collector.
    #[arg(long = "flow-listen", value_name = "ADDR")]
    flow_listen: Vec<String>,
    /// BPF filter expression, as for tcpdump.
    #[arg(long, value_name = "EXPR")]
    bpf: Option<String>,
    #[command(flatten)]
    out: Outputs,
    /// HTTP address for /metrics and the API.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9750")]
    listen: String,
    /// TLS and basic/bearer authentication of the HTTP server, from a web
    /// configuration file (Prometheus exporter-toolkit format).
    #[arg(long, value_name = "FILE")]
    web_config: Option<PathBuf>,
    /// Snap length: bytes kept of each frame.
    #[arg(long, default_value_t = 65_535)]
    snaplen: i32,
    /// Kernel capture buffer, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 32)]
    buffer_mib: i32,
    /// Do not put the interfaces in promiscuous mode.
    #[arg(long)]
    no_promisc: bool,
    /// Deliver each packet at once instead of in kernel-filled blocks
    /// (lower latency, more wake-ups, more drops at high rates).
    #[arg(long)]
    immediate: bool,
    /// Drop privileges to USER once the interfaces are open.
    #[arg(long, value_name = "USER")]
    user: Option<String>,
    /// Threads beside the engine thread that decode: 0 or 1, each capture
    /// thread decodes its own frames; N >= 2, capture threads only capture
    /// and N - 1 decode workers decode and fingerprint for all of them
    /// (each interface's frames still reach the engine in capture order).
    /// Default: one per core beyond the engine's, from 1 to 4 (1 on two
    /// cores). Results are the same for every N.
    #[arg(long, value_name = "N", value_parser = parse_workers)]
    workers: Option<usize>,
    /// Receive device syslog (RFC 3164/5424, UDP and TCP) on ADDR and link
    /// mirror configuration changes to the sessions (e.g. 127.0.0.1:5514).
    #[arg(long, value_name = "ADDR")]
    syslog_listen: Option<String>,
    /// Configuration-change log files read at start (repeatable).
    #[arg(long = "logs", value_name = "FILE")]
    logs: Vec<String>,
    /// Year of RFC 3164 syslog times (they carry none); default this year.
    #[arg(long)]
    year: Option<i32>,
    /// SQLite database of the state that survives restarts (sessions,
    /// alerted kinds, baselines, configuration events); checkpointed every
    /// 10 s and at shutdown.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "/var/lib/mirrorwatch/state.db"
    )]
    state: PathBuf,
    /// Keep no state across restarts.
    #[arg(long, conflicts_with = "fresh_state")]
    no_state: bool,
    /// Drop what the --state database held and start afresh.
    #[arg(long)]
    fresh_state: bool,
}

#[derive(Args)]
struct LogsArgs {
    /// Configuration file (TOML): the [[authorized]] list is the change
    /// record the events are checked against.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write alerts as JSON lines to FILE (appended), `-` for stdout.
    #[arg(long, value_name = "FILE")]
    alerts: Option<String>,
    /// Format of the --alerts lines: native, eve, ecs or ocsf.
    #[arg(long, value_name = "FORMAT", default_value = "native", value_parser = parse_alerts_format)]
    alerts_format: AlertFormat,
    /// Also send each alert as an RFC 5424 syslog message to a collector.
    #[arg(long, value_name = "udp://HOST:PORT|tcp://HOST:PORT")]
    alerts_syslog: Option<String>,
    /// Year of RFC 3164 syslog times (they carry none); default this year.
    #[arg(long)]
    year: Option<i32>,
    /// Log files: device syslog, CloudTrail ({"Records":[...]} or JSON
    /// lines), GCP or Azure audit logs as exported; .gz or .zst too.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
}

#[derive(Args)]
struct FlowsArgs {
    /// Configuration file (TOML): collector ports, decoder ports, internal
    /// networks and the [[authorized]] list.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write alerts as JSON lines to FILE (appended), `-` for stdout.
    #[arg(long, value_name = "FILE")]
    alerts: Option<String>,
    /// Format of the --alerts lines: native, eve, ecs or ocsf.
    #[arg(long, value_name = "FORMAT", default_value = "native", value_parser = parse_alerts_format)]
    alerts_format: AlertFormat,
    /// Also send each alert as an RFC 5424 syslog message to a collector.
    #[arg(long, value_name = "udp://HOST:PORT|tcp://HOST:PORT")]
    alerts_syslog: Option<String>,
    /// Exit with status 3 when an alert at or above SEVERITY was raised.
    #[arg(long, value_name = "SEVERITY", value_parser = ["info", "low", "medium", "high"])]
    fail_on: Option<String>,
    /// Read every input as this kind instead of telling it from content.
    #[arg(long, value_name = "KIND", value_parser = mirrorwatch::flows::InputFormat::NAMES)]
    input_format: Option<String>,
    /// Configuration-change log (device syslog, CloudTrail, GCP or Azure
    /// audit log; .gz or .zst too) to link to the flow sessions (repeatable).
    #[arg(long = "logs", value_name = "FILE")]
    logs: Vec<String>,
    /// Year of RFC 3164 syslog times in --logs; default this year.
    #[arg(long)]
    year: Option<i32>,
    /// Captures (pcap or pcapng) of export traffic, flow log files (plain,
    /// .gz or .zst) or directories of them.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<String>,
}

#[derive(Args)]
struct SynthArgs {
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

/// Says how many alerts the syslog collector did not get.
fn syslog_warning(stats: Option<&mirrorwatch::export::syslog::SyslogStats>) {
    if let Some(s) = stats {
        let unsent = s.unsent();
        if unsent > 0 {
            eprintln!("mirrorwatch: warning: {unsent} alerts could not be sent to --alerts-syslog");
        }
    }
}

fn parse_alerts_format(s: &str) -> Result<AlertFormat, String> {
    AlertFormat::parse(s).ok_or_else(|| format!("`{s}`: expected native, eve, ecs or ocsf"))
}

/// Most `--workers`: more decode workers than this cannot keep up with one
/// engine thread anyway (docs/performance.md).
const MAX_WORKERS: usize = 64;

/// `--workers`: threads beside the engine thread.
fn parse_workers(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n <= MAX_WORKERS => Ok(n),
        Ok(n) => Err(format!("{n}: at most {MAX_WORKERS} workers")),
        Err(_) => Err(format!(
            "`{s}`: expected a number of threads, 0 to {MAX_WORKERS}"
        )),
    }
}

fn parse_pace(s: &str) -> Result<f64, String> {
    if s == "realtime" {
        return Ok(1.0);
    }
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 => Ok(f),
        _ => Err(format!(
            "`{s}`: expected `realtime` or a positive factor such as 10"
        )),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mirrorwatch: error: {e:#}");
            // An output that could not be written is 1, as documented;
            // anything else that ends the run early is a usage or
            // configuration error.
            if e.downcast_ref::<Stdout>().is_some() {
                ExitCode::from(1)
            } else {
                ExitCode::from(2)
            }
        }
    }
}

/// The context of a failed write to standard output (a full disk under
/// `> file`): exit status 1, and the message says which output it was.
#[derive(Debug)]
struct Stdout;

impl std::fmt::Display for Stdout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("standard output could not be written")
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MIRRORWATCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => b.json().init(),
        LogFormat::Text => b.init(),
    }
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Replay(a) => run_replay(a),
        Command::Report(a) => run_report(a),
        Command::Live(a) => run_live(a),
        Command::Logs(a) => run_logs(a),
        Command::Flows(a) => run_flows(a),
        Command::Config(ConfigCommand::Default) => {
            let mut out = std::io::stdout().lock();
            out.write_all(mirrorwatch::config::DEFAULT_TOML.as_bytes())
                .and_then(|()| out.flush())
                .context(Stdout)?;
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
        Command::Synth(a) => run_synth(a),
    }
}

fn load_config(path: Option<&PathBuf>) -> anyhow::Result<Config> {
    Ok(match path {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    })
}

/// Standard output for a report, buffered: Rust's own stdout flushes at
/// every newline, and a pretty-printed JSON report is one write per line
/// (13,428 system calls for the mixed benchmark capture's report).
fn report_out() -> std::io::BufWriter<std::io::StdoutLock<'static>> {
    std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock())
}

fn print_report(report: &Report, format: Format) -> anyhow::Result<()> {
    let mut stdout = report_out();
    let written = match format {
        Format::Table => stdout.write_all(table::render(report).as_bytes()),
        Format::Json => serde_json::to_writer_pretty(&mut stdout, report)
            .map_err(std::io::Error::from)
            .and_then(|()| stdout.write_all(b"\n")),
    };
    written.and_then(|()| stdout.flush()).context(Stdout)
}

fn exit_code(report: &Report, input_or_output_failed: bool, fail_on: Option<&str>) -> ExitCode {
    if input_or_output_failed {
        return ExitCode::from(1);
    }
    match (fail_on.and_then(Severity::parse), report.max_severity()) {
        (Some(t), Some(max)) if max >= t => ExitCode::from(3),
        _ => ExitCode::SUCCESS,
    }
}

fn output_failed(msg: &str) -> ExitCode {
    eprintln!("mirrorwatch: error: {msg}");
    ExitCode::from(1)
}

/// `--alerts -` beside `--format json`: alert lines would land inside the
/// JSON document on standard output. A usage error (exit status 2).
fn alerts_into_json(alerts: Option<&str>, format: Format) -> Option<ExitCode> {
    (alerts == Some("-") && matches!(format, Format::Json)).then(|| {
        eprintln!(
            "mirrorwatch: error: --alerts - with --format json would mix alert lines into the JSON \
             on standard output; write the alerts to a file (--alerts FILE)"
        );
        ExitCode::from(2)
    })
}

/// `text` with its control characters but newlines escaped (`\u{1b}`), for
/// a terminal.
fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\n' {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// The device and inode of a regular file: the same file whatever the
/// path.
fn file_id(p: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p)
        .ok()
        .filter(std::fs::Metadata::is_file)
        .map(|m| (m.dev(), m.ino()))
}

/// Refuses (exit status 2) an input given twice in one list, under the
/// same path or another (by device and inode), and standard input twice:
/// its frames, records or events would be counted twice (twice the
/// packets and bytes in every session of the report).
fn refuse_repeated_inputs(inputs: &[&[String]]) -> Result<(), ExitCode> {
    for list in inputs {
        let mut seen: Vec<(&str, Option<(u64, u64)>)> = Vec::with_capacity(list.len());
        for input in list.iter().map(String::as_str) {
            let id = (input != "-")
                .then(|| file_id(std::path::Path::new(input)))
                .flatten();
            let again = seen
                .iter()
                .find(|(p, i)| *p == input || (id.is_some() && *i == id));
            if let Some((first, _)) = again {
                let same = match (*first == input, input) {
                    (true, "-") => "standard input (-) is given twice".to_owned(),
                    (true, _) => format!("{input} is given twice"),
                    (false, _) => format!("{first} and {input} are the same file"),
                };
                eprintln!(
                    "mirrorwatch: error: {same}: it would be read, and counted, twice; give each input once"
                );
                return Err(ExitCode::from(2));
            }
            seen.push((input, id));
        }
    }
    Ok(())
}

/// Refuses an input given twice ([`refuse_repeated_inputs`], exit status
/// 2), and (exit status 1) an output file that is one of the inputs (the
/// same file, by device and inode, whatever the path) or an existing
/// capture: `report --html a.pcap b.pcap` would replace evidence with the
/// report, `--alerts c.pcap c.pcap` append JSON to it.
fn check_files(
    outputs: &[(&str, Option<&std::path::Path>)],
    inputs: &[&[String]],
) -> Result<(), ExitCode> {
    refuse_repeated_inputs(inputs)?;
    let outs: Vec<(&str, &std::path::Path, (u64, u64))> = outputs
        .iter()
        .filter_map(|&(flag, p)| {
            let p = p.filter(|p| p.as_os_str() != "-")?;
            Some((flag, p, file_id(p)?))
        })
        .collect();
    if outs.is_empty() {
        return Ok(());
    }
    // An existing capture (or compressed file) is never an output's
    // place: `report --html a.pcap b.pcap`, a forgotten file name.
    for (flag, p, _) in &outs {
        let mut head = [0u8; 8];
        let n = std::fs::File::open(p)
            .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
            .unwrap_or(0);
        let head = &head[..n];
        if mirrorwatch::source::reader::is_capture_magic(head)
            || mirrorwatch::compress::Compression::of(head).is_some()
        {
            return Err(output_failed(&format!(
                "{} ({flag}) is a capture or a compressed file: refusing to overwrite it",
                p.display()
            )));
        }
    }
    for input in inputs.iter().copied().flatten() {
        let Some(i) = file_id(std::path::Path::new(input)) else {
            continue;
        };
        if let Some((flag, p, _)) = outs.iter().find(|o| o.2 == i) {
            return Err(output_failed(&format!(
                "{} ({flag}) is also an input ({input}): refusing to overwrite it",
                p.display()
            )));
        }
    }
    Ok(())
}

/// `--alerts FILE` as an output [`check_files`] checks.
fn alerts_output(alerts: Option<&str>) -> (&'static str, Option<&std::path::Path>) {
    ("--alerts", alerts.map(std::path::Path::new))
}

/// A report output that cannot be written: a directory, or in a directory
/// that does not exist. Said before the replay, not after it.
fn unwritable_report_output(p: &std::path::Path) -> Option<String> {
    if p.is_dir() {
        return Some(format!("{}: is a directory", p.display()));
    }
    let parent = p
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    (!parent.is_dir()).then(|| {
        format!(
            "{}: cannot write the report: {} is not a directory",
            p.display(),
            parent.display()
        )
    })
}

/// The alert outputs of `--alerts` / `--alerts-syslog`, if given; one that
/// cannot be opened is exit status 1.
fn open_alerts(out: &Outputs) -> Result<Option<AlertWriter>, ExitCode> {
    AlertWriter::open_outputs(
        out.alerts.as_deref(),
        out.alerts_format,
        out.alerts_syslog.as_deref(),
    )
    .map_err(|e| output_failed(&e))
}

/// The evidence writer of `--evidence DIR`, if given; a directory that
/// cannot be created is exit status 1.
fn open_evidence(
    dir: Option<&std::path::Path>,
    cfg: &Config,
) -> Result<Option<EvidenceWriter>, ExitCode> {
    let Some(d) = dir else {
        return Ok(None);
    };
    EvidenceWriter::with_config(d, &cfg.evidence)
        .map(Some)
        .map_err(|e| {
            output_failed(&format!(
                "{}: cannot create evidence directory: {e}",
                d.display()
            ))
        })
}

/// Runs the sensor; an output it cannot open is exit status 1.
fn run_sensor(
    input: Input,
    opts: SensorOptions,
) -> anyhow::Result<Result<sensor::SensorOutcome, ExitCode>> {
    match sensor::run(input, opts) {
        Ok(r) => Ok(Ok(r)),
        Err(sensor::SensorError::Output(m)) => Ok(Err(output_failed(&m))),
        Err(sensor::SensorError::State(e)) => Ok(Err(output_failed(&e.to_string()))),
        Err(e) => Err(e.into()),
    }
}

fn install_signals() -> anyhow::Result<std::sync::Arc<Signals>> {
    Signals::install().context("cannot install signal handlers")
}

fn print_file_problems(files: &mirrorwatch::source::files::FileProblems) {
    for (path, dlt) in &files.unsupported {
        eprintln!(
            "mirrorwatch: warning: {path}: link type {dlt} is not supported; its frames were counted, not decoded"
        );
    }
    for e in &files.truncated {
        eprintln!("mirrorwatch: warning: {e}; the frames before it are in the report");
    }
    for e in &files.unreadable {
        eprintln!("mirrorwatch: error: {e}");
    }
}

/// A warning per capture whose malformed pcapng blocks were skipped: the
/// packets in them are not in the report.
fn print_malformed_blocks(report: &Report) {
    for f in report.files.iter().filter(|f| f.malformed_blocks > 0) {
        eprintln!(
            "mirrorwatch: warning: {}: {} malformed pcapng block(s) skipped; the frames in them are not in the report",
            f.path, f.malformed_blocks
        );
    }
}

/// The exit status of a finished replay.
fn replay_status(
    outcome: &pipeline::Outcome,
    files: &mirrorwatch::source::files::FileProblems,
    fail_on: Option<&str>,
) -> ExitCode {
    print_malformed_blocks(&outcome.report);
    for e in &outcome.output_errors {
        eprintln!("mirrorwatch: error: {e}");
    }
    if let Some(sig) = outcome.signal {
        eprintln!("mirrorwatch: stopped by signal {sig}: the report covers what was read");
        return ExitCode::from(exit_status(sig));
    }
    // A configuration log or flow input that could not be read at all is
    // an input that could not be opened: without it, sessions it would
    // explain are alerted as unexplained.
    let r = &outcome.report;
    let logs_unread = r.logs.iter().any(|l| l.error.is_some());
    let flows_unread = r.flows.as_ref().is_some_and(|f| {
        f.inputs
            .iter()
            .any(|i| i.error.is_some() && i.frames == 0 && i.lines == 0)
    });
    let failed = !files.unreadable.is_empty()
        || !outcome.output_errors.is_empty()
        || logs_unread
        || flows_unread;
    exit_code(r, failed, fail_on)
}

fn run_replay(a: ReplayArgs) -> anyhow::Result<ExitCode> {
    if let Some(code) = alerts_into_json(a.out.alerts.as_deref(), a.format) {
        return Ok(code);
    }
    let cfg = load_config(a.out.config.as_ref())?;
    let signals = install_signals()?;
    if let Err(code) = check_files(
        &[alerts_output(a.out.alerts.as_deref())],
        &[&a.pcaps, &a.logs, &a.flows],
    ) {
        return Ok(code);
    }
    if let Some(listen) = &a.listen {
        let run = match run_sensor(
            Input::Replay {
                files: a.pcaps.clone(),
                pace: a.pace,
            },
            SensorOptions {
                config: cfg,
                config_path: a.out.config.clone(),
                listen: Some(listen.clone()),
                web_config: a.web_config.clone(),
                alerts: a.out.alerts.clone(),
                alerts_format: a.out.alerts_format,
                alerts_syslog: a.out.alerts_syslog.clone(),
                evidence: a.out.evidence.clone(),
                user: None,
                hold: a.hold,
                logs: a.logs.clone(),
                year: a.year,
                syslog_listen: None,
                signals,
                state: a.state.clone(),
                fresh_state: a.fresh_state,
                flows: a.flows.clone(),
                flow_listen: Vec::new(),
                workers: a.workers.unwrap_or_else(pipeline::staged::default_workers),
            },
        )? {
            Ok(r) => r,
            Err(code) => return Ok(code),
        };
        print_flow_warnings(run.outcome.report.flows.as_ref());
        print_report(&run.outcome.report, a.format)?;
        print_file_problems(&run.files);
        return Ok(replay_status(
            &run.outcome,
            &run.files,
            a.fail_on.as_deref(),
        ));
    }
    // An output that cannot be opened is exit status 1, as documented.
    let alerts = match open_alerts(&a.out) {
        Ok(w) => w,
        Err(code) => return Ok(code),
    };
    let evidence = match open_evidence(a.out.evidence.as_deref(), &cfg) {
        Ok(w) => w,
        Err(code) => return Ok(code),
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
    let store = match &a.state {
        Some(p) => match mirrorwatch::store::Store::open(p, a.fresh_state) {
            Ok(st) => Some(st),
            Err(e) => return Ok(output_failed(&e.to_string())),
        },
        None => None,
    };
    let syslog_stats = alerts.as_ref().and_then(AlertWriter::syslog_stats);
    let r = pipeline::replay_with(
        &a.pcaps,
        &cfg,
        pipeline::Outputs {
            logs: &a.logs,
            year: a.year,
            progress,
            alerts,
            evidence,
            signals: Some(signals),
            config_path: a.out.config.clone(),
            store,
            flows: &a.flows,
            flow_format: None,
            workers: a.workers.unwrap_or_else(pipeline::staged::default_workers),
        },
    );
    let r = match r {
        Ok(r) => r,
        Err(e) => return Ok(output_failed(&e.to_string())),
    };
    if shown {
        eprint!("\r\x1b[K");
    }
    print_flow_warnings(r.outcome.report.flows.as_ref());
    print_report(&r.outcome.report, a.format)?;
    print_file_problems(&r.files);
    syslog_warning(syslog_stats.as_deref());
    Ok(replay_status(&r.outcome, &r.files, a.fail_on.as_deref()))
}

fn run_report(a: ReportArgs) -> anyhow::Result<ExitCode> {
    use mirrorwatch::export::incident;
    let cfg = load_config(a.out.config.as_ref())?;
    let signals = install_signals()?;
    if let Err(code) = check_files(
        &[
            alerts_output(a.out.alerts.as_deref()),
            ("--html", a.html.as_deref()),
            ("--markdown", a.markdown.as_deref()),
        ],
        &[&a.pcaps, &a.logs, &a.flows],
    ) {
        return Ok(code);
    }
    if let Some(e) = [a.html.as_deref(), a.markdown.as_deref()]
        .into_iter()
        .flatten()
        .find_map(unwritable_report_output)
    {
        return Ok(output_failed(&e));
    }
    // Inputs are hashed before they are read.
    let mut inputs: Vec<incident::Hashed> = Vec::new();
    if let Some(c) = &a.out.config {
        inputs.push(incident::hash_file("config", &c.to_string_lossy()));
    }
    inputs.extend(a.pcaps.iter().map(|p| incident::hash_file("capture", p)));
    inputs.extend(a.logs.iter().map(|p| incident::hash_file("log", p)));
    // Flow inputs may be directories: each file in them is hashed.
    inputs.extend(
        mirrorwatch::source::flow::flowlog::expand(&a.flows)
            .iter()
            .map(|(p, _)| incident::hash_file("flows", p)),
    );
    let alerts = match open_alerts(&a.out) {
        Ok(w) => w,
        Err(code) => return Ok(code),
    };
    let syslog_stats = alerts.as_ref().and_then(AlertWriter::syslog_stats);
    let evidence = match open_evidence(a.out.evidence.as_deref(), &cfg) {
        Ok(w) => w,
        Err(code) => return Ok(code),
    };
    let r = pipeline::replay_with(
        &a.pcaps,
        &cfg,
        pipeline::Outputs {
            logs: &a.logs,
            year: a.year,
            alerts,
            evidence,
            signals: Some(signals),
            config_path: a.out.config.clone(),
            workers: pipeline::staged::default_workers(),
            flows: &a.flows,
            ..pipeline::Outputs::default()
        },
    );
    let r = match r {
        Ok(r) => r,
        Err(e) => return Ok(output_failed(&e.to_string())),
    };
    let report = &r.outcome.report;
    let generated_us = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .map(|s| s.saturating_mul(1_000_000))
        .unwrap_or_else(mirrorwatch::time::now_us);
    let custody = incident::Custody {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        generated: mirrorwatch::time::rfc3339_us(generated_us),
        sensor: cfg.sensor.clone(),
        inputs,
        outputs: incident::evidence_files(
            report,
            a.out.evidence.as_deref(),
            a.out.alerts.as_deref(),
        ),
    };
    let inc = incident::Incident::new(report, custody);
    let outputs = [
        (
            a.html.as_ref(),
            incident::html as fn(&incident::Incident<'_>) -> String,
        ),
        (a.markdown.as_ref(), incident::markdown),
    ];
    // Each output is written even when another fails.
    let mut failed = false;
    for (path, render) in outputs {
        let Some(p) = path else { continue };
        if let Err(e) = std::fs::write(p, render(&inc)) {
            output_failed(&format!("{}: cannot write the report: {e}", p.display()));
            failed = true;
        }
    }
    syslog_warning(syslog_stats.as_deref());
    print_file_problems(&r.files);
    let status = replay_status(&r.outcome, &r.files, a.fail_on.as_deref());
    Ok(if failed && status == ExitCode::SUCCESS {
        ExitCode::from(1)
    } else {
        status
    })
}

fn run_live(a: LiveArgs) -> anyhow::Result<ExitCode> {
    let cfg = load_config(a.out.config.as_ref())?;
    if let Err(code) = check_files(&[alerts_output(a.out.alerts.as_deref())], &[&a.logs]) {
        return Ok(code);
    }
    let signals = install_signals()?;
    let run = match run_sensor(
        Input::Live {
            interfaces: a.interfaces,
            options: LiveOptions {
                promisc: !a.no_promisc,
                snaplen: a.snaplen,
                buffer_size: a.buffer_mib.saturating_mul(1 << 20),
                immediate: a.immediate,
                bpf: a.bpf,
            },
        },
        SensorOptions {
            config: cfg,
            config_path: a.out.config,
            listen: Some(a.listen),
            web_config: a.web_config,
            alerts: a.out.alerts,
            alerts_format: a.out.alerts_format,
            alerts_syslog: a.out.alerts_syslog,
            evidence: a.out.evidence,
            user: a.user,
            hold: false,
            logs: a.logs,
            year: a.year,
            syslog_listen: a.syslog_listen,
            signals,
            state: (!a.no_state).then_some(a.state),
            fresh_state: a.fresh_state,
            flows: Vec::new(),
            flow_listen: a.flow_listen,
            workers: a.workers.unwrap_or_else(pipeline::staged::default_workers),
        },
    )? {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    let r = &run.outcome.report;
    eprintln!(
        "mirrorwatch: stopped: {} packets, {} sessions, alerts: {}",
        r.packets,
        r.sessions.len(),
        r.alerts.values().sum::<u64>()
    );
    for e in &run.outcome.output_errors {
        eprintln!("mirrorwatch: error: {e}");
    }
    Ok(if run.outcome.output_errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Warnings about flow inputs (`--flows`): what could not be read.
fn print_flow_warnings(f: Option<&mirrorwatch::source::flow::intake::FlowSummary>) {
    for i in f.map(|f| f.inputs.as_slice()).unwrap_or_default() {
        for w in &i.warnings {
            eprintln!("mirrorwatch: warning: {w}");
        }
        match &i.error {
            // Nothing read: exit status 1 (`replay_status`).
            Some(e) if i.frames == 0 && i.lines == 0 => eprintln!("mirrorwatch: error: {e}"),
            Some(e) => {
                eprintln!("mirrorwatch: warning: {e}; the records before it are in the report")
            }
            None => {}
        }
    }
}

fn run_flows(a: FlowsArgs) -> anyhow::Result<ExitCode> {
    if let Some(code) = alerts_into_json(a.alerts.as_deref(), a.format) {
        return Ok(code);
    }
    let cfg = load_config(a.config.as_ref())?;
    if let Err(code) = check_files(&[alerts_output(a.alerts.as_deref())], &[&a.inputs, &a.logs]) {
        return Ok(code);
    }
    let alert_writer = match AlertWriter::open_outputs(
        a.alerts.as_deref(),
        a.alerts_format,
        a.alerts_syslog.as_deref(),
    ) {
        Ok(w) => w,
        Err(e) => return Ok(output_failed(&e)),
    };
    let force = a
        .input_format
        .as_deref()
        .and_then(mirrorwatch::flows::InputFormat::parse);
    let syslog_stats = alert_writer.as_ref().and_then(AlertWriter::syslog_stats);
    let report = mirrorwatch::flows::run_with(
        &a.inputs,
        &cfg,
        force,
        mirrorwatch::flows::Extra {
            alerts: alert_writer,
            logs: &a.logs,
            year: a.year,
        },
    );
    syslog_warning(syslog_stats.as_deref());
    for e in &report.output_errors {
        eprintln!("mirrorwatch: error: {e}");
    }
    let mut stdout = report_out();
    let written = match a.format {
        Format::Json => serde_json::to_writer_pretty(&mut stdout, &report)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(stdout)),
        Format::Table => stdout.write_all(mirrorwatch::flows::render_table(&report).as_bytes()),
    };
    written.and_then(|()| stdout.flush()).context(Stdout)?;
    // An alert that could not be written is an output that failed.
    let mut failed = !report.output_errors.is_empty();
    for i in &report.inputs {
        for w in &i.warnings {
            eprintln!("mirrorwatch: warning: {w}");
        }
        let more = i.errors.saturating_sub(i.warnings.len() as u64);
        if more > 0 {
            let what = if i.lines > 0 { "records" } else { "datagrams" };
            eprintln!(
                "mirrorwatch: warning: {}: {more} more {what} could not be read",
                i.path
            );
        }
        if let Some(e) = &i.error {
            if i.frames == 0 && i.lines == 0 {
                eprintln!("mirrorwatch: error: {e}");
                failed = true;
            } else {
                eprintln!("mirrorwatch: warning: {e}; the records before it are in the report");
            }
        }
    }
    if failed {
        return Ok(ExitCode::from(1));
    }
    let max = report.max_severity;
    Ok(
        match (a.fail_on.as_deref().and_then(Severity::parse), max) {
            (Some(t), Some(m)) if m >= t => ExitCode::from(3),
            _ => ExitCode::SUCCESS,
        },
    )
}

fn run_logs(a: LogsArgs) -> anyhow::Result<ExitCode> {
    use mirrorwatch::detect::Engine;
    if let Some(code) = alerts_into_json(a.alerts.as_deref(), a.format) {
        return Ok(code);
    }
    let cfg = load_config(a.config.as_ref())?;
    if let Err(code) = check_files(&[alerts_output(a.alerts.as_deref())], &[&a.files]) {
        return Ok(code);
    }
    // An output that cannot be opened is exit status 1, as documented.
    let mut alert_writer = match AlertWriter::open_outputs(
        a.alerts.as_deref(),
        a.alerts_format,
        a.alerts_syslog.as_deref(),
    ) {
        Ok(w) => w,
        Err(e) => return Ok(output_failed(&e)),
    };
    let syslog_stats = alert_writer.as_ref().and_then(AlertWriter::syslog_stats);
    let mut engine = Engine::new(&cfg);
    let year = a.year.unwrap_or_else(mirrorwatch::time::current_year);
    let summaries = pipeline::read_logs(&mut engine, &a.files, year);
    // Flood summaries of what the rate limit held back.
    engine.finish();
    let mut alert_counts = std::collections::BTreeMap::new();
    for al in engine.drain_alerts() {
        *alert_counts.entry(al.kind.as_str()).or_insert(0u64) += 1;
        if let Some(w) = alert_writer.as_mut() {
            // A failed write keeps the line queued (retried by the next
            // write and the flush); what is still queued is reported below,
            // after the events are printed.
            let _ = w.write(&al);
        }
    }
    let mut output_errors = Vec::new();
    if let (Some(w), Some(p)) = (alert_writer.as_mut(), a.alerts.as_deref()) {
        let _ = w.flush();
        if let Some((n, e)) = w.failing() {
            output_errors.push(format!("{p}: {n} alerts could not be written: {e}"));
        }
        if w.dropped > 0 {
            output_errors.push(format!(
                "{p}: {} alerts dropped while the output failed (queue full)",
                w.dropped
            ));
        }
    }
    // Sends what the syslog sender still holds (for at most its linger
    // time), then says what it could not.
    drop(alert_writer);
    syslog_warning(syslog_stats.as_deref());
    let events = engine.config_events();
    // Rendered whole, then written: a failed write to standard output is
    // one error, exit status 1.
    let mut stdout: Vec<u8> = Vec::new();
    match a.format {
        Format::Json => {
            serde_json::to_writer_pretty(
                &mut stdout,
                &serde_json::json!({"logs": summaries, "events": events, "alerts": alert_counts}),
            )?;
            writeln!(stdout)?;
        }
        Format::Table => {
            for e in &events {
                writeln!(
                    stdout,
                    "{:<27}  {:<10}  {:<13}  {:<18}  {:<24}  {:<10}  {:<30}  {}{}",
                    e.time.as_deref().unwrap_or("-"),
                    e.platform.as_str(),
                    e.action.as_str(),
                    e.device.as_deref().unwrap_or("-"),
                    e.actor.as_deref().unwrap_or("-"),
                    e.vni
                        .or(e.erspan_id)
                        .or(e.session)
                        .map_or_else(|| "-".to_owned(), |v| v.to_string()),
                    e.destination.as_deref().unwrap_or("-"),
                    e.origin,
                    if e.failed { "  (failed)" } else { "" }
                )?;
            }
            for s in &summaries {
                writeln!(
                    stdout,
                    "{}: {} lines, {} mirror configuration events, {} unmatched, {} malformed",
                    s.path, s.lines, s.recognised, s.unmatched, s.malformed
                )?;
            }
            let list: Vec<String> = alert_counts
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            writeln!(
                stdout,
                "alerts: {}",
                if list.is_empty() {
                    "none".to_owned()
                } else {
                    list.join(", ")
                }
            )?;
        }
    }
    // Log text reaches a terminal: its control characters (a record's
    // ESC [2J or OSC title sequence) are shown escaped, not obeyed.
    if matches!(a.format, Format::Table) {
        stdout = printable(&String::from_utf8_lossy(&stdout)).into_bytes();
    }
    {
        let mut out = std::io::stdout().lock();
        out.write_all(&stdout)
            .and_then(|()| out.flush())
            .context(Stdout)?;
    }
    for e in &output_errors {
        eprintln!("mirrorwatch: error: {e}");
    }
    let mut failed = !output_errors.is_empty();
    for s in &summaries {
        for w in &s.warnings {
            eprintln!("mirrorwatch: warning: {}", printable(&w.to_string()));
        }
        if let Some(e) = &s.error {
            eprintln!("mirrorwatch: error: {e}");
            failed = true;
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn run_synth(a: SynthArgs) -> anyhow::Result<ExitCode> {
    use mirrorwatch_synth as synth;
    let out = &a.out;
    if a.mixed {
        let f = std::fs::File::create(out)
            .with_context(|| format!("{}: cannot create", out.display()))?;
        let s = synth::write_mixed(std::io::BufWriter::new(f), a.packets, a.seed)
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
