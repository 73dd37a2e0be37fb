//! Request handling of the UAS endpoint: transaction matching (RFC 3261 §17.2.3), the
//! checks of §8.2 (Max-Forwards, Require, capacity), and each method's behaviour.

use super::*;
use crate::sip::dialled::{Dialled, dialled_in};
use crate::sip::msg::{Essentials, StartLine};
use ezk_sip_types::{Method, Name};

/// Seconds a caller refused for overload is asked to wait (§20.33): the backlog of a
/// burst clears within a second or two.
const OVERLOAD_RETRY_AFTER_S: u32 = 5;

impl Endpoint {
    /// A request whose essentials `e` were decoded (and found sound) by the caller.
    pub(super) fn handle_request(
        &mut self,
        now: Instant,
        flow: Flow,
        msg: SipMessage,
        e: Essentials,
    ) {
        let method = msg.method().cloned().unwrap_or(Method::ACK);
        // §17.2.3: branch + sent-by + method, with ACK matching its INVITE.
        let tx_method = if method == Method::ACK {
            Method::INVITE
        } else {
            method.clone()
        };
        let sent_by = &e.sent_by;
        let key = format!("{}|{sent_by}|{tx_method}", e.branch);

        if method == Method::ACK {
            return self.handle_ack(now, &key, &msg, &e);
        }
        if let Some(entry) = self.server_txs.get_mut(&key) {
            match &mut entry.tx {
                ServerTx::Invite(t) => t.handle_request_retransmit(now),
                ServerTx::NonInvite(t) => t.handle_request_retransmit(now),
            }
            return self.drain_server(now, &key);
        }
        if method == Method::CANCEL {
            return self.handle_cancel(now, flow, &key, &msg, &e.branch, sent_by);
        }

        if self.overloaded && method == Method::INVITE && e.to_tag.is_none() {
            // Behind on the queue: refuse the new call without a transaction or a call
            // (§8.2.7, stateless), for a fraction of the work of taking it. A
            // retransmission of it gets the same answer.
            self.stats.shed += 1;
            let tag = self.new_tag();
            let bytes = ResponseBuilder::new(&msg, 503, "Service Unavailable", flow.remote())
                .to_tag(&tag)
                .header("Retry-After", OVERLOAD_RETRY_AFTER_S)
                .build();
            self.transmits.push_back(Transmit { flow, bytes });
            return;
        }

        // A new transaction.
        let tx = if method == Method::INVITE {
            ServerTx::Invite(ServerInvite::new(now, flow.reliability(), self.cfg.timers))
        } else {
            ServerTx::NonInvite(ServerNonInvite::new(
                now,
                flow.reliability(),
                self.cfg.timers,
            ))
        };
        self.server_txs.insert(
            key.clone(),
            ServerTxEntry {
                tx,
                flow,
                call: None,
                scheduled: None,
            },
        );

        match msg.max_forwards() {
            Ok(0) => return self.reply(now, &key, &msg, 483, "Too Many Hops", |r| r),
            Ok(_) => {}
            Err(f) => return self.reply(now, &key, &msg, 400, &f.to_string(), |r| r),
        }
        if method != Method::CANCEL {
            let unsupported: Vec<&str> = msg
                .tokens(&Name::REQUIRE)
                .filter(|t| !SUPPORTED.split(", ").any(|s| s.eq_ignore_ascii_case(t)))
                .collect();
            if !unsupported.is_empty() {
                let list = unsupported.join(", ");
                return self.reply(now, &key, &msg, 420, "Bad Extension", |r| {
                    r.header("Unsupported", list)
                });
            }
        }

        let in_dialog = e
            .to_tag
            .as_ref()
            .map(|tag| (e.call_id.clone(), tag.clone()));
        let call = match &in_dialog {
            Some(id) => match self.dialogs.get(id).copied() {
                Some(call) => Some(call),
                None if method == Method::OPTIONS => None,
                None => {
                    return self.reply(
                        now,
                        &key,
                        &msg,
                        481,
                        "Call/Transaction Does Not Exist",
                        |r| r,
                    );
                }
            },
            None => None,
        };
        if let Some(call) = call {
            if let Some(c) = self.calls.get_mut(&call) {
                if e.cseq < c.dialog.remote_cseq && method != Method::ACK {
                    // §12.2.2: an out-of-order request gets 500.
                    return self.reply(now, &key, &msg, 500, "CSeq Out of Order", |r| {
                        r.header("Retry-After", 1)
                    });
                }
                c.dialog.remote_cseq = c.dialog.remote_cseq.max(e.cseq);
            }
            if let Some(entry) = self.server_txs.get_mut(&key) {
                entry.call = Some(call);
            }
        }

        let allow = self.allow();
        match (method, call) {
            (Method::INVITE, None) => self.handle_invite(now, flow, key, msg, e),
            (Method::INVITE, Some(call)) => self.handle_reinvite(now, key, msg, call),
            (Method::UPDATE, Some(call)) => self.handle_update(now, &key, &msg, call),
            (Method::BYE, Some(call)) => {
                self.reply(now, &key, &msg, 200, "OK", |r| r);
                self.end_call(call, EndReason::RemoteBye);
            }
            (Method::INFO, Some(call)) => self.handle_info(now, &key, &msg, call),
            (Method::REFER, Some(call)) => self.handle_refer(now, &key, &msg, call),
            (Method::OPTIONS, _) => self.reply(now, &key, &msg, 200, "OK", |r| {
                r.header("Allow", allow)
                    .header("Accept", ACCEPT)
                    .header("Accept-Language", "it")
                    .header("Supported", SUPPORTED)
            }),
            (Method::REGISTER, None) => self.handle_register(now, &key, &msg, flow),
            (Method::BYE | Method::INFO | Method::UPDATE, None) => self.reply(
                now,
                &key,
                &msg,
                481,
                "Call/Transaction Does Not Exist",
                |r| r,
            ),
            _ => self.reply(now, &key, &msg, 405, "Method Not Allowed", |r| {
                r.header("Allow", allow)
            }),
        }
    }

