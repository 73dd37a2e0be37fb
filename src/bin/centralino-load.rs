//! `centralino-load`: a media-density load generator for the daemon (loopback only).
//!
//! Places N calls at R calls/s with its own minimal SIP UAC (RFC 3261 over UDP), holds
//! each for a fixed time, and measures the daemon's RTP (RFC 3550) on one socket per
//! call: spacing deviation from 20 ms within talk spurts, loss, sequence/timestamp/SSRC
//! continuity, and optionally the RFC 4733 key → next prompt latency. Sockets are
//! sharded over a few epoll threads (no per-call thread or timer). Stops by itself after
//! ramp + hold + drain.
//!
//! With `--operators M` it also runs an operator farm (`operators.rs`): M softphones that
//! register with digest auth before the first call, answer the daemon's INVITEs and hang
//! up after `--talk` seconds, so that callers dialling a queue are served. With
//! `--queue-log` it then reads the daemon's queue log and checks the announcements
//! (`queue_log.rs`).
#![allow(clippy::disallowed_methods)] // a load generator measures real time

#[path = "centralino_load/operators.rs"]
mod operators;
#[path = "centralino_load/queue_log.rs"]
mod queue_log;
#[path = "centralino_load/rtp.rs"]
mod rtp;
#[path = "centralino_load/sip.rs"]
mod sip;
#[path = "centralino_load/stats.rs"]
mod stats;

