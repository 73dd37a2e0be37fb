//! The durable outbox: a ticket or booking is confirmed to the caller only once it is
//! here. Each store writes the recorded question (`<id>.wav`), then the item JSON, each
//! to a temporary name that is fsynced, renamed and its directory fsynced; any failure
//! returns `Err` and removes what was written, so nothing half-stored is delivered later.
//!
//! On disk (`outbox_dir`):
//!
//! ```text
//! sequence.json        last number per kind and year: {"LI-2026": 123, "AP-2026": 45}
//! lock                 held (flock) by the one process that stores and delivers
//! LI-2026-000123.wav   recorded questions, 8 kHz mono 16-bit PCM
//! pending/<id>.json    stored, not yet acknowledged; replayed on open
//! done/<id>.json       acknowledged by the back end (status `delivered`)
//! failed/<id>.json     refused by the back end, kept for a person (status `failed`)
//! keys/<sha256>        client-chosen idempotency key -> id, so a repeat is not stored twice
//! ```
//!
//! Only pending items are indexed in memory (id, kind, time, attempts); delivered and
//! failed ones are read from disk when listed.

mod journal;
#[cfg(test)]
pub(crate) mod tests;

pub use journal::{Entry, Item, Kind, Replayed, Sequence, format_id, parse_id, replay};

use super::{Booking, BookingRequest, Status, Ticket, TicketRequest};
use chrono::{DateTime, Datelike, FixedOffset};
use rand::RngExt;
use rand::rngs::StdRng;
use sha2::Digest;
use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

const PENDING: &str = "pending";
const DONE: &str = "done";
const FAILED: &str = "failed";
const KEYS: &str = "keys";
const SEQUENCE: &str = "sequence.json";

/// Sample rate of recorded questions.
pub const QUESTION_RATE: u32 = 8_000;

/// The outbox of one daemon. Opening it takes an exclusive lock on the directory.
pub struct Outbox {
    dir: PathBuf,
    sequence: Sequence,
    pending: VecDeque<Entry>,
    rng: StdRng,
    _lock: File,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("dir", &self.dir)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl Outbox {
    /// Opens (creating it if needed) the outbox in `dir` and replays its pending items.
    /// Fails when the directory cannot be used or another process holds it.
    pub fn open(dir: &Path) -> io::Result<Outbox> {
        Self::open_seeded(dir, rand::make_rng())
    }

    /// As [`Outbox::open`], with the generator of idempotency keys given (tests).
    pub fn open_seeded(dir: &Path, rng: StdRng) -> io::Result<Outbox> {
        let context = |what: &str, e: io::Error| {
            io::Error::new(e.kind(), format!("{what} {}: {e}", dir.display()))
        };
        for sub in [PENDING, DONE, FAILED, KEYS] {
            fs::create_dir_all(dir.join(sub))
                .map_err(|e| context("cannot create the outbox directory", e))?;
        }
        sync_dir(dir).map_err(|e| context("cannot sync", e))?;
        let lock = lock(dir)?;
        for sub in [".", PENDING, DONE, FAILED, KEYS] {
            remove_temporaries(&dir.join(sub));
        }
        let sequence = match fs::read(dir.join(SEQUENCE)) {
            Ok(bytes) => Some(serde_json::from_slice::<Sequence>(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", dir.join(SEQUENCE).display()),
                )
            })?),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(context("cannot read the sequence in", e)),
        };
        let mut pending = Vec::new();
        for path in json_files(&dir.join(PENDING))? {
            match read_item(&path) {
                Ok(item) => pending.push(item),
                Err(e) => tracing::error!("outbox: unreadable item left in place: {e}"),
            }
        }
        // The sequence file is written before an id is used; only when it is missing are
        // the settled items' names read to rebuild it.
        let mut known = Vec::new();
        if sequence.is_none() {
            for sub in [DONE, FAILED] {
                known.extend(json_files(&dir.join(sub))?.iter().filter_map(|p| stem(p)));
            }
        }
        let settled = |id: &str| {
            [DONE, FAILED]
                .iter()
                .any(|s| item_path(dir, s, id).exists())
        };
        let had_sequence = sequence.is_some();
        let replayed = replay(sequence, pending, settled, known.iter().map(String::as_str));
        for id in &replayed.settled_copies {
            let _ = fs::remove_file(item_path(dir, PENDING, id));
        }
        let outbox = Outbox {
            dir: dir.to_path_buf(),
            sequence: replayed.sequence,
            pending: replayed.pending.into(),
            rng,
            _lock: lock,
        };
        if !had_sequence {
            outbox.persist_sequence()?;
        }
        Ok(outbox)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where a recorded question named in an item (`question_wav`) is.
    pub fn question_path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Stores a ticket durably and returns it (status `Pending{0}`). A request carrying
    /// an idempotency key already stored returns that ticket instead.
    pub fn store_ticket(
        &mut self,
        now: DateTime<FixedOffset>,
        req: TicketRequest,
    ) -> io::Result<Ticket> {
        if let Some(key) = &req.idempotency_key
            && let Some(item) = self.find_by_key(key)?
        {
            return match item {
                Item::Ticket(t) => Ok(t),
                Item::Booking(b) => Err(key_reused(key, &b.id)),
            };
        }
        let id = self.next_id(Kind::Ticket, now.year())?;
        let mut written = Vec::new();
        let (question_wav, question_ms) = match &req.question {
            Some(samples) => {
                let name = format!("{id}.wav");
                written.push(self.dir.join(&name));
                if let Err(e) = write_atomic(&self.dir, &name, &wav_bytes(samples)?) {
                    remove_all(&written);
                    return Err(e);
                }
                let ms = samples.len() as u64 * 1000 / u64::from(QUESTION_RATE);
                (Some(name), Some(ms))
            }
            None => (None, None),
        };
        let ticket = Ticket {
            id,
            idempotency_key: self.key_for(req.idempotency_key.as_deref()),
            created_at: now,
            section: req.section,
            destination: req.destination,
            call: req.call,
            question_wav,
            question_ms,
            origin: req.origin,
            notes: req.notes,
            status: Status::Pending { attempts: 0 },
        };
        let client_key = req.idempotency_key.is_some();
        self.commit(&Item::Ticket(ticket.clone()), client_key, written)?;
        Ok(ticket)
    }

