//! The `centralino` command: `run` starts the daemon on embedded defaults, with an
//! optional YAML config and command-line overrides.

use centralino::config::{Config, PortRange};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "centralino", version, about = "SIP/RTP IVR switchboard")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon (defaults: SIP 127.0.0.1:5060 UDP+TCP, RTP 20000-29999, prompts/).
    Run {
        /// YAML configuration file; every key is optional.
        #[arg(long)]
        config: Option<PathBuf>,
        /// SIP address for both UDP and TCP, e.g. 0.0.0.0:5060.
        #[arg(long, value_name = "ADDR:PORT")]
        sip_listen: Option<SocketAddr>,
        /// RTP port range, e.g. 20000-29999.
        #[arg(long, value_name = "LOW-HIGH")]
        rtp_ports: Option<PortRange>,
        /// Directory of 8 kHz WAV prompts.
        #[arg(long, value_name = "DIR")]
        prompts: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let Command::Run {
        config,
        sip_listen,
        rtp_ports,
        prompts,
    } = Cli::parse().command;
    let mut cfg = match &config {
        Some(path) => match Config::load(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("centralino: {e}");
                return ExitCode::from(2);
            }
        },
        None => Config::default(),
    };
    if let Some(a) = sip_listen {
        cfg.sip.listen = a;
    }
    if let Some(r) = rtp_ports {
        cfg.rtp.ports = r;
    }
    if let Some(p) = prompts {
        cfg.prompts.dir = p;
    }
    raise_open_files_limit();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("centralino: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(centralino::driver::run(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("centralino: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One socket per call: lift the soft open-files limit to the hard one.
fn raise_open_files_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain libc calls on a stack value we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