use clap::Parser;
use operators::{Farm, FarmConfig, FarmStats};
use queue_log::{AnnounceRules, QueueLogReport};
use rtp::{Cmd, KeyPlan, Shard, ShardStats, Window};
use sip::{Event, Phase, Uac};
use stats::{Hist, ProcSample, now_ns, quantile, self_cpu_s};
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "centralino-load",
    about = "SIP/RTP media-density load generator"
)]
struct Args {
    /// The daemon's SIP address (UDP, loopback).
    #[arg(long)]
    target: SocketAddr,
    /// The number dialled: `test`, the DTMF test line of centralino; for another SIP
    /// server, a number that answers with a long prompt.
    #[arg(long, default_value = "test")]
    number: String,
    /// Calls to place.
    #[arg(long, default_value_t = 10)]
    calls: usize,
    /// Calls per second.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Seconds from answer to our BYE.
    #[arg(long, default_value_t = 8.0)]
    hold: f64,
    /// Keys to press (RFC 4733, PT 101), e.g. "1#".
    #[arg(long)]
    keys: Option<String>,
    /// Seconds after answer of the first key.
    #[arg(long, default_value_t = 3.0)]
    key_at: f64,
    /// Seconds between keys.
    #[arg(long, default_value_t = 1.0)]
    key_gap: f64,
    #[arg(long, default_value = "127.0.0.1")]
    local_ip: IpAddr,
    /// First local RTP port (call i uses base + i); default: kernel-chosen ports.
    #[arg(long)]
    rtp_base: Option<u16>,
    /// RTP receive threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Seconds to wait after the last hold ends before giving up on stragglers.
    #[arg(long, default_value_t = 10.0)]
    drain: f64,
    /// Sample this process's CPU and RSS (the daemon) over the hold window.
    #[arg(long)]
    daemon_pid: Option<u32>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Operators to register and serve calls from the daemon (0: none).
    #[arg(long, default_value_t = 0)]
    operators: usize,
    /// Operator user names are PREFIX1..PREFIXM.
    #[arg(long, default_value = "op")]
    operator_prefix: String,
    /// The operators' password (all the same).
    #[arg(long, default_value = "centralino-load")]
    operator_password: String,
    /// Seconds an operator talks (from the ACK) before hanging up.
    #[arg(long, default_value_t = 5.0)]
    talk: f64,
    /// Seconds an operator's phone rings before the answer.
    #[arg(long, default_value_t = 0.0)]
    answer_after: f64,
    /// Registration interval the operators ask for, s (refreshed at half of it).
    #[arg(long, default_value_t = 600)]
    operator_expires: u32,
    /// After the run, analyse the daemon's queue log (JSON lines) at this path.
    #[arg(long)]
    queue_log: Option<PathBuf>,
    /// The queue's `announce.every_ms` (0: no cadence check).
    #[arg(long, default_value_t = 0)]
    announce_every_ms: u64,
    /// The queue's `announce.min_interval_ms`.
    #[arg(long, default_value_t = 0)]
    announce_min_interval_ms: u64,
    /// How late a periodic announcement may be before it counts as late, ms.
    #[arg(long, default_value_t = 1000)]
    announce_tolerance_ms: u64,
    /// The queue's `announce.limit`: checks `limit_exceeded` against `ahead`.
    #[arg(long)]
    announce_limit: Option<u64>,
    /// Offer this address (RFC 2544 benchmarking range, 198.18.0.0/15, on a local device
    /// that drops every packet: tests/perf/media_sink.sh) as the calls' media address,
    /// and send no RTP: the daemon's packets then cost it what they would cost towards a
    /// network card, without their delivery into this generator. Spacing, loss and keys
    /// are not measured.
    #[arg(long)]
    media_sink: Option<IpAddr>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(report) => {
            if args.json {
                println!("{}", report.json());
            } else {
                print!("{}", report.human());
            }
            if report.dropped_here > 0 {
                eprintln!(
                    "centralino-load: this generator read too slowly and its sockets dropped {} \
                     datagrams: loss and key figures are not the daemon's (use fewer calls or \
                     more --threads)",
                    report.dropped_here
                );
            }
            if report.failed == 0 && report.queue.as_ref().is_none_or(|q| q.errors() == 0) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("centralino-load: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(a: &Args) -> Result<Report, String> {
    if !is_this_host(a.target.ip()) || !is_this_host(a.local_ip) {
        return Err("target and local IP must be addresses of this machine".into());
    }
    if let Some(sink) = a.media_sink {
        check_media_sink(sink)?;
        if a.keys.is_some() {
            return Err("--keys needs RTP: not with --media-sink".into());
        }
    }
    let keys = match &a.keys {
        Some(k) => {
            let events = k
                .chars()
                .map(|c| centralino::media::dtmf::Digit::from_char(c).map(|d| d.event()))
                .collect::<Option<Vec<u8>>>()
                .ok_or_else(|| format!("--keys {k:?}: only 0-9 * # A-D"))?;
            Some(KeyPlan {
                events,
                at_ns: (a.key_at * 1e9) as i64,
                gap_ns: (a.key_gap * 1e9) as i64,
            })
        }
        None => None,
    };
    if a.calls == 0 || a.rate <= 0.0 || a.threads == 0 {
        return Err("--calls, --rate and --threads must be positive".into());
    }
    raise_open_files_limit();

    // Operators first: every one must be registered (and so logged in) before a call.
    let mut farm = None;
    let farm_stop = Arc::new(AtomicBool::new(false));
    if a.operators > 0 {
        let mut f = Farm::new(FarmConfig {
            target: a.target,
            local_ip: a.local_ip,
            prefix: a.operator_prefix.clone(),
            password: a.operator_password.clone(),
            count: a.operators,
            talk: Duration::from_secs_f64(a.talk),
            answer_after: Duration::from_secs_f64(a.answer_after),
            expires: a.operator_expires,
        })?;
        f.register_all(Duration::from_secs(10))?;
        farm = Some(
            f.spawn(farm_stop.clone())
                .map_err(|e| format!("operator thread: {e}"))?,
        );
    }

    // Sockets first: one per call, then shards that own them.
    let mut ports = Vec::with_capacity(a.calls);
    let mut per_shard: Vec<Vec<(usize, UdpSocket)>> = (0..a.threads).map(|_| Vec::new()).collect();
    for i in 0..a.calls {
        let port = a.rtp_base.map_or(0, |b| b.saturating_add(i as u16));
        let s = UdpSocket::bind((a.local_ip, port))
            .map_err(|e| format!("RTP socket {}:{port}: {e}", a.local_ip))?;
        ports.push(s.local_addr().map_err(|e| e.to_string())?.port());
        per_shard[i % a.threads].push((i, s));
    }
    let window = Arc::new(Window::new());
    let shards = per_shard
        .into_iter()
        .enumerate()
        .map(|(k, socks)| Shard::spawn(k, socks, a.calls, keys.clone(), window.clone()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("RTP shard: {e}"))?;

    let sip_sock = sip_socket(a.local_ip).map_err(|e| format!("SIP socket: {e}"))?;
    let hold = Duration::from_secs_f64(a.hold);
    let mut uac = Uac::new(sip_sock, a.target, &ports, hold);
    uac.number = a.number.clone();
    uac.media_ip = a.media_sink.unwrap_or(a.local_ip);

    let sample = || a.daemon_pid.and_then(ProcSample::read);
    let before = sample();
    let self_cpu0 = self_cpu_s();
    let start = Instant::now();
    let ramp = Duration::from_secs_f64((a.calls - 1) as f64 / a.rate);
    let deadline = start + ramp + hold + Duration::from_secs_f64(a.drain);
    let mut next_call = 0usize;
    let mut events = Vec::new();
    let (mut up, mut peak_up) = (0usize, 0usize);
    let mut window_start: Option<Option<ProcSample>> = None;
    let mut window_end: Option<Option<ProcSample>> = None;
    let mut window_calls = 0usize;

    loop {
        let now = Instant::now();
        while next_call < a.calls
            && start + Duration::from_secs_f64(next_call as f64 / a.rate) <= now
        {
            uac.invite(now, next_call);
            next_call += 1;
        }
        uac.receive(now, &mut events);
        uac.on_timers(now, &mut events);
        for ev in events.drain(..) {
            match ev {
                Event::Answered { call, remote } => {
                    up += 1;
                    peak_up = peak_up.max(up);
                    if a.media_sink.is_some() {
                        continue; // no latching packet: the daemon sends to the sink
                    }
                    shards[call % a.threads].send(Cmd::Start {
                        call,
                        remote,
                        answered_ns: now_ns(),
                    });
                }
                Event::HangingUp { call } => {
                    up -= 1;
                    shards[call % a.threads].send(Cmd::Stop { call });
                    if window_end.is_none() {
                        window_calls = up + 1;
                        window.end.store(now_ns(), Ordering::Relaxed);
                        window_end = Some(sample());
                    }
                }
            }
        }
        let setting_up = next_call < a.calls
            || uac
                .calls
                .iter()
                .any(|c| matches!(c.phase, Phase::Calling | Phase::Proceeding));
        if window_start.is_none() && !setting_up {
            window.start.store(now_ns(), Ordering::Relaxed);
            window_start = Some(sample());
        }
        if next_call == a.calls && uac.calls.iter().all(|c| c.phase == Phase::Done) {
            break;
        }
        if now >= deadline {
            uac.give_up();
            break;
        }
        let mut wake = deadline;
        if next_call < a.calls {
            wake = wake.min(start + Duration::from_secs_f64(next_call as f64 / a.rate));
        }
        if let Some(t) = uac.next_timer() {
            wake = wake.min(t);
        }
        let ms = wake
            .saturating_duration_since(Instant::now())
            .as_micros()
            .div_ceil(1000)
            .min(100) as i32;
        let mut pfd = libc::pollfd {
            fd: uac.fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd we own.
        unsafe { libc::poll(&mut pfd, 1, ms) };
    }
    let wall = start.elapsed().as_secs_f64();
    let after = sample();
    // The shards keep receiving for 100 ms more, so the last packets in flight land.
    let stop_at = now_ns() + 100_000_000;
    let stats: Vec<ShardStats> = shards.into_iter().map(|s| s.finish(stop_at)).collect();
    farm_stop.store(true, Ordering::Relaxed);
    let farm = farm.map(|f| f.join().expect("operator thread panicked"));
    let queue = match &a.queue_log {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("queue log {}: {e}", path.display()))?;
            Some(queue_log::analyze(
                &text,
                &AnnounceRules {
                    every_ms: a.announce_every_ms,
                    min_interval_ms: a.announce_min_interval_ms,
                    tolerance_ms: a.announce_tolerance_ms,
                    limit: a.announce_limit,
                },
            ))
        }
        None => None,
    };

    let mut r = Report {
        calls: a.calls,
        rate: a.rate,
        hold: a.hold,
        answered: uac.calls.iter().filter(|c| c.answered.is_some()).count(),
        failed: uac.calls.iter().filter(|c| c.failure.is_some()).count(),
        failures: Vec::new(),
        hung_up_by_daemon: uac.calls.iter().filter(|c| c.hung_up_by_daemon).count(),
        bye_unanswered: uac.calls.iter().filter(|c| c.bye_unanswered).count(),
        peak_up,
        wall_s: wall,
        all: Hist::new(),
        steady: Hist::new(),
        packets: 0,
        expected: 0,
        seq_jumps: 0,
        ts_errors: 0,
        ssrc_changes: 0,
        bad: 0,
        streams_with_media: 0,
        keys_sent: 0,
        dropped_here: 0,
        key_start_ms: Vec::new(),
        key_end_ms: Vec::new(),
        keys_unanswered: 0,
        window_s: 0.0,
        daemon: None,
        self_cpu_pct: 100.0 * (self_cpu_s() - self_cpu0) / wall,
        farm,
        queue,
    };
    let mut reasons: Vec<String> = uac.calls.iter().filter_map(|c| c.failure.clone()).collect();
    reasons.sort();
    reasons.dedup();
    r.failures = reasons;
    for s in &stats {
        r.all.merge(&s.all);
        r.steady.merge(&s.steady);
        r.packets += s.packets;
        r.expected += s.expected;
        r.seq_jumps += s.seq_jumps;
        r.ts_errors += s.ts_errors;
        r.ssrc_changes += s.ssrc_changes;
        r.bad += s.bad;
        r.streams_with_media += s.streams_with_media;
        r.keys_sent += s.keys_sent;
        r.dropped_here += s.dropped_here;
        for k in &s.key_latency {
            match k {
                Some((from_start, from_end)) => {
                    r.key_start_ms.push(*from_start as f64 / 1e6);
                    r.key_end_ms.push(*from_end as f64 / 1e6);
                }
                None => r.keys_unanswered += 1,
            }
        }
    }
    r.key_start_ms.sort_by(f64::total_cmp);
    r.key_end_ms.sort_by(f64::total_cmp);
    let ws = window.start.load(Ordering::Relaxed);
    let we = window.end.load(Ordering::Relaxed);
    if ws != 0 && we != i64::MAX && we > ws {
        r.window_s = (we - ws) as f64 / 1e9;
    }
    // CPU over the full-concurrency window when there was one, else over the whole run.
    let (from, to, scope) = match (window_start.flatten(), window_end.flatten()) {
        (Some(x), Some(y)) if y.at_ns > x.at_ns => (Some(x), Some(y), "full-concurrency window"),
        _ => (before, after, "whole run"),
    };
    if let (Some(b0), Some(x), Some(y)) = (before, from, to) {
        r.daemon = Some(DaemonUse {
            scope,
            cpu_pct: ProcSample::cpu_pct(&x, &y),
            rss_before_kib: b0.rss_kib,
            rss_kib: y.rss_kib,
            rss_peak_kib: y.rss_peak_kib,
            calls: if scope == "whole run" {
                peak_up
            } else {
                window_calls
            },
        });
    }
    Ok(r)
}

fn sip_socket(ip: IpAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
    let _ = s.set_recv_buffer_size(4 << 20);
    let _ = s.set_send_buffer_size(4 << 20);
    s.bind(&SocketAddr::new(ip, 0).into())?;
    s.set_nonblocking(true)?;
    Ok(s.into())
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

struct DaemonUse {
    scope: &'static str,
    cpu_pct: f64,
    rss_before_kib: u64,
    rss_kib: u64,
    rss_peak_kib: u64,
    calls: usize,
}

struct Report {
    calls: usize,
    rate: f64,
    hold: f64,
    answered: usize,
    failed: usize,
    failures: Vec<String>,
    hung_up_by_daemon: usize,
    bye_unanswered: usize,
    peak_up: usize,
    wall_s: f64,
    all: Hist,
    steady: Hist,
    packets: u64,
    expected: u64,
    seq_jumps: u64,
    ts_errors: u64,
    ssrc_changes: u64,
    bad: u64,
    streams_with_media: u64,
    keys_sent: u64,
    /// Dropped in this process's receive buffers (it read too slowly): not the daemon's.
    dropped_here: u64,
    key_start_ms: Vec<f64>,
    key_end_ms: Vec<f64>,
    keys_unanswered: u64,
    window_s: f64,
    daemon: Option<DaemonUse>,
    self_cpu_pct: f64,
    farm: Option<FarmStats>,
    queue: Option<QueueLogReport>,
}

impl Report {
    fn lost(&self) -> i64 {
        self.expected as i64 - self.packets as i64
    }

    fn hist_json(h: &Hist) -> String {
        format!(
            "{{\"intervals\":{},\"mean_interval_us\":{:.1},\"mean_us\":{:.1},\"p50_us\":{:.0},\"p99_us\":{:.0},\"p999_us\":{:.0},\"max_us\":{:.0},\"over_2ms\":{:.6}}}",
            h.n,
            h.mean_interval_us(),
            h.mean_us(),
            h.quantile_us(0.5),
            h.quantile_us(0.99),
            h.quantile_us(0.999),
            h.max_ns as f64 / 1000.0,
            h.share_over_us(2000),
        )
    }

    fn json(&self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "{{\"calls\":{},\"rate\":{},\"hold_s\":{},\"answered\":{},\"failed\":{},\"failures\":[{}],\
             \"hung_up_by_daemon\":{},\"bye_unanswered\":{},\"peak_concurrent\":{},\"wall_s\":{:.2},\
             \"streams_with_media\":{},\"packets\":{},\"expected\":{},\"lost\":{},\"dropped_by_generator\":{},\"seq_jumps\":{},\
             \"ts_errors\":{},\"ssrc_changes\":{},\"bad_packets\":{},\"window_s\":{:.2},\
             \"deviation_all\":{},\"deviation_steady\":{}",
            self.calls,
            self.rate,
            self.hold,
            self.answered,
            self.failed,
            self.failures
                .iter()
                .map(|f| format!("\"{f}\""))
                .collect::<Vec<_>>()
                .join(","),
            self.hung_up_by_daemon,
            self.bye_unanswered,
            self.peak_up,
            self.wall_s,
            self.streams_with_media,
            self.packets,
            self.expected,
            self.lost(),
            self.dropped_here,
            self.seq_jumps,
            self.ts_errors,
            self.ssrc_changes,
            self.bad,
            self.window_s,
            Self::hist_json(&self.all),
            Self::hist_json(&self.steady),
        );
        if self.keys_sent > 0 {
            let _ = write!(
                s,
                ",\"keys\":{{\"sent\":{},\"unanswered\":{},\"from_first_event_p50_ms\":{:.2},\"from_first_event_p99_ms\":{:.2},\"from_end_p50_ms\":{:.2},\"from_end_p99_ms\":{:.2}}}",
                self.keys_sent,
                self.keys_unanswered,
                quantile(&self.key_start_ms, 0.5),
                quantile(&self.key_start_ms, 0.99),
                quantile(&self.key_end_ms, 0.5),
                quantile(&self.key_end_ms, 0.99),
            );
        }
        if let Some(d) = &self.daemon {
            let _ = write!(
                s,
                ",\"daemon\":{{\"scope\":\"{}\",\"cpu_pct\":{:.1},\"rss_before_kib\":{},\"rss_kib\":{},\"rss_peak_kib\":{},\"calls\":{},\"rss_per_call_kib\":{:.1}}}",
                d.scope,
                d.cpu_pct,
                d.rss_before_kib,
                d.rss_kib,
                d.rss_peak_kib,
                d.calls,
                d.rss_per_call(),
            );
        }
        if let Some(f) = &self.farm {
            let _ = write!(s, ",\"operators\":{}", f.json());
        }
        if let Some(q) = &self.queue {
            let _ = write!(s, ",\"queue_log\":{}", q.json());
        }
        let _ = write!(s, ",\"loadgen_cpu_pct\":{:.1}}}", self.self_cpu_pct);
        s
    }

    fn human(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "calls {} at {}/s, hold {} s: answered {}, failed {}{}, hung up by daemon {}, BYE unanswered {}, peak concurrent {}, wall {:.1} s",
            self.calls,
            self.rate,
            self.hold,
            self.answered,
            self.failed,
            if self.failures.is_empty() {
                String::new()
            } else {
                format!(" ({})", self.failures.join(", "))
            },
            self.hung_up_by_daemon,
            self.bye_unanswered,
            self.peak_up,
            self.wall_s,
        );
        let _ = writeln!(
            s,
            "rtp: {} streams, {} packets, expected {}, lost {}, dropped by this generator {}, seq jumps {}, ts errors {}, SSRC changes {}, bad {}",
            self.streams_with_media,
            self.packets,
            self.expected,
            self.lost(),
            self.dropped_here,
            self.seq_jumps,
            self.ts_errors,
            self.ssrc_changes,
            self.bad,
        );
        for (name, h) in [("all", &self.all), ("full concurrency", &self.steady)] {
            let _ = writeln!(
                s,
                "|Δ−20ms| {name}: {} intervals (mean Δ {:.0} µs), mean {:.0} µs, p50 {:.0} µs, p99 {:.0} µs, p99.9 {:.0} µs, max {:.0} µs, >2 ms {:.3}%",
                h.n,
                h.mean_interval_us(),
                h.mean_us(),
                h.quantile_us(0.5),
                h.quantile_us(0.99),
                h.quantile_us(0.999),
                h.max_ns as f64 / 1000.0,
                100.0 * h.share_over_us(2000),
            );
        }
        let _ = writeln!(s, "full-concurrency window: {:.2} s", self.window_s);
        if self.keys_sent > 0 {
            let _ = writeln!(
                s,
                "keys: {} sent, {} without a new prompt; next prompt after first event packet p50 {:.1} ms p99 {:.1} ms; after first end packet p50 {:.1} ms p99 {:.1} ms",
                self.keys_sent,
                self.keys_unanswered,
                quantile(&self.key_start_ms, 0.5),
                quantile(&self.key_start_ms, 0.99),
                quantile(&self.key_end_ms, 0.5),
                quantile(&self.key_end_ms, 0.99),
            );
        }
        if let Some(d) = &self.daemon {
            let _ = writeln!(
                s,
                "daemon ({}): CPU {:.1}% of one core, RSS {} KiB (before {} KiB, peak {} KiB), {:.1} KiB per call over {} calls",
                d.scope,
                d.cpu_pct,
                d.rss_kib,
                d.rss_before_kib,
                d.rss_peak_kib,
                d.rss_per_call(),
                d.calls,
            );
        }
        if let Some(f) = &self.farm {
            s.push_str(&f.human());
        }
        if let Some(q) = &self.queue {
            s.push_str(&q.human());
        }
        let _ = writeln!(
            s,
            "load generator CPU: {:.1}% of one core",
            self.self_cpu_pct
        );
        s
    }
}

impl DaemonUse {
    fn rss_per_call(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            (self.rss_kib as f64 - self.rss_before_kib as f64) / self.calls as f64
        }
    }
}

