//! The plugin API: how tickets (Linea INPS requests to a regional CRIC section or GAI),
//! appointment bookings and caller lookups leave the switchboard for the institution's
//! back-office systems.
//!
//! Everything here is blocking and runs on the plugin threads the driver owns, never on
//! the SIP task. A request is first made durable in the outbox (`outbox`), which assigns
//! its human-friendly id; only then is the caller told it is registered. Delivery to the
//! back end (`TicketDesk::deliver_ticket`, `AppointmentBook::deliver_booking`) is retried
//! with backoff, across restarts, until acknowledged; every request carries an
//! idempotency key so a back end can drop a repeat.
//!
//! Built-in back ends: `outbox` (JSON lines + WAV in a local directory, the default),
//! `webhook` (HTTP POST of JSON) and `exec` (a program, JSON on stdin and stdout).
//! The JSON shapes are documented in `docs/plugins.md`.

pub mod backend;
pub mod config;
pub mod delivery;
pub mod outbox;
pub mod service;

pub use config::PluginsConfig;
pub use outbox::Outbox;
pub use service::{PluginReply, PluginService, StartError};

use chrono::{DateTime, FixedOffset, NaiveDateTime};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The section of a regional consultancy centre (CRIC) a ticket goes to, or the
/// region's IT-assistance group (GAI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Section {
    /// CRIC — pensioni.
    Pensioni,
    /// CRIC — prestazioni a sostegno del reddito.
    SostegnoReddito,
    /// CRIC — soggetto contribuente.
    Contribuente,
    /// GAI — gruppo di assistenza informatica.
    AssistenzaInformatica,
}

impl Section {
    pub const ALL: [Section; 4] = [
        Section::Pensioni,
        Section::SostegnoReddito,
        Section::Contribuente,
        Section::AssistenzaInformatica,
    ];

    /// The name used in YAML (`ticket: {target: pensioni}`) and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Section::Pensioni => "pensioni",
            Section::SostegnoReddito => "sostegno-reddito",
            Section::Contribuente => "contribuente",
            Section::AssistenzaInformatica => "assistenza-informatica",
        }
    }

    pub fn from_name(s: &str) -> Option<Section> {
        Section::ALL.into_iter().find(|x| x.name() == s)
    }

    /// True for the three CRIC sections, false for the GAI.
    pub fn is_cric(self) -> bool {
        self != Section::AssistenzaInformatica
    }
}

/// Who opened a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "by")]
pub enum Origin {
    /// The caller, in a `ticket` / `appointment` node of the menu.
    Menu,
    /// An operator transferred the caller (REFER) to a ticket or appointment address.
    Transfer { operator: String },
    /// The operator console, through the admin API.
    Api { operator: String },
}

/// The call a request comes from: what the back office needs to call back and route it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallInfo {
    /// The caller's number (E.164 when it could be normalised). Personal data: never
    /// logged unredacted.
    pub caller: String,
    /// The office number the caller dialled, E.164.
    pub dialled: String,
    /// Directory id of the dialled office (e.g. `roma-eur`), when known.
    pub office: Option<String>,
    /// Province sigla (`RM`) and region (`Lazio`) of that office.
    pub province: Option<String>,
    pub region: Option<String>,
    /// The menu path, node ids in order with keys pressed (`pensioni[3]`).
    pub path: Vec<String>,
    /// Digits the menu collected, by variable (e.g. `pratica`).
    pub vars: BTreeMap<String, String>,
}

/// A Linea INPS ticket, as stored in the outbox and sent to the back end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// Human-friendly id, read back to the caller: `LI-2026-000123`.
    pub id: String,
    /// Unique per request; sent as the `Idempotency-Key` header / field.
    pub idempotency_key: String,
    pub created_at: DateTime<FixedOffset>,
    pub section: Section,
    /// The destination the directory resolved: e.g. `CRIC Lazio — pensioni`.
    pub destination: String,
    pub call: CallInfo,
    /// File name (in the outbox directory) of the recorded question, 8 kHz mono WAV.
    pub question_wav: Option<String>,
    /// Length of the recorded question, ms.
    pub question_ms: Option<u64>,
    pub origin: Origin,
    /// The operator's notes, when an operator opened it.
    pub notes: Option<String>,
    pub status: Status,
}

