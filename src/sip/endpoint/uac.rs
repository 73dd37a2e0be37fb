//! Outgoing calls (the UAC side of the B2BUA, RFC 3261 §13.2, §9.1, §17.1.1 with RFC
//! 6026): INVITE with our SDP offer, provisional and final responses, the ACK of a 2xx,
//! CANCEL of an unanswered call, and the non-2xx ACK through the transaction.

use super::*;
use crate::sip::msg::StartLine;
use crate::sip::transaction::ClientInvite;
use ezk_sip_types::Name;
use std::fmt::Write as _;

/// What the application needs to call someone (an operator's registered contact).
#[derive(Debug, Clone)]
pub struct OutgoingCall {
    /// Request-URI: the contact the callee registered.
    pub target: String,
    /// The To header value (the callee's address of record), without tag.
    pub to: String,
    /// Who is calling, as shown to the callee (the caller's number, or a queue name).
    pub from_user: String,
    pub from_display: Option<String>,
    /// Where to send: the flow the callee registered from.
    pub flow: Flow,
    /// Our media socket for this leg.
    pub rtp_port: u16,
    /// Extra headers (context for the callee's screen): name, value.
    pub headers: Vec<(String, String)>,
}

/// UAC-only state of an outgoing call.
#[derive(Debug)]
pub(super) struct UacLeg {
    /// Branch of the INVITE: key of its client transaction, and of a CANCEL's.
    branch: String,
    /// Our INVITE as sent, for building CANCEL and the non-2xx ACK.
    invite: SipMessage,
    got_provisional: bool,
    /// Hung up before the answer: CANCEL when a provisional allows it, and BYE a 2xx
    /// that still arrives. The application was already told the call ended.
    cancelled: bool,
    /// The ACK of the 2xx, sent again for every retransmitted 2xx.
    ack: Option<Bytes>,
}

/// A client INVITE transaction and the call it belongs to.
#[derive(Debug)]
pub(super) struct ClientInviteEntry {
    pub(super) tx: ClientInvite,
    flow: Flow,
    call: CallId,
}

impl Endpoint {
    /// Starts an outgoing call; its progress comes back as `Progress`, `Answered` and
    /// `Ended` events.
    pub fn place_call(&mut self, now: Instant, out: OutgoingCall) -> CallId {
        let call = CallId(self.next_call);
        self.next_call += 1;
        let tag = self.new_tag();
        let branch = self.new_branch();
        let call_id = format!("{:016x}@{}", self.next_random(), self.cfg.local.ip());
        let session_id = self.next_random() >> 1;
        let offer = sdp::offer(&LocalSession {
            ip: self.cfg.media_ip,
            rtp_port: out.rtp_port,
            session_id,
            version: 1,
        });
        let display = out
            .from_display
            .as_deref()
            .map(|d| format!("\"{}\" ", d.replace('"', "")))
            .unwrap_or_default();
        let from = format!(
            "{display}<sip:{}@{}>;tag={tag}",
            out.from_user,
            self.cfg.local.ip()
        );
        let mut t = String::with_capacity(1024);
        let _ = write!(t, "INVITE {} SIP/2.0\r\n", out.target);
        let _ = write!(
            t,
            "Via: SIP/2.0/{} {};branch={branch};rport\r\n",
            out.flow.transport_name(),
            self.cfg.local
        );
        let _ = write!(t, "Max-Forwards: 70\r\nFrom: {from}\r\nTo: {}\r\n", out.to);
        let _ = write!(t, "Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\n");
        let _ = write!(t, "Contact: {}\r\n", self.contact_for_flow(out.flow));
        let _ = write!(t, "Allow: {}\r\nSupported: {SUPPORTED}\r\n", self.allow());
        for (name, value) in &out.headers {
            // Header values come from our own context; keep them on one line.
            let value = value.replace(['\r', '\n'], " ");
            let _ = write!(t, "{name}: {value}\r\n");
        }
        let _ = write!(
            t,
            "User-Agent: centralino\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{offer}",
            offer.len()
        );
        let bytes = Bytes::from(t);
        let invite = SipMessage::parse(bytes.clone(), false).expect("our own INVITE parses");
        let dialog = Dialog::for_uac(&call_id, &tag, &from, &out.to, &out.target);
        tracing::info!(call = call.0, to = %Redacted(&out.to), "calling");
        self.dialogs.insert((call_id, tag), call);
        self.calls.insert(
            call,
            Call {
                state: CallState::Dialing,
                flow: out.flow,
                dialog,
                invite: invite.clone(),
                invite_tx: String::new(),
                offer: None,
                rtp_port: out.rtp_port,
                sdp_version: 1,
                session_id,
                media: None,
                session_expires: None,
                expires_at: None,
                answer_at: None,
                established: false,
                bye_after_ack: false,
                uac: Some(UacLeg {
                    branch: branch.clone(),
                    invite,
                    got_provisional: false,
                    cancelled: false,
                    ack: None,
                }),
            },
        );
        let tx = ClientInvite::new(now, out.flow.reliability(), self.cfg.timers, bytes);
        self.client_invites.insert(
            branch.clone(),
            ClientInviteEntry {
                tx,
                flow: out.flow,
                call,
            },
        );
        self.drain_client_invite(now, &branch);
        call
    }