/// Whether `ip` is an address of this machine (so the load stays on it): loopback, or
/// one a socket can be bound to.
fn is_this_host(ip: IpAddr) -> bool {
    ip.is_loopback() || UdpSocket::bind((ip, 0)).is_ok()
}

/// A media sink must be a benchmarking address (RFC 2544: 198.18.0.0/15, never routed)
/// reached through a directly connected device, not the default route: the daemon's RTP
/// must end on this machine's drop device, never on a network.
fn check_media_sink(sink: IpAddr) -> Result<(), String> {
    let IpAddr::V4(v4) = sink else {
        return Err("--media-sink: an IPv4 address in 198.18.0.0/15".into());
    };
    if u32::from(v4) >> 17 != u32::from(std::net::Ipv4Addr::new(198, 18, 0, 0)) >> 17 {
        return Err(format!(
            "--media-sink {sink}: not in 198.18.0.0/15 (RFC 2544)"
        ));
    }
    let routes = std::fs::read_to_string("/proc/net/route").map_err(|e| e.to_string())?;
    // Columns: Iface Destination Gateway Flags RefCnt Use Metric Mask …, hex little-endian.
    let ip = u32::from(v4).swap_bytes();
    let best = routes
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let hex = |i: usize| u32::from_str_radix(f.get(i)?, 16).ok();
            Some((f.first()?.to_string(), hex(1)?, hex(2)?, hex(7)?))
        })
        .filter(|&(_, dest, _, mask)| ip & mask == dest)
        .max_by_key(|&(_, _, _, mask)| mask.count_ones());
    match best {
        Some((dev, _, 0, mask)) if mask != 0 => {
            eprintln!("centralino-load: the daemon's RTP goes to {sink} on {dev}");
            Ok(())
        }
        _ => Err(format!(
            "--media-sink {sink}: no directly connected route (set up the drop device: \
             tests/perf/media_sink.sh)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_media_sink_must_be_a_benchmarking_address_on_a_connected_route() {
        for ip in ["127.0.0.1", "192.0.2.7", "198.20.0.1", "10.0.0.1", "::1"] {
            let err = check_media_sink(ip.parse().unwrap()).unwrap_err();
            assert!(err.contains("198.18.0.0/15"), "{ip}: {err}");
        }
        // In range, but only the default route (if any) leads there (tests/perf/
        // media_sink.sh sets up 198.18.0.0/24 only): refused, so no RTP leaves for a network.
        let err = check_media_sink("198.19.255.1".parse().unwrap()).unwrap_err();
        assert!(err.contains("no directly connected route"), "{err}");
    }

    #[test]
    fn the_load_stays_on_this_machine() {
        assert!(is_this_host("127.0.0.1".parse().unwrap()));
        assert!(is_this_host("127.3.4.5".parse().unwrap()));
        assert!(!is_this_host("192.0.2.7".parse().unwrap()));
    }
}
