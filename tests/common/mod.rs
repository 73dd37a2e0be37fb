//! Shared harness for the real-peer tests (`tests/sip_calls.rs`).
//!
//! - [`Daemon`]: runs the `centralino` binary on free loopback ports (SIP UDP+TCP, a
//!   private 200-port RTP block), logs to a file, waits until it answers `OPTIONS`
//!   (RFC 3261 §11), and kills it on drop (dumping the log tail when the test failed).
//! - [`Sipp`]: runs one sipp scenario from `tests/sipp/` against the daemon with a hard
//!   time bound and keeps sipp's error and message logs for the failure report.
//! - [`RtpProbe`]: a UDP socket owned by the test whose port goes into the scenario's SDP,
//!   so the daemon's audio (RFC 3550 RTP, G.711) reaches the test; [`Capture`] checks RTP
//!   basics and decodes the audio, and [`similarity`] compares it with a prompt WAV.
//! - [`Baresip`]: the baresip softphone as an operator's phone (own config dir, free
//!   ports, null audio), driven and watched over its `ctrl_tcp` JSON events.
//! - [`SipUdp`] / [`SipTcp`] / [`SipMessage`]: literal SIP text over raw sockets, for
//!   messages no SIP tool will send (compact forms, folding, malformed input).
//!
//! Everything here uses the standard library (plus `tempfile`); tests run in parallel as
//! separate processes under nextest, so every port is chosen so that they cannot collide.
//!
//! - [`WebhookServer`]: a real HTTP server on loopback for the plugin back ends: records
//!   every request, answers as told, goes down and comes back on the same port.
//! - [`http_request`] / [`post_json`]: the daemon's admin endpoint (`admin.listen`), e.g.
//!   the operator console's `POST /api/tickets`; [`wait_admin_up`] waits until it answers.
//!
//! Files: `ports.rs` (free ports, RTP blocks), `logs.rs` (log checks), `daemon.rs`,
//! `sipp.rs`, `baresip.rs`, `rtp.rs` (probe, G.711, WAV, correlation), `sip.rs` (literal SIP),
//! `webhook.rs` (HTTP back office), `admin.rs` (admin endpoint client).

#![allow(dead_code)]

mod admin;
mod baresip;
pub mod centre;
mod daemon;
mod logs;
mod ports;
mod rtp;
mod sip;
mod sipp;
mod webhook;

// Only the ticket tests use it; the other test crates must not warn.
#[allow(unused_imports)]
pub use admin::*;
// Only the baresip tests use it; the other test crates must not warn.
#[allow(unused_imports)]
pub use baresip::*;
pub use daemon::*;
pub use logs::*;
pub use ports::*;
pub use rtp::*;
pub use sip::*;
// Only the plugin tests use it.
pub use sipp::*;
#[allow(unused_imports)]
pub use webhook::*;

use std::path::PathBuf;

/// Loopback, the only network these tests use.
pub const LOOPBACK: &str = "127.0.0.1";

/// The crate root (tests run with it as the working directory).
pub fn crate_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `prompts/it/<id>.wav` under the crate root.
pub fn prompt_path(id: &str) -> PathBuf {
    crate_root()
        .join("prompts")
        .join("it")
        .join(format!("{id}.wav"))
}