    fn handle_invite(
        &mut self,
        now: Instant,
        flow: Flow,
        key: String,
        msg: SipMessage,
        e: Essentials,
    ) {
        if !self.accepting || self.calls.len() >= self.cfg.max_calls {
            self.stats.refused += 1;
            let reason = if self.accepting {
                "Service Unavailable"
            } else {
                "Shutting Down"
            };
            return self.reply(now, &key, &msg, 503, reason, |r| {
                r.header("Retry-After", 30)
            });
        }
        let session_expires = match session_expires(&msg) {
            Ok(se) => se,
            Err(()) => {
                return self.reply(now, &key, &msg, 400, "Malformed Session-Expires", |r| r);
            }
        };
        if let Some(se) = session_expires
            && se < MIN_SE
        {
            return self.reply(now, &key, &msg, 422, "Session Interval Too Small", |r| {
                r.header("Min-SE", MIN_SE)
            });
        }
        let offer = match self.check_offer(&msg) {
            Ok(offer) => offer,
            Err((code, reason)) => return self.reply(now, &key, &msg, code, &reason, |r| r),
        };
        // RFC 4028 §9: we take part only when the caller supports timers; it refreshes.
        let caller_does_timers = msg
            .tokens(&Name::SUPPORTED)
            .chain(msg.tokens(&Name::REQUIRE))
            .any(|t| t.eq_ignore_ascii_case("timer"));
        let session_expires = session_expires.filter(|_| caller_does_timers);

        let call = CallId(self.next_call);
        self.next_call += 1;
        let local_tag = self.new_tag();
        let session_id = self.next_random() >> 1;
        let dialog = Dialog::from_invite(&msg, &local_tag, e.cseq);
        let caller = msg
            .first(&Name::FROM)
            .map(|f| {
                let v = f.as_str();
                let uri = match (v.find('<'), v.find('>')) {
                    (Some(a), Some(b)) if a < b => &v[a + 1..b],
                    _ => v.split(';').next().unwrap_or(v),
                };
                uri_user(uri).to_owned()
            })
            .unwrap_or_default();
        let request_user = match &msg.start {
            StartLine::Request { uri, .. } => uri_user(uri).to_owned(),
            _ => String::new(),
        };
        // The office number: from the redirection headers when the call was forwarded.
        let Dialled {
            number: dialled,
            from: dialled_from,
        } = dialled_in(&msg);
        tracing::info!(
            call = call.0,
            from = %Self::log_caller(&msg),
            dialled = %Redacted(&dialled),
            dialled_from = dialled_from.name(),
            transport = flow.transport_name(),
            "incoming call"
        );
        self.dialogs.insert((e.call_id.clone(), local_tag), call);
        if let Some(entry) = self.server_txs.get_mut(&key) {
            entry.call = Some(call);
        }
        self.calls.insert(
            call,
            Call {
                state: CallState::Offered,
                flow,
                dialog,
                invite: msg,
                invite_tx: key,
                offer,
                rtp_port: 0,
                sdp_version: 0,
                session_id,
                media: None,
                session_expires,
                expires_at: None,
                answer_at: None,
                established: false,
                bye_after_ack: false,
                uac: None,
            },
        );
        self.events.push_back(Event::IncomingCall {
            call,
            dialled,
            request_user,
            caller,
            source: flow.remote(),
        });
        // §17.2.1: the 100 goes out at the end of the turn, if the application has not
        // answered by then.
        self.trying_owed.push(call);
    }

