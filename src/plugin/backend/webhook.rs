//! The `webhook` back end: each request is an HTTP/1.1 POST (RFC 9110 §9.3.3) of JSON
//! to a configured URL, with a timeout. Tickets and bookings carry their idempotency key
//! in the body and as the `Idempotency-Key` header, so the back office can drop a repeat.
//!
//! Replies (RFC 9110 §15): 2xx is an acknowledgement (a JSON body `{"id": ...}` names
//! the back office's own id); 408, 429, 5xx, 401/403 (credentials to fix on our side),
//! 3xx, connection errors and timeouts are temporary; any other 4xx is a refusal. A body
//! `{"error": "...", "retry": false}` is a refusal whatever the status.

use super::super::config::{AppointmentWebhook, WebhookConfig};
use super::super::outbox::Item;
use super::super::{
    Ack, AppointmentBook, Booking, CallInfo, CallerInfo, CallerLookup, PluginError, Slot,
    SlotQuery, Ticket, TicketDesk,
};
use super::{item_json, parse_ack, parse_caller, parse_error, parse_slots};
use base64::Engine;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Longest reply body read, bytes.
const MAX_REPLY: u64 = 1 << 20;

/// An HTTP client for one back end.
#[derive(Debug, Clone)]
pub struct Webhook {
    agent: ureq::Agent,
    headers: BTreeMap<String, String>,
}

impl Webhook {
    pub fn new(timeout: Duration, headers: &BTreeMap<String, String>) -> Webhook {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("centralino/", env!("CARGO_PKG_VERSION")))
            .build();
        Webhook {
            agent: ureq::Agent::new_with_config(config),
            headers: headers.clone(),
        }
    }

    /// POSTs `body` to `url`; the reply body of a 2xx, else the failure sorted as
    /// temporary or refused.
    pub fn post(&self, url: &str, key: Option<&str>, body: &Value) -> Result<String, PluginError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| PluginError::Refused(format!("cannot encode the request: {e}")))?;
        let mut req = self
            .agent
            .post(url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json");
        if let Some(key) = key {
            req = req.header("Idempotency-Key", key);
        }
        for (name, value) in &self.headers {
            req = req.header(name.as_str(), value.as_str());
        }
        let reply = req
            .send(&bytes[..])
            .map_err(|e| PluginError::Temporary(format!("POST {url}: {e}")))?;
        let status = reply.status().as_u16();
        let text = reply
            .into_body()
            .with_config()
            .limit(MAX_REPLY)
            .read_to_string()
            .unwrap_or_default();
        if let Some(err) = parse_error(&text).filter(|e| matches!(e, PluginError::Refused(_))) {
            return Err(err);
        }
        classify(status, url, &text).map(|()| text)
    }
}

/// Sorts an HTTP status: `Ok` for 2xx, else temporary or refused.
pub fn classify(status: u16, url: &str, body: &str) -> Result<(), PluginError> {
    let detail = || {
        let body: String = body.trim().chars().take(200).collect();
        if body.is_empty() {
            format!("POST {url}: HTTP {status}")
        } else {
            format!("POST {url}: HTTP {status}: {body}")
        }
    };
    match status {
        200..=299 => Ok(()),
        408 | 429 | 401 | 403 => Err(PluginError::Temporary(detail())),
        400..=499 => Err(PluginError::Refused(detail())),
        _ => Err(PluginError::Temporary(detail())),
    }
}

/// Tickets over HTTP; the recorded question travels in the body as
/// `question_wav_base64`.
#[derive(Debug, Clone)]
pub struct WebhookTickets {
    hook: Webhook,
    url: String,
    outbox_dir: PathBuf,
}

impl WebhookTickets {
    pub fn new(cfg: &WebhookConfig, outbox_dir: PathBuf) -> WebhookTickets {
        WebhookTickets {
            hook: Webhook::new(Duration::from_millis(cfg.timeout_ms.get()), &cfg.headers),
            url: cfg.url.as_str().to_owned(),
            outbox_dir,
        }
    }
}

impl TicketDesk for WebhookTickets {
    fn deliver_ticket(&mut self, ticket: &Ticket) -> Result<Ack, PluginError> {
        let mut body = item_json(&Item::Ticket(ticket.clone()));
        if let Some(wav) = &ticket.question_wav {
            let bytes = std::fs::read(self.outbox_dir.join(wav)).map_err(|e| {
                PluginError::Temporary(format!("cannot read the question {wav}: {e}"))
            })?;
            body["question_wav_base64"] =
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes));
        }
        let reply = self
            .hook
            .post(&self.url, Some(&ticket.idempotency_key), &body)?;
        Ok(parse_ack(&reply))
    }
}

/// Appointments over HTTP: `slots_url` answers slot queries, `book_url` takes bookings.
#[derive(Debug, Clone)]
pub struct WebhookAppointments {
    hook: Webhook,
    slots_url: String,
    book_url: String,
}

impl WebhookAppointments {
    pub fn new(cfg: &AppointmentWebhook) -> WebhookAppointments {
        WebhookAppointments {
            hook: Webhook::new(Duration::from_millis(cfg.timeout_ms.get()), &cfg.headers),
            slots_url: cfg.slots_url.as_str().to_owned(),
            book_url: cfg.book_url.as_str().to_owned(),
        }
    }
}

impl AppointmentBook for WebhookAppointments {
    fn free_slots(&mut self, query: &SlotQuery) -> Result<Vec<Slot>, PluginError> {
        let body = serde_json::to_value(query).unwrap_or(Value::Null);
        parse_slots(&self.hook.post(&self.slots_url, None, &body)?)
    }

    fn deliver_booking(&mut self, booking: &Booking) -> Result<Ack, PluginError> {
        let body = item_json(&Item::Booking(booking.clone()));
        let reply = self
            .hook
            .post(&self.book_url, Some(&booking.idempotency_key), &body)?;
        Ok(parse_ack(&reply))
    }
}

/// Caller lookup over HTTP: POST of the call, reply `{"vars": {...}}`.
#[derive(Debug, Clone)]
pub struct WebhookLookup {
    hook: Webhook,
    url: String,
}

impl WebhookLookup {
    pub fn new(cfg: &WebhookConfig) -> WebhookLookup {
        WebhookLookup {
            hook: Webhook::new(Duration::from_millis(cfg.timeout_ms.get()), &cfg.headers),
            url: cfg.url.as_str().to_owned(),
        }
    }
}

impl CallerLookup for WebhookLookup {
    fn lookup(&mut self, call: &CallInfo) -> Result<CallerInfo, PluginError> {
        let body = serde_json::to_value(call).unwrap_or(Value::Null);
        parse_caller(&self.hook.post(&self.url, None, &body)?)
    }
}