    /// Stores a booking durably, as [`Outbox::store_ticket`].
    pub fn store_booking(
        &mut self,
        now: DateTime<FixedOffset>,
        req: BookingRequest,
    ) -> io::Result<Booking> {
        if let Some(key) = &req.idempotency_key
            && let Some(item) = self.find_by_key(key)?
        {
            return match item {
                Item::Booking(b) => Ok(b),
                Item::Ticket(t) => Err(key_reused(key, &t.id)),
            };
        }
        let id = self.next_id(Kind::Booking, now.year())?;
        let booking = Booking {
            id,
            idempotency_key: self.key_for(req.idempotency_key.as_deref()),
            created_at: now,
            service: req.service,
            office: req.office,
            slot: req.slot,
            call: req.call,
            origin: req.origin,
            status: Status::Pending { attempts: 0 },
        };
        let client_key = req.idempotency_key.is_some();
        self.commit(&Item::Booking(booking.clone()), client_key, Vec::new())?;
        Ok(booking)
    }

    /// Pending items in creation order.
    pub fn pending(&self) -> Vec<Entry> {
        self.pending.iter().cloned().collect()
    }

    /// The oldest pending item of `kind`: the next to deliver.
    pub fn next_pending(&self, kind: Kind) -> Option<&Entry> {
        self.pending.iter().find(|e| e.kind == kind)
    }

    /// Every item on disk (pending, delivered, failed), in creation order.
    pub fn all(&self) -> io::Result<Vec<Item>> {
        read_all(&self.dir)
    }

    /// The stored item `id`, wherever it is.
    pub fn get(&self, id: &str) -> io::Result<Option<Item>> {
        find_item(&self.dir, id)
    }

    /// A temporary failure: one more attempt recorded. Returns the attempts so far.
    pub fn record_retry(&mut self, id: &str) -> io::Result<u32> {
        let Some(entry) = self.pending.iter_mut().find(|e| e.id == id) else {
            return Err(not_pending(id));
        };
        entry.attempts += 1;
        let attempts = entry.attempts;
        let mut item = read_item(&item_path(&self.dir, PENDING, id))?;
        item.set_status(Status::Pending { attempts });
        write_item(&self.dir.join(PENDING), &item)?;
        Ok(attempts)
    }

