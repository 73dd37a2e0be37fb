//! centralino: a SIP (RFC 3261) + RTP (RFC 3550) IVR switchboard daemon.
//!
//! Crate map. Everything outside `driver` is pure: no sockets, no clock reads, no
//! spawned tasks. Time enters as a `now: Instant` parameter; state machines share
//! the verbs `handle_*(now, input)`, `handle_timeout(now)`, `poll_transmit()`,
//! `poll_event()`, `poll_timeout()`. The driver feeds one input, then drains the
//! outputs until `poll_timeout` says when to come back.

pub mod call; //        per-call logic of the DTMF test line (digits in, prompts out)
pub mod config; //      daemon configuration: YAML -> validated structs
pub mod directory; //   office numbers -> office -> province -> region -> CRIC / GAI
pub mod driver; //      the only place with sockets, threads and the clock
pub mod ivr; //         voice menus: YAML trees, interpreter, schedules, Italian speech
pub mod media; //       RTP packets, G.711, prompts, paced player, DTMF detection
pub mod metrics; //     Prometheus counters: calls, SIP faults, menu node events
pub mod operators; // operators: YAML definitions with digest HA1 credentials
pub mod pii; //         redaction of personal data (phone numbers) in logs
pub mod plugin; //      tickets, appointments, caller lookup: outbox and back ends
pub mod queue; //       ACD: queues, operators, strategies, announcements (pure)
pub mod sdp; //         SDP offer/answer (RFC 3264) for PCMU/PCMA + telephone-event
pub mod sip; //         SIP message framing, transactions, dialogs, the UAS endpoint
pub mod tools; //  admin tools: check, simulate, graph, say, schema
