//! The driver: the only place with sockets, threads and the clock. One SIP task feeds
//! the pure `Endpoint` and each call's menu interpreter (or test line); media workers
//! pace RTP; the admin endpoint serves metrics.
#![allow(clippy::disallowed_methods)] // the driver is where the clock is read

pub mod admin;
mod daemon;
pub mod desk;
pub mod log_batch;
pub mod logic;
pub mod media;
pub mod offices;
pub mod ports;
pub mod raw_send;
pub mod tcp;
pub mod trees;
pub mod udp_rx;

use crate::config::Config;
use crate::ivr::tree::PromptCatalog;
use crate::media::prompts::PromptLibrary;
use crate::sip::endpoint::{Endpoint, EndpointConfig};
use daemon::Daemon;
use ports::PortPool;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::mpsc::unbounded_channel;

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("prompts: {0}")]
    Prompts(#[from] crate::media::prompts::PromptError),
    #[error("prompt {0:?} is required by the test line but missing from the prompts directory")]
    MissingPrompt(String),
    #[error("menu tree refused:\n{0}")]
    Tree(String),
    #[error("operators: {0}")]
    Operators(#[from] crate::operators::OperatorsError),
    #[error("queues: {0}")]
    Queues(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start media workers: {0}")]
    Workers(std::io::Error),
    #[error("office directory {file}:\n{errors}")]
    Directory { file: String, errors: String },
    #[error("cannot start the ticket and appointment plugins: {0}")]
    Plugins(String),
}

/// The office directory. A missing file runs without one (every number is unknown and
/// goes to the menu without province or region); a broken file stops the start.
fn load_directory(cfg: &Config) -> Result<crate::directory::Directory, StartError> {
    let Some(path) = cfg.directory.file.as_ref() else {
        return Ok(crate::directory::Directory::empty());
    };
    if !path.exists() {
        tracing::warn!(file = %path.display(), "no office directory: offices are not recognised");
        return Ok(crate::directory::Directory::empty());
    }
    match crate::directory::Directory::load(path) {
        Ok((dir, warnings)) => {
            for w in warnings {
                tracing::warn!("{w}");
            }
            tracing::info!(
                file = %path.display(),
                offices = dir.offices().count(),
                "office directory in service"
            );
            Ok(dir)
        }
        Err(errors) => Err(StartError::Directory {
            file: path.display().to_string(),
            errors: crate::tools::render_diagnostics(&errors),
        }),
    }
}

/// Runs the daemon until SIGINT/SIGTERM and a graceful stop.
pub async fn run(cfg: Config) -> Result<(), StartError> {
    let prompts = Arc::new(PromptLibrary::load(&cfg.prompts.dir)?);
    for id in required_prompts() {
        if prompts.get(&id).is_none() {
            return Err(StartError::MissingPrompt(id));
        }
    }
    let catalog = PromptCatalog::new(prompts.ids());
    let trees = trees::Trees::load(
        cfg.ivr.tree.clone(),
        catalog,
        cfg.queues.keys().cloned().collect(),
    )
    .map_err(|e| StartError::Tree(e.0))?;

    let listen = cfg.sip.listen;
    let listen_err = |source| StartError::Listen {
        addr: listen,
        source,
    };
    let udp = socket2_udp(listen).map_err(listen_err)?;
    if let Err(e) = udp_rx::enable_arrival_times(&udp) {
        tracing::warn!(%e, "no arrival times on the SIP socket: SIP overload control is off");
    }
    let tcp = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(listen_err)?;
    let local = udp.local_addr().map_err(listen_err)?;
    let media_ip = cfg.sip.advertised_ip.unwrap_or(match local.ip() {
        ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    });

    let (media_tx, media_rx) = unbounded_channel();
    let n_workers = match cfg.rtp.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let missed_ticks = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let media_load: Vec<Arc<std::sync::atomic::AtomicU32>> =
        (0..n_workers).map(|_| Default::default()).collect();
    let workers = (0..n_workers)
        .map(|index| {
            let setup = media::WorkerSetup {
                index,
                of: n_workers,
                realtime_priority: cfg.rtp.realtime_priority,
                raw_send: cfg.rtp.raw_send,
                missed_ticks: missed_ticks.clone(),
                load: media_load[index].clone(),
            };
            media::spawn(setup, media_tx.clone())
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(StartError::Workers)?;
    let (tcp_tx, tcp_rx) = unbounded_channel();
    tokio::spawn(tcp::accept_loop(tcp, tcp_tx));
    let (admin_tx, admin_rx) = unbounded_channel();
    if let Some(addr) = cfg.admin.listen {
        tokio::spawn(admin::serve(addr, admin_tx));
    }

    let mut endpoint = Endpoint::new(
        EndpointConfig {
            local: SocketAddr::new(media_ip, local.port()),
            media_ip,
            answer_delay: Duration::from_millis(cfg.sip.answer_delay_ms),
            max_calls: cfg.sip.max_calls,
            timers: Default::default(),
        },
        rand::random(),
    );
    let mut desk = None;
    if let Some(path) = &cfg.operators.file {
        let operators = crate::operators::Operators::load(path)?;
        if !cfg.queues.is_empty() {
            desk = Some(
                desk::Desk::new(
                    acd_config(&cfg, &operators)?,
                    std::time::Instant::now(),
                    queue_log(&cfg)?,
                )
                .map_err(|e| StartError::Queues(e.to_string()))?,
            );
        }
        let o = &cfg.operators;
        tracing::info!(operators = operators.len(), realm = %operators.realm, "registrar enabled");
        endpoint.enable_registrar(crate::sip::endpoint::RegistrarSetup {
            digest: crate::sip::auth::DigestServer::new(
                operators.realm.clone(),
                rand::random(),
                Duration::from_secs(o.nonce_ttl_s),
            )
            .with_algorithms(&o.algorithms),
            registrar: crate::sip::registrar::Registrar::new(
                o.min_expires,
                o.max_expires,
                o.default_expires,
            ),
            operators: Arc::new(operators),
        });
    }
    tracing::info!(
        sip = %local,
        rtp = %format!("{}-{}", cfg.rtp.ports.low, cfg.rtp.ports.high),
        prompts = prompts.len(),
        workers = n_workers,
        "centralino listening on UDP and TCP"
    );
    let offices = offices::Offices::new(cfg.directory.file.clone(), load_directory(&cfg)?);
    let (plugins_tx, plugins_rx) = unbounded_channel();
    let plugins = crate::plugin::service::PluginService::start(
        &cfg.plugins,
        Box::new(move |reply| {
            let _ = plugins_tx.send(reply);
        }),
    )
    .map_err(|e| StartError::Plugins(e.to_string()))?;
    let mut daemon = Daemon::new(daemon::Parts {
        endpoint,
        prompts,
        workers,
        ports: PortPool::new(media_ip, cfg.rtp.ports),
        udp: Arc::new(udp),
        trees,
        test_line_numbers: cfg.ivr.test_line.clone(),
        missed_ticks,
        media_load,
        max_media_load: u32::from(cfg.rtp.max_load_percent) * 10,
        max_queue_delay: Duration::from_millis(cfg.sip.max_queue_delay_ms),
        desk,
        local_host: SocketAddr::new(media_ip, local.port()).to_string(),
        feature_codes: cfg.operators.feature_codes.clone(),
        plugins: Some(plugins),
        offices,
    });
    daemon
        .serve(
            daemon::Inputs {
                tcp: tcp_rx,
                media: media_rx,
                admin: admin_rx,
                plugins: plugins_rx,
            },
            Duration::from_millis(cfg.sip.shutdown_grace_ms),
            Duration::from_millis(cfg.ivr.watch_ms),
        )
        .await;
    // Blocking is fine here: the loop has ended and nothing else runs on this thread.
    daemon.stop_plugins(Duration::from_secs(2));
    Ok(())
}

/// The ACD configuration: queues from the daemon config, members and auto-login from
/// the operators file. An operator naming an undefined queue stops the start.
fn acd_config(
    cfg: &Config,
    operators: &crate::operators::Operators,
) -> Result<crate::queue::AcdConfig, StartError> {
    use crate::queue::{AcdConfig, OperatorConfig, OperatorId, QueueId};
    let mut acd = AcdConfig::default();
    for (name, q) in &cfg.queues {
        acd.queues.insert(QueueId(name.clone()), q.clone());
    }
    for op in operators.iter() {
        for q in &op.queues {
            let Some(queue) = acd.queues.get_mut(&QueueId(q.clone())) else {
                return Err(StartError::Queues(format!(
                    "operator {} serves queue {q:?}, which the configuration does not define",
                    op.id
                )));
            };
            queue.members.push(OperatorId(op.id.clone()));
        }
        acd.operators.insert(
            OperatorId(op.id.clone()),
            OperatorConfig {
                auto_login: op.auto_login,
            },
        );
    }
    Ok(acd)
}

fn queue_log(cfg: &Config) -> Result<Option<std::fs::File>, StartError> {
    cfg.queue_log
        .as_ref()
        .map(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| StartError::Queues(format!("{}: {e}", p.display())))
        })
        .transpose()
}

/// The prompts the test line cannot work without.
fn required_prompts() -> Vec<String> {
    let mut ids = vec![
        crate::call::GREETING.to_owned(),
        crate::call::GOODBYE.to_owned(),
    ];
    ids.extend(('0'..='9').map(|d| format!("it/cifra-{d}")));
    ids.push("it/cifra-asterisco".into());
    ids.push("it/cifra-cancelletto".into());
    // Tickets and appointments: the flows' own prompts, and the fragments that read ids
    // and dates.
    ids.extend(
        crate::ivr::interp::SERVICE_PROMPTS
            .iter()
            .map(|p| format!("it/{p}")),
    );
    ids.extend(
        crate::ivr::say_it::fragment_texts()
            .iter()
            .map(|(id, _)| format!("it/{id}")),
    );
    ids
}

/// A UDP socket with large buffers: bursts of thousands of INVITEs must not be dropped
/// by the kernel before we read them.
fn socket2_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    let _ = socket.set_recv_buffer_size(8 << 20);
    let _ = socket.set_send_buffer_size(8 << 20);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}
