//! The built-in back ends and the JSON they exchange (`docs/plugins.md`):
//! `outbox` (JSON lines in a local directory, with the built-in agenda), `webhook`
//! (HTTP POST) and `exec` (a program, JSON on stdin and stdout). Here: the shapes they
//! share and the constructors from `PluginsConfig`.

pub mod agenda;
pub mod embedded;
pub mod exec;
pub mod webhook;

use super::config::{AppointmentBackend, LookupBackend, PluginsConfig, TicketBackend};
use super::outbox::Item;
use super::{Ack, AppointmentBook, CallerInfo, CallerLookup, PluginError, Slot, TicketDesk};
use serde::Deserialize;
use serde_json::Value;
use std::path::Path;

/// The JSON of a ticket or booking as delivered: the stored item without its delivery
/// status.
pub fn item_json(item: &Item) -> Value {
    let mut v = match item {
        Item::Ticket(t) => serde_json::to_value(t),
        Item::Booking(b) => serde_json::to_value(b),
    }
    .unwrap_or(Value::Null);
    if let Some(map) = v.as_object_mut() {
        map.remove("status");
    }
    v
}

/// A reply `{"error": "...", "retry": false}`: refused when `retry` is false, else a
/// temporary failure. `None` when the body is not such a reply.
pub fn parse_error(body: &str) -> Option<PluginError> {
    #[derive(Deserialize)]
    struct ErrorReply {
        error: Value,
        #[serde(default = "yes")]
        retry: bool,
    }
    fn yes() -> bool {
        true
    }
    let reply: ErrorReply = serde_json::from_str(body).ok()?;
    let message = match reply.error {
        Value::String(s) => s,
        Value::Null => return None,
        other => other.to_string(),
    };
    Some(if reply.retry {
        PluginError::Temporary(message)
    } else {
        PluginError::Refused(message)
    })
}

/// An acknowledgement: any body; `{"id": "CRM-42"}` names the back office's own id.
pub fn parse_ack(body: &str) -> Ack {
    let id = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| match v.get("id")? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
    Ack { remote_id: id }
}

/// `{"slots": [Slot, ...]}`.
pub fn parse_slots(body: &str) -> Result<Vec<Slot>, PluginError> {
    #[derive(Deserialize)]
    struct SlotsReply {
        slots: Vec<Slot>,
    }
    serde_json::from_str::<SlotsReply>(body)
        .map(|r| r.slots)
        .map_err(|e| PluginError::Temporary(format!("bad slots reply: {e}")))
}

/// `{"vars": {...}}`; an empty body means nothing known.
pub fn parse_caller(body: &str) -> Result<CallerInfo, PluginError> {
    if body.trim().is_empty() {
        return Ok(CallerInfo::default());
    }
    serde_json::from_str(body).map_err(|e| PluginError::Temporary(format!("bad lookup reply: {e}")))
}

/// The tickets back end configured.
pub fn ticket_desk(cfg: &PluginsConfig) -> Box<dyn TicketDesk> {
    let outbox_dir = absolute(&cfg.outbox_dir);
    match &cfg.tickets {
        TicketBackend::Outbox { .. } => Box::new(embedded::JsonLines::tickets(
            cfg.tickets_dir().unwrap_or_default(),
            outbox_dir,
        )),
        TicketBackend::Webhook(w) => Box::new(webhook::WebhookTickets::new(w, outbox_dir)),
        TicketBackend::Exec(e) => Box::new(exec::Exec::new(e, outbox_dir)),
    }
}

/// The appointments back end configured; `agenda` is the embedded one's shared state
/// (from [`embedded::Agenda::open`]) when `backend: outbox`.
pub fn appointment_book(
    cfg: &PluginsConfig,
    agenda: Option<&embedded::Agenda>,
) -> Box<dyn AppointmentBook> {
    match (&cfg.appointments, agenda) {
        (AppointmentBackend::Webhook(w), _) => Box::new(webhook::WebhookAppointments::new(w)),
        (AppointmentBackend::Exec(e), _) => Box::new(exec::Exec::new(e, absolute(&cfg.outbox_dir))),
        (AppointmentBackend::Outbox(_), Some(a)) => Box::new(a.clone()),
        (AppointmentBackend::Outbox(_), None) => Box::new(Unavailable),
    }
}

/// The caller-lookup hook configured, if any.
pub fn caller_lookup(cfg: &PluginsConfig) -> Option<Box<dyn CallerLookup>> {
    Some(match cfg.caller_lookup.as_ref()? {
        LookupBackend::Webhook(w) => Box::new(webhook::WebhookLookup::new(w)),
        LookupBackend::Exec(e) => Box::new(exec::Exec::new(e, absolute(&cfg.outbox_dir))),
    })
}

fn absolute(p: &Path) -> std::path::PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// An agenda that could not be opened: every call is a temporary failure.
struct Unavailable;

impl AppointmentBook for Unavailable {
    fn free_slots(&mut self, _: &super::SlotQuery) -> Result<Vec<Slot>, PluginError> {
        Err(PluginError::Temporary("the agenda is not open".into()))
    }

    fn deliver_booking(&mut self, _: &super::Booking) -> Result<Ack, PluginError> {
        Err(PluginError::Temporary("the agenda is not open".into()))
    }
}

#[cfg(test)]
mod tests;