    /// Validates the INVITE's body as an SDP offer we can answer. `Ok(None)`: no offer.
    fn check_offer(&self, msg: &SipMessage) -> Result<Option<String>, (u16, String)> {
        if msg.body.is_empty() {
            return Ok(None);
        }
        let is_sdp = msg
            .content_type()
            .is_some_and(|t| t.trim().to_ascii_lowercase().starts_with("application/sdp"));
        if !is_sdp {
            return Err((415, "Unsupported Media Type".into()));
        }
        let text = std::str::from_utf8(&msg.body).map_err(|_| (400, "Malformed SDP".to_owned()))?;
        match sdp::check(text) {
            Ok(()) => Ok(Some(text.to_owned())),
            Err(sdp::SdpError::NoCommonCodec) => Err((488, "Not Acceptable Here".into())),
            Err(sdp::SdpError::Malformed(why)) => Err((400, format!("Malformed SDP: {why}"))),
        }
    }

    fn handle_ack(&mut self, now: Instant, key: &str, msg: &SipMessage, e: &Essentials) {
        // ACK for a non-2xx final: same branch as the INVITE (§17.2.3).
        if let Some(entry) = self.server_txs.get_mut(key) {
            if let ServerTx::Invite(t) = &mut entry.tx {
                t.handle_ack(now);
            }
            return self.drain_server(now, key);
        }
        // ACK for a 2xx: its own transaction, matched to the dialog (§13.2.2.4).
        let Some(tag) = &e.to_tag else { return };
        let Some(&call) = self.dialogs.get(&(e.call_id.clone(), tag.clone())) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let invite_key = c.invite_tx.clone();
        if let Some(ServerTxEntry {
            tx: ServerTx::Invite(t),
            ..
        }) = self.server_txs.get_mut(&invite_key)
        {
            t.handle_ack(now);
        }
        self.drain_server(now, &invite_key);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.state != CallState::Answered {
            return; // a retransmitted ACK
        }
        let we_offered = c.offer.is_none();
        if we_offered {
            // We offered in the 200: the ACK carries the answer (RFC 3264 §5).
            let answer = std::str::from_utf8(&msg.body).unwrap_or_default();
            match sdp::accept_answer(answer) {
                Ok(media) => c.media = Some(media),
                Err(why) => {
                    tracing::info!(call = call.0, %why, "ACK without a usable SDP answer");
                    return self.send_bye(now, call);
                }
            }
        }
        c.state = CallState::Confirmed;
        if c.bye_after_ack {
            return self.send_bye(now, call);
        }
        if let Some(se) = c.session_expires {
            let at = now + refresh_deadline(se);
            c.expires_at = Some(at);
            self.wakes.push(Reverse((at, Wake::Call(call))));
        }
        let Some(media) = c.media else { return };
        if !c.established {
            c.established = true;
            self.events.push_back(Event::Established { call, media });
        } else if we_offered {
            self.events.push_back(Event::MediaChanged { call, media });
        }
    }

