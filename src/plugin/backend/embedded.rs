//! The embedded `outbox` back end: "delivery" appends the ticket or booking JSON as one
//! line to `tickets.jsonl` / `bookings.jsonl` in a directory (fsync), with the recorded
//! question copied beside it; appointment slots come from the built-in agenda, minus
//! those already booked for the office.
//!
//! A stop between the append and the outbox marking the item delivered makes the next
//! start deliver it again; since delivery is one item at a time, that item is the last
//! line of the file, and its idempotency key is found there and the line not repeated.

use super::super::config::{AgendaConfig, default_agency_hours};
use super::super::outbox::{Item, sync_dir, write_atomic};
use super::super::{
    Ack, AppointmentBook, Booking, PluginError, Slot, SlotQuery, Status, Ticket, TicketDesk,
};
use super::agenda::{self, Layout};
use super::item_json;
use crate::ivr::schedule::Schedule;
use chrono::NaiveDateTime;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// How much of a file's end is read to find its last line.
const TAIL_BYTES: u64 = 1 << 20;

/// A JSON-lines file that delivered items are appended to.
#[derive(Debug, Clone)]
pub struct JsonLines {
    dir: PathBuf,
    file: &'static str,
    /// Where recorded questions are read from (tickets only).
    outbox_dir: Option<PathBuf>,
}

impl JsonLines {
    pub fn tickets(dir: PathBuf, outbox_dir: PathBuf) -> JsonLines {
        JsonLines {
            dir,
            file: "tickets.jsonl",
            outbox_dir: Some(outbox_dir),
        }
    }

    pub fn bookings(dir: PathBuf) -> JsonLines {
        JsonLines {
            dir,
            file: "bookings.jsonl",
            outbox_dir: None,
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(self.file)
    }

    /// Appends `item` unless the file already ends with it.
    pub fn append(&self, item: &Item) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let path = self.path();
        if last_key(&path)?.as_deref() == Some(item.idempotency_key()) {
            return Ok(());
        }
        if let (Item::Ticket(t), Some(outbox)) = (item, &self.outbox_dir)
            && let Some(wav) = &t.question_wav
        {
            let bytes = fs::read(outbox.join(wav))?;
            write_atomic(&self.dir, wav, &bytes)?;
        }
        let existed = path.exists();
        let mut f = OpenOptions::new().create(true).append(true).open(&path)?;
        let mut line = serde_json::to_vec(&item_json(item)).map_err(io::Error::other)?;
        line.push(b'\n');
        if !ends_with_newline(&path)? {
            // A line cut short by a crash stays alone on its line.
            line.insert(0, b'\n');
        }
        f.write_all(&line)?;
        f.sync_data()?;
        if !existed {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }
}

impl TicketDesk for JsonLines {
    fn deliver_ticket(&mut self, ticket: &Ticket) -> Result<Ack, PluginError> {
        self.append(&Item::Ticket(ticket.clone()))
            .map(|()| Ack::default())
            .map_err(|e| PluginError::Temporary(format!("{}: {e}", self.path().display())))
    }
}

fn ends_with_newline(path: &Path) -> io::Result<bool> {
    let mut f = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(true);
    }
    f.seek(SeekFrom::Start(len - 1))?;
    let mut b = [0u8];
    f.read_exact(&mut b)?;
    Ok(b[0] == b'\n')
}

/// The idempotency key of the last complete line of a JSON-lines file.
fn last_key(path: &Path) -> io::Result<Option<String>> {
    let mut f = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)))?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail)?;
    let last = tail
        .split(|&b| b == b'\n')
        .rev()
        .find(|l| !l.iter().all(u8::is_ascii_whitespace));
    Ok(last
        .and_then(|l| serde_json::from_slice::<serde_json::Value>(l).ok())
        .and_then(|v| Some(v.get("idempotency_key")?.as_str()?.to_owned())))
}

/// Bookings per slot of an office, by idempotency key (a repeat is counted once).
type Booked = BTreeMap<(Option<String>, NaiveDateTime), BTreeSet<String>>;