/// What a caller or operator asks for; the outbox turns it into a `Ticket`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketRequest {
    pub section: Section,
    pub destination: String,
    pub call: CallInfo,
    /// Recorded question as 8 kHz 16-bit PCM samples (not serialised: written as WAV).
    #[serde(skip)]
    pub question: Option<Vec<i16>>,
    pub origin: Origin,
    pub notes: Option<String>,
    /// A key the client chose (API `Idempotency-Key` header): a request repeated with
    /// the same key returns the item already stored instead of a second one. `None`: the
    /// outbox makes one.
    pub idempotency_key: Option<String>,
}

/// A free appointment slot with an officer of an agency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// Local Italian time the appointment starts.
    pub start: NaiveDateTime,
    /// Minutes.
    pub duration_min: u32,
    /// The back office's id for the slot, if it has one (echoed in the booking).
    pub slot_id: Option<String>,
    /// The officer or desk, if the back office says.
    pub officer: Option<String>,
}

/// Which slots to offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotQuery {
    /// Agency (directory office id) the caller's number belongs to.
    pub office: Option<String>,
    /// The service from the menu (`appointment: {target: agenzia}`).
    pub service: String,
    /// Offer slots starting after this time.
    pub after: NaiveDateTime,
    /// At most this many (the caller hears up to three).
    pub limit: usize,
    pub call: CallInfo,
    /// The agency's opening hours and local holidays from the directory, when known:
    /// a built-in agenda offers slots only while the agency is open.
    #[serde(skip)]
    pub hours: Option<crate::ivr::schedule::Schedule>,
}

/// A confirmed appointment, as stored in the outbox and sent to the back end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booking {
    /// Human-friendly id, read back to the caller: `AP-2026-000045`.
    pub id: String,
    pub idempotency_key: String,
    pub created_at: DateTime<FixedOffset>,
    pub service: String,
    pub office: Option<String>,
    pub slot: Slot,
    pub call: CallInfo,
    pub origin: Origin,
    pub status: Status,
}

/// What the caller chose; the outbox turns it into a `Booking`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingRequest {
    pub service: String,
    pub office: Option<String>,
    pub slot: Slot,
    pub call: CallInfo,
    pub origin: Origin,
    /// As in `TicketRequest`.
    pub idempotency_key: Option<String>,
}

/// Delivery state of an outbox item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Status {
    /// Stored durably, not yet acknowledged by the back end.
    Pending { attempts: u32 },
    /// Acknowledged; `remote_id` is the back office's own id when it gave one.
    Delivered {
        at: DateTime<FixedOffset>,
        remote_id: Option<String>,
    },
    /// The back end refused it for good (e.g. HTTP 422): kept for a person to look at.
    Failed { reason: String },
}

/// The back end's acknowledgement of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ack {
    /// The back office's own id for the item, when it returns one.
    pub remote_id: Option<String>,
}

/// Why a call to a back end did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginError {
    /// Try again later: unreachable, timed out, 5xx, 408, 429, a crashed program.
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// Do not retry: the back end refused the request itself (4xx, a program's refusal).
    #[error("refused: {0}")]
    Refused(String),
}

/// What a caller-lookup hook may tell about a caller before the menu starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallerInfo {
    /// Extra values for the menu and the operator (e.g. `known: "1"`), merged into the
    /// call's variables.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
}

/// Where tickets are delivered.
pub trait TicketDesk: Send {
    fn deliver_ticket(&mut self, ticket: &Ticket) -> Result<Ack, PluginError>;
}

/// Where appointment slots come from and bookings go.
pub trait AppointmentBook: Send {
    fn free_slots(&mut self, query: &SlotQuery) -> Result<Vec<Slot>, PluginError>;
    fn deliver_booking(&mut self, booking: &Booking) -> Result<Ack, PluginError>;
}

/// Looks the caller up when the call arrives (optional).
pub trait CallerLookup: Send {
    fn lookup(&mut self, call: &CallInfo) -> Result<CallerInfo, PluginError>;
}