    fn handle_cancel(
        &mut self,
        now: Instant,
        flow: Flow,
        cancel_key: &str,
        msg: &SipMessage,
        branch: &str,
        sent_by: &impl std::fmt::Display,
    ) {
        // §9.2: CANCEL matches the INVITE transaction with the same branch.
        let invite_key = format!("{branch}|{sent_by}|INVITE");
        let call = self.server_txs.get(&invite_key).map(|e| e.call);
        let tx = ServerNonInvite::new(now, flow.reliability(), self.cfg.timers);
        self.server_txs.insert(
            cancel_key.to_owned(),
            ServerTxEntry {
                tx: ServerTx::NonInvite(tx),
                flow,
                call: None,
                scheduled: None,
            },
        );
        let Some(call) = call else {
            return self.reply(
                now,
                cancel_key,
                msg,
                481,
                "Call/Transaction Does Not Exist",
                |r| r,
            );
        };
        self.reply(now, cancel_key, msg, 200, "OK", |r| r);
        let Some(call) = call else { return };
        if self
            .calls
            .get(&call)
            .is_some_and(|c| matches!(c.state, CallState::Offered | CallState::Ringing))
        {
            self.respond_invite(now, call, 487, "Request Terminated", |r| r);
            self.end_call(call, EndReason::Cancelled);
        }
    }

