//! REGISTER for operators' softphones (RFC 3261 §10.3, §22; RFC 8760): digest
//! challenge and verification, bindings, 423, and slowed-down answers to repeated
//! failures from one source.

use super::*;
use crate::operators::Operators;
use crate::sip::auth::{DigestServer, FailureLimiter, Verdict};
use crate::sip::registrar::{Registrar, RegistrarEvent, parse_register};
use ezk_sip_types::Name;
use std::net::IpAddr;
use std::sync::Arc;

/// What the endpoint needs to be a registrar.
pub struct RegistrarSetup {
    pub operators: Arc<Operators>,
    pub digest: DigestServer,
    pub registrar: Registrar,
}

pub(super) struct RegistrarPart {
    operators: Arc<Operators>,
    digest: DigestServer,
    limiter: FailureLimiter,
    pub(super) registrar: Registrar,
    /// The first instant seen: digest nonces count milliseconds from it.
    epoch: Option<Instant>,
    /// Answers held back by the failure limiter: tx key → (source, due, status, bytes).
    delayed: HashMap<String, (IpAddr, Instant, u16, Bytes)>,
}

impl Endpoint {
    /// Turns on REGISTER handling for the operators of `setup`.
    pub fn enable_registrar(&mut self, setup: RegistrarSetup) {
        self.registrar = Some(RegistrarPart {
            operators: setup.operators,
            digest: setup.digest,
            limiter: FailureLimiter::default(),
            registrar: setup.registrar,
            epoch: None,
            delayed: HashMap::new(),
        });
    }

    /// Where an operator's phones can be called now: contact URI and flow. TCP bindings
    /// whose connection has closed are left out.
    pub fn operator_contacts(&self, user: &str, now: Instant) -> Vec<(String, Flow)> {
        let Some(reg) = &self.registrar else {
            return Vec::new();
        };
        reg.registrar
            .bindings(user, now)
            .into_iter()
            .filter_map(|b| {
                let flow = match b.transport {
                    "TCP" => Flow::Tcp(*self.tcp_peers.get(&b.source)?, b.source),
                    _ => Flow::Udp(b.source),
                };
                Some((b.uri, flow))
            })
            .collect()
    }

    pub(super) fn handle_register(
        &mut self,
        now: Instant,
        key: &str,
        msg: &SipMessage,
        flow: Flow,
    ) {
        let Some(reg) = self.registrar.as_mut() else {
            return self.reply(now, key, msg, 405, "Method Not Allowed", |r| {
                r.header("Allow", super::ALLOW)
            });
        };
        let epoch = *reg.epoch.get_or_insert(now);
        let now_ms = (now - epoch).as_millis() as u64 + 1;
        let ip = flow.remote().ip();
        // While a slowed-down answer to this source is pending, further attempts are not
        // even checked: they wait and fail the same way (parallel guessing gains nothing).
        if let Some(due) = reg
            .delayed
            .values()
            .filter(|(src, ..)| *src == ip)
            .map(|(_, due, ..)| *due)
            .max()
        {
            return self.delay_reply(now, key, msg, ip, due, 403, "Forbidden");
        }
        let values: Vec<&str> = msg
            .values(&Name::AUTHORIZATION)
            .map(|v| v.as_str())
            .collect();
        let Some(auth) = reg.digest.pick_authorization(values) else {
            return self.challenge(now, key, msg, false);
        };
        let operators = reg.operators.clone();
        let verdict = reg.digest.verify(now_ms, "REGISTER", auth, |user, alg| {
            operators.ha1(user, alg).map(str::to_owned)
        });
        match verdict {
            Verdict::Ok { user } => {
                let to_user = msg
                    .first(&Name::TO)
                    .map(|t| to_user_of(t.as_str()).to_owned())
                    .unwrap_or_default();
                if !to_user.eq_ignore_ascii_case(&user) {
                    // Credentials of one operator may not register another's address.
                    return self.refuse(now, key, msg, ip, 403, "Forbidden");
                }
                reg.limiter.record_success(ip);
                self.bind(now, key, msg, flow, &user);
            }
            Verdict::Stale => self.challenge(now, key, msg, true),
            Verdict::Rejected(reason) => match reason.status() {
                401 => self.challenge(now, key, msg, false),
                403 => self.refuse(now, key, msg, ip, 403, "Forbidden"),
                code => self.reply(now, key, msg, code, "Bad Request", |r| r),
            },
        }
    }

    fn bind(&mut self, now: Instant, key: &str, msg: &SipMessage, flow: Flow, user: &str) {
        let Some(reg) = self.registrar.as_mut() else {
            return;
        };
        let request = parse_register(msg, flow.remote(), flow.transport_name())
            .and_then(|req| reg.registrar.register(now, user, &req).map(|_| ()));
        match request {
            Ok(()) => {
                let contacts = reg.registrar.contact_headers(user, now);
                self.drain_registrar();
                self.reply(now, key, msg, 200, "OK", |mut r| {
                    for c in contacts {
                        r = r.header("Contact", c);
                    }
                    r
                });
            }
            Err(e) => {
                let min = reg.registrar.min_expires();
                let code = e.status();
                tracing::info!(user, %e, code, "registration refused");
                self.reply(now, key, msg, code, &e.to_string(), |r| {
                    if code == 423 {
                        r.header("Min-Expires", min)
                    } else {
                        r
                    }
                });
            }
        }
    }