/// The built-in agenda, shared by the threads that offer slots, store bookings and
/// deliver them (clones share the bookings).
#[derive(Debug, Clone)]
pub struct Agenda {
    layout: Layout,
    hours: Schedule,
    lines: JsonLines,
    booked: Arc<Mutex<Booked>>,
}

impl Agenda {
    /// Opens the agenda delivering to `dir`: bookings already in `bookings.jsonl` and
    /// the outbox's `pending` ones (not yet delivered) count, from `since` on.
    pub fn open(
        cfg: &AgendaConfig,
        dir: PathBuf,
        pending: impl IntoIterator<Item = Booking>,
        since: NaiveDateTime,
    ) -> io::Result<Agenda> {
        fs::create_dir_all(&dir)?;
        let agenda = Agenda {
            layout: Layout {
                slot_minutes: cfg.slot_minutes.get(),
                days_ahead: cfg.days_ahead.get(),
                desks: cfg.desks.get(),
            },
            hours: cfg.hours.clone().unwrap_or_else(default_agency_hours),
            lines: JsonLines::bookings(dir),
            booked: Arc::default(),
        };
        match fs::File::open(agenda.lines.path()) {
            Ok(f) => {
                for line in io::BufReader::new(f).lines() {
                    let line = line?;
                    // A line cut short by a crash is skipped; its booking is delivered again.
                    if let Ok(b) = serde_json::from_str::<BookingLine>(&line)
                        && b.slot.start >= since
                    {
                        agenda.count(b.office, b.slot.start, b.idempotency_key);
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        for b in pending {
            if b.slot.start >= since && matches!(b.status, Status::Pending { .. }) {
                agenda.reserve(&b);
            }
        }
        Ok(agenda)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Booked> {
        self.booked.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn count(&self, office: Option<String>, start: NaiveDateTime, key: String) {
        self.lock().entry((office, start)).or_default().insert(key);
    }

    /// Bookings so far for a slot of an office.
    pub fn booked(&self, office: Option<&str>, start: NaiveDateTime) -> u32 {
        self.lock()
            .get(&(office.map(str::to_owned), start))
            .map_or(0, |k| k.len() as u32)
    }

    /// Whether a desk is still free at `start` (a booking already holding `key` counts
    /// as fitting: it is the same booking repeated).
    pub fn has_room(&self, office: Option<&str>, start: NaiveDateTime, key: Option<&str>) -> bool {
        let booked = self.lock();
        let keys = booked.get(&(office.map(str::to_owned), start));
        key.is_some_and(|k| keys.is_some_and(|s| s.contains(k)))
            || keys.map_or(0, BTreeSet::len) < self.layout.desks as usize
    }

    /// Counts a stored booking, so that its slot is not offered beyond the desks.
    pub fn reserve(&self, b: &Booking) {
        self.count(b.office.clone(), b.slot.start, b.idempotency_key.clone());
    }
}

/// The fields of a `bookings.jsonl` line the agenda needs.
#[derive(serde::Deserialize)]
struct BookingLine {
    idempotency_key: String,
    office: Option<String>,
    slot: Slot,
}

impl AppointmentBook for Agenda {
    fn free_slots(&mut self, query: &SlotQuery) -> Result<Vec<Slot>, PluginError> {
        // Slots well in the past no longer matter: memory stays bounded.
        let horizon = query.after - chrono::TimeDelta::days(1);
        self.lock().retain(|(_, start), _| *start >= horizon);
        let hours = query.hours.as_ref().unwrap_or(&self.hours);
        let office = query.office.as_deref();
        Ok(agenda::free_slots(
            hours,
            self.layout,
            query.after,
            query.limit,
            |start| self.booked(office, start),
        ))
    }

    fn deliver_booking(&mut self, booking: &Booking) -> Result<Ack, PluginError> {
        self.lines
            .append(&Item::Booking(booking.clone()))
            .map_err(|e| PluginError::Temporary(format!("{}: {e}", self.lines.path().display())))?;
        self.reserve(booking);
        Ok(Ack::default())
    }
}
