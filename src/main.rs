//! The `centralino` command: `run` starts the daemon on embedded defaults, with an
//! optional YAML config and command-line overrides; `check`, `simulate`, `graph`, `say`
//! `schema` and `outbox` are the administrators' tools (logic in `centralino::tools`).
#![allow(clippy::disallowed_methods)] // the command line is a shell like the driver: it reads the clock for `simulate --at`

use centralino::config::{Config, PortRange};
use centralino::ivr::interp::CallContext;
use centralino::tools::{self, Outcome, graph, say, simulate};
use clap::{ArgGroup, Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
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
        /// The durable outbox of tickets and bookings (`plugins.outbox_dir`).
        #[arg(long, value_name = "DIR")]
        outbox: Option<PathBuf>,
    },
    /// Check voice menu trees: print every error and warning; exit 1 if any has errors.
    Check {
        /// Tree files, e.g. ivr-trees/*.yaml.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Prompts directory the trees' prompt ids are checked against.
        #[arg(long, value_name = "DIR", default_value = "prompts")]
        prompts: PathBuf,
    },
    /// Walk a tree with the interpreter in virtual time and print what the caller hears.
    ///
    /// Keys are pressed after the current prompt has finished; `!K` presses K during the
    /// prompt (barge-in). `t` lets the key timeout expire, `w` the inter-digit wait.
    /// Without --keys, keys are read from stdin lines (empty line = timeout, q = quit).
    Simulate {
        file: PathBuf,
        #[arg(long, value_name = "DIR", default_value = "prompts")]
        prompts: PathBuf,
        /// Keys separated by commas, e.g. 1,2,# or 2,0612345,w or t.
        #[arg(long, value_name = "KEYS", allow_hyphen_values = true)]
        keys: Option<String>,
        /// Local Italian time of the call (default: now), e.g. "2026-12-01 10:00".
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// The office number the caller dialled.
        #[arg(long, value_name = "NUMBER", default_value = "")]
        dialled: String,
        /// Province (sigla) of the dialled office, for `branch: {province: true}`.
        #[arg(long, value_name = "XX")]
        province: Option<String>,
        /// Region of the dialled office, for `branch: {region: true}`.
        #[arg(long, value_name = "NAME")]
        region: Option<String>,
        /// Office directory: --dialled is looked up there for its office, province and
        /// region (as the daemon does), unless --province / --region say otherwise.
        #[arg(long, value_name = "FILE", default_value = "directory/inps.yaml")]
        directory: PathBuf,
    },
    /// Draw a tree as Graphviz DOT (default) or a Mermaid flowchart.
    Graph {
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
        #[arg(long, value_name = "DIR", default_value = "prompts")]
        prompts: PathBuf,
    },
    /// Show how a value is spoken in Italian: fragment ids and text.
    #[command(group(ArgGroup::new("value").required(true).args(
        ["number", "date", "time", "euro", "digits", "ahead", "minutes"]
    )))]
    Say {
        /// A whole number, e.g. 21.
        number: Option<String>,
        /// A date, YYYY-MM-DD.
        #[arg(long, value_name = "DATE")]
        date: Option<String>,
        /// A time, HH:MM.
        #[arg(long, value_name = "HH:MM")]
        time: Option<String>,
        /// An amount in euro, e.g. 12.50.
        #[arg(long, value_name = "AMOUNT")]
        euro: Option<String>,
        /// Read character by character (digits, * # - and letters).
        #[arg(long, value_name = "TEXT")]
        digits: Option<String>,
        /// Queue announcement: callers ahead.
        #[arg(long, value_name = "N")]
        ahead: Option<u32>,
        /// Estimated wait announcement, in minutes.
        #[arg(long, value_name = "N")]
        minutes: Option<u32>,
    },
    /// Print the JSON Schema of the tree YAML (for editors).
    Schema,
    /// Show the plugin outbox (tickets and bookings, delivery status), or deliver its
    /// pending items now with `retry`.
    Outbox {
        /// YAML configuration file (its `plugins:` section); every key is optional.
        #[arg(long, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: Option<OutboxAction>,
    },
    /// Read an operator's password from standard input and print their entry for the
    /// operators file, with digest HA1 hashes only (the password is never stored).
    Passwd {
        /// The operator id (SIP user name).
        user: String,
        /// The digest realm of the operators file.
        #[arg(long, default_value = "centralino")]
        realm: String,
    },
}

