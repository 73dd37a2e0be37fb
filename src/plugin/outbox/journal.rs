//! The pure side of the outbox: item kinds and their human-friendly ids, the id sequence
//! per year and kind, and the replay that rebuilds the delivery queue from what a
//! restart finds on disk. No file system here, so all of it is unit-tested directly.

use super::super::{Booking, Status, Ticket};
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What an outbox item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Ticket,
    Booking,
}

impl Kind {
    /// The id prefix: `LI` (Linea INPS) for tickets, `AP` (appuntamento) for bookings.
    pub fn prefix(self) -> &'static str {
        match self {
            Kind::Ticket => "LI",
            Kind::Booking => "AP",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Ticket => "ticket",
            Kind::Booking => "booking",
        }
    }
}

/// A ticket or a booking, as the outbox stores it (`{"kind": "ticket", ...}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Item {
    Ticket(Ticket),
    Booking(Booking),
}

impl Item {
    pub fn kind(&self) -> Kind {
        match self {
            Item::Ticket(_) => Kind::Ticket,
            Item::Booking(_) => Kind::Booking,
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Item::Ticket(t) => &t.id,
            Item::Booking(b) => &b.id,
        }
    }

    pub fn idempotency_key(&self) -> &str {
        match self {
            Item::Ticket(t) => &t.idempotency_key,
            Item::Booking(b) => &b.idempotency_key,
        }
    }

    pub fn created_at(&self) -> DateTime<FixedOffset> {
        match self {
            Item::Ticket(t) => t.created_at,
            Item::Booking(b) => b.created_at,
        }
    }

    pub fn status(&self) -> &Status {
        match self {
            Item::Ticket(t) => &t.status,
            Item::Booking(b) => &b.status,
        }
    }

    pub fn set_status(&mut self, status: Status) {
        match self {
            Item::Ticket(t) => t.status = status,
            Item::Booking(b) => b.status = status,
        }
    }

    /// Attempts so far while pending, else 0.
    pub fn attempts(&self) -> u32 {
        match self.status() {
            Status::Pending { attempts } => *attempts,
            _ => 0,
        }
    }

    /// What the item is for: the ticket's section or the booking's service.
    pub fn subject(&self) -> String {
        match self {
            Item::Ticket(t) => t.section.name().to_owned(),
            Item::Booking(b) => b.service.clone(),
        }
    }

    /// The caller's number (personal data: redact before showing it).
    pub fn caller(&self) -> &str {
        match self {
            Item::Ticket(t) => &t.call.caller,
            Item::Booking(b) => &b.call.caller,
        }
    }
}

/// `LI-2026-000123`.
pub fn format_id(kind: Kind, year: i32, n: u32) -> String {
    format!("{}-{year}-{n:06}", kind.prefix())
}

/// The kind, year and number of an id written by [`format_id`].
pub fn parse_id(id: &str) -> Option<(Kind, i32, u32)> {
    let mut parts = id.splitn(3, '-');
    let kind = match parts.next()? {
        "LI" => Kind::Ticket,
        "AP" => Kind::Booking,
        _ => return None,
    };
    let year = parts.next()?;
    let n = parts.next()?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if year.len() != 4 || !digits(year) || n.len() < 6 || !digits(n) {
        return None;
    }
    Some((kind, year.parse().ok()?, n.parse().ok()?))
}

/// The last number given per kind and year (`{"LI-2026": 123}` on disk). Numbers start
/// at 1 each year and are never given twice.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sequence {
    last: BTreeMap<String, u32>,
}

impl Sequence {
    fn key(kind: Kind, year: i32) -> String {
        format!("{}-{year}", kind.prefix())
    }

    /// Takes the next number for `kind` in `year` and returns the id.
    pub fn next(&mut self, kind: Kind, year: i32) -> String {
        let n = self.last.entry(Self::key(kind, year)).or_insert(0);
        *n += 1;
        format_id(kind, year, *n)
    }

    /// Makes sure no number up to that of `id` is given again.
    pub fn observe(&mut self, id: &str) {
        if let Some((kind, year, n)) = parse_id(id) {
            let last = self.last.entry(Self::key(kind, year)).or_insert(0);
            *last = (*last).max(n);
        }
    }

    pub fn last(&self, kind: Kind, year: i32) -> u32 {
        self.last.get(&Self::key(kind, year)).copied().unwrap_or(0)
    }
}

/// A pending item as the delivery queue knows it (the item itself stays on disk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    pub kind: Kind,
    pub created_at: DateTime<FixedOffset>,
    pub attempts: u32,
}

impl Entry {
    pub fn of(item: &Item) -> Entry {
        Entry {
            id: item.id().to_owned(),
            kind: item.kind(),
            created_at: item.created_at(),
            attempts: item.attempts(),
        }
    }

    /// Creation order: time, then id (two items of one instant keep their numbering).
    pub fn order_key(&self) -> (DateTime<FixedOffset>, &str) {
        (self.created_at, &self.id)
    }
}

/// What a restart rebuilds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// Items to deliver, in creation order.
    pub pending: Vec<Entry>,
    /// Pending copies of items already delivered or failed (a stop between writing the
    /// settled copy and removing the pending one): to be removed, not delivered again.
    pub settled_copies: Vec<String>,
    pub sequence: Sequence,
}

/// Rebuilds the queue from the pending directory's items. `settled(id)` tells whether
/// the item also has a delivered or failed copy; `known_ids` are every other id seen
/// on disk, which the sequence must not give again (a lost sequence file is rebuilt
/// from them).
pub fn replay<'a>(
    sequence: Option<Sequence>,
    pending: Vec<Item>,
    settled: impl Fn(&str) -> bool,
    known_ids: impl IntoIterator<Item = &'a str>,
) -> Replayed {
    let mut sequence = sequence.unwrap_or_default();
    for id in known_ids {
        sequence.observe(id);
    }
    let mut queue = Vec::new();
    let mut settled_copies = Vec::new();
    for item in pending {
        sequence.observe(item.id());
        if settled(item.id()) {
            settled_copies.push(item.id().to_owned());
        } else if matches!(item.status(), Status::Pending { .. }) {
            queue.push(Entry::of(&item));
        }
    }
    queue.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
    Replayed {
        pending: queue,
        settled_copies,
        sequence,
    }
}