    fn challenge(&mut self, now: Instant, key: &str, msg: &SipMessage, stale: bool) {
        let Some(reg) = self.registrar.as_mut() else {
            return;
        };
        let epoch = *reg.epoch.get_or_insert(now);
        let now_ms = (now - epoch).as_millis() as u64 + 1;
        let challenges = reg.digest.challenge(now_ms, stale);
        self.reply(now, key, msg, 401, "Unauthorized", |mut r| {
            for c in challenges {
                r = r.header("WWW-Authenticate", c);
            }
            r
        });
    }

    /// 403 for wrong credentials, unknown users alike; slowed down after repeated
    /// failures from the same address.
    fn refuse(
        &mut self,
        now: Instant,
        key: &str,
        msg: &SipMessage,
        ip: IpAddr,
        code: u16,
        reason: &str,
    ) {
        let Some(reg) = self.registrar.as_mut() else {
            return;
        };
        let epoch = *reg.epoch.get_or_insert(now);
        let now_ms = (now - epoch).as_millis() as u64 + 1;
        reg.limiter.record_failure(ip, now_ms);
        let penalty = reg.limiter.penalty(ip, now_ms);
        tracing::info!(source = %ip, status = code, delay_ms = penalty.as_millis() as u64, "registration refused");
        if penalty.is_zero() {
            self.reply(now, key, msg, code, reason, |r| r);
        } else {
            self.delay_reply(now, key, msg, ip, now + penalty, code, reason);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn delay_reply(
        &mut self,
        now: Instant,
        key: &str,
        msg: &SipMessage,
        ip: IpAddr,
        due: Instant,
        code: u16,
        reason: &str,
    ) {
        let Some(flow) = self.server_txs.get(key).map(|e| e.flow) else {
            return;
        };
        let tag = self.new_tag();
        let bytes = ResponseBuilder::new(msg, code, reason, flow.remote())
            .to_tag(&tag)
            .build();
        let _ = now;
        if let Some(reg) = self.registrar.as_mut() {
            reg.delayed.insert(key.to_owned(), (ip, due, code, bytes));
            self.wakes
                .push(Reverse((due, Wake::DelayedReply(key.to_owned()))));
        }
    }

    /// Sends a held-back answer when its time has come.
    pub(super) fn delayed_reply_due(&mut self, now: Instant, key: &str) {
        let Some(reg) = self.registrar.as_mut() else {
            return;
        };
        if reg.delayed.get(key).is_none_or(|(_, due, ..)| *due > now) {
            return;
        }
        let Some((_, _, code, bytes)) = reg.delayed.remove(key) else {
            return;
        };
        if let Some(ServerTxEntry {
            tx: ServerTx::NonInvite(t),
            ..
        }) = self.server_txs.get_mut(key)
        {
            let _ = t.send_final(now, code, bytes);
            self.drain_server(now, key);
        }
    }

    /// Registrar expiry timers and what they report.
    pub(super) fn registrar_timeout(&mut self, now: Instant) {
        if let Some(reg) = self.registrar.as_mut() {
            reg.registrar.handle_timeout(now);
        }
        self.drain_registrar();
    }

    /// Turns registrar events into endpoint events and re-arms its timer.
    fn drain_registrar(&mut self) {
        let Some(reg) = self.registrar.as_mut() else {
            return;
        };
        while let Some(ev) = reg.registrar.poll_event() {
            let event = match ev {
                RegistrarEvent::Registered { user } => {
                    tracing::info!(user = %user, "operator registered");
                    Event::OperatorRegistered { user }
                }
                RegistrarEvent::Unregistered { user } => {
                    tracing::info!(user = %user, "operator unregistered");
                    Event::OperatorUnregistered { user }
                }
                RegistrarEvent::Expired { user, uri } => {
                    tracing::info!(user = %user, contact = %Redacted(&uri), "binding expired");
                    continue;
                }
            };
            self.events.push_back(event);
        }
        if let Some(at) = reg.registrar.poll_timeout() {
            self.wakes.push(Reverse((at, Wake::Registrar)));
        }
    }
}

/// The user part of a To header value: `"Op" <sip:op1@host>;tag=x` → `op1`.
fn to_user_of(to: &str) -> &str {
    let uri = match (to.find('<'), to.find('>')) {
        (Some(a), Some(b)) if a < b => &to[a + 1..b],
        _ => to.split(';').next().unwrap_or(to),
    };
    let rest = uri.split_once(':').map_or(uri, |(_, r)| r);
    rest.split(['@', ';']).next().unwrap_or_default()
}
