//! Blind transfer by the operator (RFC 3515 REFER, RFC 3420 sipfrag NOTIFYs): a REFER
//! inside a call is accepted with 202, reported to the application as `Refer`, and its
//! progress is notified to the referrer: `100 Trying`, then the application's result.

use super::requests::uri_user;
use super::*;
use ezk_sip_types::Name;

impl Endpoint {
    pub(super) fn handle_refer(&mut self, now: Instant, key: &str, msg: &SipMessage, call: CallId) {
        let Some(refer_to) = msg.first(&Name::REFER_TO).map(|v| v.to_string()) else {
            return self.reply(now, key, msg, 400, "Missing Refer-To Header", |r| r);
        };
        let uri = match (refer_to.find('<'), refer_to.find('>')) {
            (Some(a), Some(b)) if a < b => refer_to[a + 1..b].to_owned(),
            _ => refer_to
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned(),
        };
        if uri.contains("Replaces") || uri.contains("replaces") {
            // Attended transfer replaces a dialog we don't have: only blind transfers.
            return self.reply(now, key, msg, 501, "Attended Transfer Not Supported", |r| r);
        }
        let target = uri_user(&uri);
        self.reply(now, key, msg, 202, "Accepted", |r| r);
        self.notify_refer(now, call, "SIP/2.0 100 Trying", false);
        tracing::info!(call = call.0, target = %target, "transfer requested");
        self.events.push_back(Event::Refer {
            call,
            target: target.to_owned(),
        });
    }

    /// The outcome of a transfer the application carried out: `status` 200 when the
    /// caller was taken (e.g. re-queued), 4xx/5xx otherwise. Ends the implicit
    /// subscription (RFC 3515 §2.4.5).
    pub fn refer_result(&mut self, now: Instant, call: CallId, status: u16) {
        let reason = match status {
            200..=299 => "OK",
            404 => "Not Found",
            _ => "Service Unavailable",
        };
        self.notify_refer(now, call, &format!("SIP/2.0 {status} {reason}"), true);
    }

    fn notify_refer(&mut self, now: Instant, call: CallId, sipfrag: &str, last: bool) {
        let branch = self.new_branch();
        let local = self.cfg.local;
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let via = ViaSpec {
            transport: c.flow.transport_name(),
            sent_by: local,
        };
        let state = if last {
            "terminated;reason=noresource"
        } else {
            "active;expires=60"
        };
        let body = format!("{sipfrag}\r\n");
        let notify = c.dialog.request_with(
            "NOTIFY",
            via,
            &branch,
            &[("Event", "refer"), ("Subscription-State", state)],
            Some(("message/sipfrag;version=2.0", &body)),
        );
        let flow = c.flow;
        let tx = ClientNonInvite::new(now, flow.reliability(), self.cfg.timers, notify);
        self.client_txs
            .insert(branch.clone(), ClientTxEntry { tx, flow });
        self.drain_client(now, &branch);
    }
}