    /// A response whose CSeq method is INVITE: to its client transaction.
    pub(super) fn handle_invite_response(&mut self, now: Instant, branch: &str, msg: SipMessage) {
        let status = msg.status().unwrap_or(0);
        let ack = (status >= 300)
            .then(|| self.non_2xx_ack(branch, &msg))
            .flatten();
        let Some(entry) = self.client_invites.get_mut(branch) else {
            self.stats.stray_responses += 1;
            return;
        };
        let call = entry.call;
        match entry.tx.handle_response(now, status, Bytes::new(), ack) {
            Ok(()) => {}
            Err(e) => tracing::debug!(%e, status, "response not taken by the INVITE transaction"),
        }
        // Responses passed up by the transaction reach `on_invite_response` through the
        // drain; keep the parsed message for the one that is passed up now.
        self.pending_response = Some(msg);
        self.drain_client_invite(now, branch);
        self.pending_response = None;
        let _ = call;
    }

    /// Moves a client INVITE's output to the wire and acts on what it passes up.
    pub(super) fn drain_client_invite(&mut self, now: Instant, branch: &str) {
        let Some(e) = self.client_invites.get_mut(branch) else {
            return;
        };
        let (flow, call) = (e.flow, e.call);
        let mut passed_up = Vec::new();
        while let Some(bytes) = e.tx.poll_transmit() {
            self.transmits.push_back(Transmit { flow, bytes });
        }
        while let Some(ev) = e.tx.poll_event() {
            passed_up.push(ev);
        }
        let (done, deadline) = (e.tx.is_terminated(), e.tx.poll_timeout());
        if done {
            self.client_invites.remove(branch);
        } else if let Some(at) = deadline {
            self.wakes
                .push(Reverse((at, Wake::ClientInvite(branch.to_owned()))));
        }
        for ev in passed_up {
            match ev {
                TxEvent::Response { status, .. } => self.on_invite_response(now, call, status),
                TxEvent::Timeout => self.uac_failed(call, EndReason::Timeout),
                TxEvent::NoAckFor2xx | TxEvent::Terminated => {}
            }
        }
    }

    fn on_invite_response(&mut self, now: Instant, call: CallId, status: u16) {
        let Some(msg) = self.pending_response.take() else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(uac) = c.uac.as_mut() else { return };
        match status {
            100 => {}
            101..=199 => {
                let first = !uac.got_provisional;
                uac.got_provisional = true;
                if uac.cancelled {
                    return self.send_cancel(now, call);
                }
                if first || status != 100 {
                    self.events.push_back(Event::Progress { call, status });
                }
            }
            200..=299 => {
                if let Some(ack) = uac.ack.clone() {
                    // A retransmitted 2xx: ACK it again (RFC 6026 Accepted state).
                    let flow = c.flow;
                    self.transmits.push_back(Transmit { flow, bytes: ack });
                    return;
                }
                c.dialog.confirm_uac(&msg);
                let branch = self.new_branch();
                let local = self.cfg.local;
                let Some(c) = self.calls.get_mut(&call) else {
                    return;
                };
                let via = ViaSpec {
                    transport: c.flow.transport_name(),
                    sent_by: local,
                };
                let ack = c.dialog.ack(via, &branch, 1);
                let flow = c.flow;
                self.transmits.push_back(Transmit {
                    flow,
                    bytes: ack.clone(),
                });
                let Some(uac) = c.uac.as_mut() else { return };
                uac.ack = Some(ack);
                if uac.cancelled {
                    // Answered after we hung up: the call must still be ended (§9.1).
                    c.state = CallState::Confirmed;
                    return self.send_bye_quietly(now, call);
                }
                c.state = CallState::Confirmed;
                c.established = true;
                let answer = std::str::from_utf8(&msg.body).unwrap_or_default();
                match sdp::accept_answer(answer) {
                    Ok(media) => {
                        c.media = Some(media);
                        self.events.push_back(Event::Answered { call, media });
                    }
                    Err(why) => {
                        tracing::info!(call = call.0, %why, "2xx without a usable SDP answer");
                        self.send_bye(now, call);
                    }
                }
            }
            _ => self.uac_failed(call, EndReason::Failed(status)),
        }
    }