    /// The back end acknowledged the item.
    pub fn record_delivered(
        &mut self,
        id: &str,
        at: DateTime<FixedOffset>,
        remote_id: Option<String>,
    ) -> io::Result<Item> {
        self.settle(id, DONE, Status::Delivered { at, remote_id })
    }

    /// The back end refused the item: kept in `failed/` for a person.
    pub fn record_failed(&mut self, id: &str, reason: String) -> io::Result<Item> {
        self.settle(id, FAILED, Status::Failed { reason })
    }

    /// Puts a failed item back in the delivery queue (`centralino outbox retry ID`).
    pub fn requeue(&mut self, id: &str) -> io::Result<Entry> {
        if let Some(e) = self.pending.iter().find(|e| e.id == id) {
            return Ok(e.clone());
        }
        let failed = item_path(&self.dir, FAILED, id);
        let mut item = read_item(&failed)?;
        item.set_status(Status::Pending { attempts: 0 });
        write_item(&self.dir.join(PENDING), &item)?;
        fs::remove_file(&failed)?;
        sync_dir(&self.dir.join(FAILED))?;
        let entry = Entry::of(&item);
        let at = self
            .pending
            .iter()
            .position(|e| e.order_key() > entry.order_key())
            .unwrap_or(self.pending.len());
        self.pending.insert(at, entry.clone());
        Ok(entry)
    }

    /// Drops an item from the delivery queue without touching the disk (its file went
    /// missing).
    pub fn forget(&mut self, id: &str) {
        self.pending.retain(|e| e.id != id);
    }

    /// Moves a pending item to `sub` with `status`. The in-memory queue forgets it even
    /// when the disk write fails: it stays pending on disk and a restart offers it again,
    /// with the same idempotency key.
    fn settle(&mut self, id: &str, sub: &str, status: Status) -> io::Result<Item> {
        let Some(at) = self.pending.iter().position(|e| e.id == id) else {
            return Err(not_pending(id));
        };
        self.pending.remove(at);
        let from = item_path(&self.dir, PENDING, id);
        let mut item = read_item(&from)?;
        item.set_status(status);
        write_item(&self.dir.join(sub), &item)?;
        fs::remove_file(&from)?;
        sync_dir(&self.dir.join(PENDING))?;
        Ok(item)
    }

    fn next_id(&mut self, kind: Kind, year: i32) -> io::Result<String> {
        // Taken in memory first: a number whose write failed is skipped, never reused.
        let id = self.sequence.next(kind, year);
        self.persist_sequence()?;
        Ok(id)
    }

    fn persist_sequence(&self) -> io::Result<()> {
        let json = serde_json::to_vec(&self.sequence).map_err(io::Error::other)?;
        write_atomic(&self.dir, SEQUENCE, &json)
    }

    fn key_for(&mut self, client: Option<&str>) -> String {
        match client {
            Some(k) => k.to_owned(),
            None => format!("{:032x}", self.rng.random::<u128>()),
        }
    }