#[derive(Subcommand)]
enum OutboxAction {
    /// List every item: id, kind, created, section or service, caller (redacted),
    /// status, attempts (the default).
    List,
    /// Deliver pending items now; with ids, those items (failed ones are sent again).
    Retry {
        #[arg(value_name = "ID")]
        ids: Vec<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum GraphFormat {
    Dot,
    Mermaid,
}

fn main() -> ExitCode {
    let command = Cli::parse().command;
    // The daemon logs at info; the tools print their own output and log only warnings.
    let level = if matches!(command, Command::Run { .. }) {
        "info"
    } else {
        "warn"
    };
    // Log lines are written by a background thread in batches (driver::log_batch): at
    // thousands of calls a second the SIP task must make neither a write(2) nor a thread
    // wake-up per line. The guard writes out what is pending at exit.
    let (writer, _log_guard) = centralino::driver::log_batch::batch_writer(std::io::stderr());
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .init();
    match command {
        Command::Run {
            config,
            sip_listen,
            rtp_ports,
            prompts,
            outbox,
        } => run(config, sip_listen, rtp_ports, prompts, outbox),
        Command::Check { files, prompts } => print(tools::check::run(&files, &prompts)),
        Command::Simulate {
            file,
            prompts,
            keys,
            at,
            dialled,
            province,
            region,
            directory,
        } => {
            let started_at = match at {
                Some(at) => match simulate::parse_at(&at) {
                    Ok(t) => t,
                    Err(e) => {
                        return print(Outcome::fail(
                            tools::EXIT_USAGE,
                            format!("centralino simulate: --at {e}"),
                        ));
                    }
                },
                None => chrono::Utc::now()
                    .with_timezone(&chrono_tz::Europe::Rome)
                    .naive_local(),
            };
            let directory = match directory.exists() {
                true => match centralino::directory::Directory::load(&directory) {
                    Ok((d, _)) => d,
                    Err(e) => {
                        return print(Outcome {
                            stderr: tools::render_diagnostics(&e),
                            code: tools::EXIT_ERRORS,
                            ..Outcome::default()
                        });
                    }
                },
                false => centralino::directory::Directory::empty(),
            };
            let found = directory.resolve(&dialled);
            let ctx = CallContext {
                dialled: found.number.clone(),
                province: province.or(found.province.clone()),
                region: region.or(found.region.clone()),
                office_prompt: found.office.as_ref().and_then(|o| o.prompt.clone()),
                office: found.office.as_ref().map(|o| o.id.clone()),
                started_at,
            };
            let origin = std::time::Instant::now();
            match keys {
                Some(keys) => print(simulate::run(&file, &prompts, &keys, ctx, origin)),
                None => simulate_interactive(&file, &prompts, ctx, origin),
            }
        }
        Command::Graph {
            file,
            format,
            prompts,
        } => {
            let format = match format {
                GraphFormat::Dot => graph::Format::Dot,
                GraphFormat::Mermaid => graph::Format::Mermaid,
            };
            print(graph::run(&file, &prompts, format))
        }
        Command::Say {
            number,
            date,
            time,
            euro,
            digits,
            ahead,
            minutes,
        } => {
            let value = if let Some(n) = number {
                say::Value::number(&n)
            } else if let Some(d) = date {
                say::Value::date(&d)
            } else if let Some(t) = time {
                say::Value::time(&t)
            } else if let Some(e) = euro {
                say::Value::euro(&e)
            } else if let Some(d) = digits {
                say::Value::digits(&d)
            } else if let Some(n) = ahead {
                Ok(say::Value::Ahead(n))
            } else if let Some(m) = minutes {
                Ok(say::Value::Minutes(m))
            } else {
                Err("nothing to say".into())
            };
            print(say::run(value))
        }
        Command::Schema => print(Outcome::ok(tools::schema())),
        Command::Outbox { config, action } => {
            let cfg = match &config {
                Some(path) => match Config::load(path) {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("centralino outbox: {e}");
                        return ExitCode::from(tools::EXIT_USAGE);
                    }
                },
                None => Config::default(),
            };
            match action.unwrap_or(OutboxAction::List) {
                OutboxAction::List => print(tools::outbox::list(&cfg.plugins)),
                OutboxAction::Retry { ids } => print(tools::outbox::retry(
                    &cfg.plugins,
                    &ids,
                    &centralino::plugin::service::wall_now,
                )),
            }
        }
        Command::Passwd { user, realm } => {
            let mut password = String::new();
            if std::io::stdin().read_line(&mut password).is_err() || password.trim().is_empty() {
                eprintln!("centralino passwd: give the password on standard input");
                return ExitCode::from(2);
            }
            let password = password.trim_end_matches(['\r', '\n']);
            print(Outcome::ok(centralino::operators::passwd_entry(
                &user, &realm, password,
            )))
        }
    }
}

/// Writes a tool's output and turns its code into the exit status.
fn print(out: Outcome) -> ExitCode {
    // A closed pipe (`centralino graph x | head`) is not an error worth reporting.
    let _ = std::io::stdout().write_all(out.stdout.as_bytes());
    let _ = std::io::stderr().write_all(out.stderr.as_bytes());
    ExitCode::from(out.code)
}

/// `centralino simulate FILE` without `--keys`: keys from stdin.
fn simulate_interactive(
    file: &Path,
    prompts: &Path,
    ctx: CallContext,
    origin: std::time::Instant,
) -> ExitCode {
    let (tree, warnings) = match tools::load_tree(file, prompts) {
        Ok(t) => t,
        Err(out) => return print(out),
    };
    eprint!("{warnings}");
    let texts = tools::Texts::load(prompts);
    let stdin = std::io::stdin().lock();
    match simulate::simulate_interactive(tree, ctx, &texts, origin, stdin, std::io::stdout()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("centralino simulate: {e}");
            ExitCode::from(tools::EXIT_USAGE)
        }
    }
}

/// `centralino run`: the daemon.
fn run(
    config: Option<PathBuf>,
    sip_listen: Option<SocketAddr>,
    rtp_ports: Option<PortRange>,
    prompts: Option<PathBuf>,
    outbox: Option<PathBuf>,
) -> ExitCode {
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
    if let Some(o) = outbox {
        cfg.plugins.outbox_dir = o;
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