    /// The call did not connect: tell the application (unless it already hung up).
    fn uac_failed(&mut self, call: CallId, reason: EndReason) {
        let cancelled = self
            .calls
            .get(&call)
            .and_then(|c| c.uac.as_ref())
            .is_some_and(|u| u.cancelled);
        if cancelled {
            self.forget_call(call);
        } else if self
            .calls
            .get(&call)
            .is_some_and(|c| c.state == CallState::Dialing)
        {
            tracing::info!(call = call.0, ?reason, "outgoing call failed");
            self.end_call(call, reason);
        }
    }

    /// Hang-up before the answer (§9.1): CANCEL once a provisional has come, and tell
    /// the application now so its media is released at once.
    pub(super) fn cancel_outgoing(&mut self, now: Instant, call: CallId) {
        let Some(uac) = self.calls.get_mut(&call).and_then(|c| c.uac.as_mut()) else {
            return;
        };
        if uac.cancelled {
            return;
        }
        uac.cancelled = true;
        let provisional = uac.got_provisional;
        self.events.push_back(Event::Ended {
            call,
            reason: EndReason::LocalBye,
        });
        if provisional {
            self.send_cancel(now, call);
        }
    }

    fn send_cancel(&mut self, now: Instant, call: CallId) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let Some(uac) = &c.uac else { return };
        let inv = &uac.invite;
        let header = |n: &Name| inv.first(n).map(|v| v.to_string()).unwrap_or_default();
        let target = match &inv.start {
            StartLine::Request { uri, .. } => uri.clone(),
            StartLine::Response { .. } => return,
        };
        let cseq = header(&Name::CSEQ);
        let cseq_num = cseq.split_whitespace().next().unwrap_or("1");
        let text = format!(
            "CANCEL {target} SIP/2.0\r\nVia: {}\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq_num} CANCEL\r\nContent-Length: 0\r\n\r\n",
            header(&Name::VIA),
            header(&Name::FROM),
            header(&Name::TO),
            header(&Name::CALL_ID),
        );
        let key = format!("{}|CANCEL", uac.branch);
        let flow = c.flow;
        let tx = ClientNonInvite::new(now, flow.reliability(), self.cfg.timers, Bytes::from(text));
        self.client_txs
            .insert(key.clone(), ClientTxEntry { tx, flow });
        self.drain_client(now, &key);
    }

    /// The ACK of a non-2xx final response (§17.1.1.3): same branch and Request-URI as
    /// the INVITE, the To of the response.
    fn non_2xx_ack(&self, branch: &str, response: &SipMessage) -> Option<Bytes> {
        let entry = self.client_invites.get(branch)?;
        let uac = self.calls.get(&entry.call)?.uac.as_ref()?;
        let inv = &uac.invite;
        let header =
            |m: &SipMessage, n: &Name| m.first(n).map(|v| v.to_string()).unwrap_or_default();
        let target = match &inv.start {
            StartLine::Request { uri, .. } => uri.clone(),
            StartLine::Response { .. } => return None,
        };
        let cseq = header(inv, &Name::CSEQ);
        let cseq_num = cseq.split_whitespace().next().unwrap_or("1");
        Some(Bytes::from(format!(
            "ACK {target} SIP/2.0\r\nVia: {}\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq_num} ACK\r\nContent-Length: 0\r\n\r\n",
            header(inv, &Name::VIA),
            header(inv, &Name::FROM),
            header(response, &Name::TO),
            header(inv, &Name::CALL_ID),
        )))
    }

    /// BYE for a call the application has already been told is over.
    fn send_bye_quietly(&mut self, now: Instant, call: CallId) {
        self.send_bye(now, call);
        // `send_bye` reported Ended; the application heard it at cancel time already.
        if let Some(Event::Ended { call: c, .. }) = self.events.back()
            && *c == call
        {
            self.events.pop_back();
        }
    }

    /// Drops a call without telling the application (it was told before).
    fn forget_call(&mut self, call: CallId) {
        if let Some(c) = self.calls.remove(&call) {
            self.dialogs
                .remove(&(c.dialog.call_id.clone(), c.dialog.local_tag.clone()));
        }
    }
}