    /// The item stored under a client's idempotency key, if any.
    fn find_by_key(&self, key: &str) -> io::Result<Option<Item>> {
        let link = self.dir.join(KEYS).join(key_file(key));
        let id = match fs::read_to_string(&link) {
            Ok(id) => id,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        // A link whose item was never written (a failed store) is stale: ignore it.
        Ok(find_item(&self.dir, id.trim())?.filter(|item| item.idempotency_key() == key))
    }

    /// Writes the client key link, then the item; on any failure removes what was
    /// written (the link, the WAV, a pending file renamed before its directory sync
    /// failed).
    fn commit(
        &mut self,
        item: &Item,
        client_key: bool,
        mut written: Vec<PathBuf>,
    ) -> io::Result<()> {
        let result = (|| {
            if client_key {
                let name = key_file(item.idempotency_key());
                written.push(self.dir.join(KEYS).join(&name));
                write_atomic(&self.dir.join(KEYS), &name, item.id().as_bytes())?;
            }
            written.push(item_path(&self.dir, PENDING, item.id()));
            write_item(&self.dir.join(PENDING), item)
        })();
        if let Err(e) = result {
            remove_all(&written);
            return Err(e);
        }
        self.pending.push_back(Entry::of(item));
        Ok(())
    }
}

/// Every item in an outbox directory, in creation order, read without taking the lock
/// (`centralino outbox list` while the daemon runs).
pub fn read_all(dir: &Path) -> io::Result<Vec<Item>> {
    if !dir.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} is not an outbox directory", dir.display()),
        ));
    }
    let mut items = Vec::new();
    for sub in [PENDING, FAILED, DONE] {
        let d = dir.join(sub);
        if !d.is_dir() {
            continue;
        }
        for path in json_files(&d)? {
            match read_item(&path) {
                Ok(item) => items.push(item),
                // Moved between directories while we read: found in the next one.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    items.sort_by(|a, b| (a.created_at(), a.id()).cmp(&(b.created_at(), b.id())));
    items.dedup_by(|a, b| a.id() == b.id());
    Ok(items)
}

/// The item `id` in `dir`, looked for in pending, delivered and failed.
pub fn find_item(dir: &Path, id: &str) -> io::Result<Option<Item>> {
    if parse_id(id).is_none() {
        return Ok(None);
    }
    for sub in [PENDING, DONE, FAILED] {
        match read_item(&item_path(dir, sub, id)) {
            Ok(item) => return Ok(Some(item)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

fn item_path(dir: &Path, sub: &str, id: &str) -> PathBuf {
    dir.join(sub).join(format!("{id}.json"))
}

fn read_item(path: &Path) -> io::Result<Item> {
    let bytes = fs::read(path)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {e}", path.display()),
        )
    })
}

fn write_item(dir: &Path, item: &Item) -> io::Result<()> {
    let json = serde_json::to_vec_pretty(item).map_err(io::Error::other)?;
    write_atomic(dir, &format!("{}.json", item.id()), &json)
}

fn key_file(key: &str) -> String {
    hex::encode(sha2::Sha256::digest(key.as_bytes()))
}

fn key_reused(key: &str, id: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("idempotency key {key:?} already used for {id}"),
    )
}

fn not_pending(id: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{id} is not pending"))
}

/// The recorded question as a WAV file: 8 kHz mono 16-bit PCM.
fn wav_bytes(samples: &[i16]) -> io::Result<Vec<u8>> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: QUESTION_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = io::Cursor::new(Vec::new());
    let mut w = hound::WavWriter::new(&mut out, spec).map_err(io::Error::other)?;
    for &s in samples {
        w.write_sample(s).map_err(io::Error::other)?;
    }
    w.finalize().map_err(io::Error::other)?;
    Ok(out.into_inner())
}

/// Writes `dir/name` so that it is either absent or complete after a crash: a temporary
/// file, fsync, rename, fsync of the directory.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, dir.join(name))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Makes a directory's entries (creations, renames, removals) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn remove_all(paths: &[PathBuf]) {
    for p in paths {
        let _ = fs::remove_file(p);
    }
}

/// Takes the outbox lock, failing at once when another process holds it.
fn lock(dir: &Path) -> io::Result<File> {
    let path = dir.join("lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    // SAFETY: flock on a descriptor we own; it is released when the file is closed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let e = io::Error::last_os_error();
        return Err(if e.kind() == io::ErrorKind::WouldBlock {
            io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "outbox {} is in use by another centralino process",
                    dir.display()
                ),
            )
        } else {
            e
        });
    }
    Ok(file)
}

fn remove_temporaries(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.ends_with(".tmp") {
            let _ = fs::remove_file(e.path());
        }
    }
}

fn json_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir)? {
        let path = e?.path();
        let visible = path
            .file_name()
            .is_some_and(|n| !n.to_string_lossy().starts_with('.'));
        if visible && path.extension().is_some_and(|x| x == "json") {
            out.push(path);
        }
    }
    Ok(out)
}

fn stem(path: &Path) -> Option<String> {
    Some(path.file_stem()?.to_str()?.to_owned())
}