    fn handle_reinvite(&mut self, now: Instant, key: String, msg: SipMessage, call: CallId) {
        let offer = match self.check_offer(&msg) {
            Ok(o) => o,
            Err((code, reason)) => return self.reply(now, &key, &msg, code, &reason, |r| r),
        };
        let se = match refresh_interval(&msg) {
            Ok(se) => se,
            Err(()) => return self.too_small(now, &key, &msg),
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.state != CallState::Confirmed {
            // §14.2: an INVITE while ours is still pending.
            return self.reply(now, &key, &msg, 500, "Server Internal Error", |r| {
                r.header("Retry-After", 2)
            });
        }
        c.dialog.refresh_target(&msg);
        c.invite = msg;
        c.invite_tx = key;
        c.offer = offer.clone();
        if se.is_some() {
            c.session_expires = se;
        }
        self.send_answer(now, call);
        // With an offer in the re-INVITE, the 200 carried our answer: media changes now.
        if offer.is_some()
            && let Some(media) = self.calls.get(&call).and_then(|c| c.media)
        {
            self.events.push_back(Event::MediaChanged { call, media });
        }
    }

    fn handle_update(&mut self, now: Instant, key: &str, msg: &SipMessage, call: CallId) {
        let offer = match self.check_offer(msg) {
            Ok(o) => o,
            Err((code, reason)) => return self.reply(now, key, msg, code, &reason, |r| r),
        };
        let media_ip = self.cfg.media_ip;
        let se = match refresh_interval(msg) {
            Ok(se) => se,
            Err(()) => return self.too_small(now, key, msg),
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.dialog.refresh_target(msg);
        if let Some(se) = se.or(c.session_expires) {
            c.session_expires = Some(se);
            let at = now + refresh_deadline(se);
            c.expires_at = Some(at);
            self.wakes.push(Reverse((at, Wake::Call(call))));
        }
        // Fix: RFC 4028 §9 — the 2xx to a refresh carries Session-Expires (and Require:
        // timer, as in send_answer); without it the caller (§7.4) takes the session as
        // no longer timed, stops refreshing, and our expiry BYE cuts a live call.
        let se_now = c.session_expires;
        let with_timer = move |r: ResponseBuilder| match se_now {
            Some(se) => r
                .header("Session-Expires", format!("{se};refresher=uac"))
                .header("Require", "timer"),
            None => r,
        };
        let Some(offer) = offer else {
            return self.reply(now, key, msg, 200, "OK", with_timer);
        };
        c.sdp_version += 1;
        let local = LocalSession {
            ip: media_ip,
            rtp_port: c.rtp_port,
            session_id: c.session_id,
            version: c.sdp_version,
        };
        let Ok((media, answer)) = sdp::answer(&offer, &local) else {
            return self.reply(now, key, msg, 488, "Not Acceptable Here", |r| r);
        };
        c.media = Some(media);
        self.events.push_back(Event::MediaChanged { call, media });
        self.reply(now, key, msg, 200, "OK", |r| {
            with_timer(r).body("application/sdp", answer)
        });
    }

    fn handle_info(&mut self, now: Instant, key: &str, msg: &SipMessage, call: CallId) {
        let ctype = msg
            .content_type()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let body = std::str::from_utf8(&msg.body).unwrap_or_default();
        let digit = match ctype.as_str() {
            t if t.starts_with("application/dtmf-relay") => dtmf_relay_signal(body),
            t if t.starts_with("application/dtmf") => body.trim().chars().next(),
            _ if msg.body.is_empty() => return self.reply(now, key, msg, 200, "OK", |r| r),
            _ => {
                return self.reply(now, key, msg, 415, "Unsupported Media Type", |r| {
                    r.header("Accept", ACCEPT)
                });
            }
        };
        match digit.map(|d| d.to_ascii_uppercase()) {
            Some(d) if matches!(d, '0'..='9' | '*' | '#' | 'A'..='D') => {
                self.reply(now, key, msg, 200, "OK", |r| r);
                self.events.push_back(Event::Digit { call, digit: d });
            }
            _ => self.reply(now, key, msg, 400, "Malformed DTMF Body", |r| r),
        }
    }

    /// Responds on the server transaction `key` (creating nothing: it must exist).
    pub(super) fn reply(
        &mut self,
        now: Instant,
        key: &str,
        msg: &SipMessage,
        code: u16,
        reason: &str,
        extra: impl FnOnce(ResponseBuilder) -> ResponseBuilder,
    ) {
        let Some(flow) = self.server_txs.get(key).map(|e| e.flow) else {
            return;
        };
        let mut r = ResponseBuilder::new(msg, code, reason, flow.remote());
        if code > 100 {
            let tag = self.new_tag();
            r = r.to_tag(&tag);
        }
        let bytes = extra(r).build();
        if let Some(entry) = self.server_txs.get_mut(key) {
            let sent = match &mut entry.tx {
                ServerTx::Invite(t) if code < 200 => t.send_provisional(now, code, bytes),
                ServerTx::Invite(t) => t.send_final(now, code, bytes),
                ServerTx::NonInvite(t) if code < 200 => t.send_provisional(now, code, bytes),
                ServerTx::NonInvite(t) => t.send_final(now, code, bytes),
            };
            if let Err(e) = sent {
                tracing::debug!(%e, code, "response not sent in this transaction state");
            }
            self.drain_server(now, key);
        }
    }
}

/// `Session-Expires: 1800;refresher=uac` (compact `x`) → 1800. Absent → `Ok(None)`.
fn session_expires(msg: &SipMessage) -> Result<Option<u32>, ()> {
    let Some(v) = msg.first(&Name::SESSION_EXPIRES) else {
        return Ok(None);
    };
    let n = v.as_str().split(';').next().unwrap_or_default().trim();
    n.parse().map(Some).map_err(|_| ())
}

impl Endpoint {
    /// RFC 4028 §9: an interval below our minimum is refused, never silently raised.
    fn too_small(&mut self, now: Instant, key: &str, msg: &SipMessage) {
        self.reply(now, key, msg, 422, "Session Interval Too Small", |r| {
            r.header("Min-SE", MIN_SE)
        });
    }
}

/// The Session-Expires of a refresh: `Err` when below Min-SE (malformed counts as absent).
fn refresh_interval(msg: &SipMessage) -> Result<Option<u32>, ()> {
    match session_expires(msg).ok().flatten() {
        Some(se) if se < MIN_SE => Err(()),
        se => Ok(se),
    }
}

/// RFC 4028 §10: without a refresh, the session ends at the interval minus
/// min(32 s, interval/3).
fn refresh_deadline(se: u32) -> Duration {
    Duration::from_secs(u64::from(se - (se / 3).min(32)))
}

/// `Signal=5` in an `application/dtmf-relay` body.
fn dtmf_relay_signal(body: &str) -> Option<char> {
    body.lines().find_map(|line| {
        let (k, v) = line.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("signal")
            .then(|| v.trim().chars().next())
            .flatten()
    })
}

/// The user part of a SIP/tel URI: `sip:0612345678@host;x` → `0612345678`.
pub(super) fn uri_user(uri: &str) -> &str {
    let rest = uri.split_once(':').map_or(uri, |(_, r)| r);
    let user = rest.split('@').next().unwrap_or_default();
    if rest.contains('@') {
        user.split(';').next().unwrap_or(user)
    } else {
        rest.split(';').next().unwrap_or_default()
    }
}
