//! The plugin runtime the daemon calls from its SIP task. Every method only sends to a
//! thread and returns; the answer comes back through the `notify` callback as a
//! `PluginReply` carrying the caller's `tag`.
//!
//! Threads: one stores tickets and bookings in the outbox, one after the other (the id
//! sequence is serial), and replies only once the item is durable; two deliver, one for
//! tickets and one for bookings, each woken when an item is stored and otherwise asleep
//! until its next retry; small pools answer slot queries and caller lookups, so a slow
//! back end never delays a ticket being stored.
#![allow(clippy::disallowed_methods)] // the plugin threads read the clock: item times and retry deadlines

use super::backend::{self, embedded::Agenda};
use super::config::{AppointmentBackend, PluginsConfig};
use super::delivery::{
    self, Backoff, BookingSink, Deliver, Lane, Outcome, TicketSink, deliver_one, lock,
};
use super::outbox::{Item, Kind, Outbox, QUESTION_RATE};
use super::{
    Booking, BookingRequest, CallInfo, CallerInfo, CallerLookup, PluginError, Slot, SlotQuery,
    Ticket, TicketRequest,
};
use crate::pii::Redacted;
use chrono::{DateTime, FixedOffset, TimeDelta};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError, bounded, unbounded};
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Threads answering slot queries.
const SLOT_WORKERS: usize = 2;
/// Threads answering caller lookups (a lookup runs while the call is answered).
const LOOKUP_WORKERS: usize = 4;

/// An answer to one request, with the tag the caller gave.
#[derive(Debug, Clone, PartialEq)]
pub enum PluginReply {
    /// `Err`: the ticket could not be stored durably; the caller must be told so.
    TicketStored {
        tag: u64,
        result: Result<Ticket, String>,
    },
    Slots {
        tag: u64,
        result: Result<Vec<Slot>, PluginError>,
    },
    /// `Err`: not stored (disk failure, or the slot was taken meanwhile).
    Booked {
        tag: u64,
        result: Result<Booking, String>,
    },
    CallerLooked {
        tag: u64,
        result: Result<CallerInfo, PluginError>,
    },
}

/// Why the plugin runtime could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("plugin outbox {}: {source}", dir.display())]
    Outbox { dir: PathBuf, source: io::Error },
    #[error("plugin delivery directory {}: {source}", dir.display())]
    Directory { dir: PathBuf, source: io::Error },
    #[error("cannot start the plugin threads: {0}")]
    Threads(io::Error),
}

type Notify = Arc<dyn Fn(PluginReply) + Send + Sync>;

enum StoreJob {
    Ticket(u64, TicketRequest),
    Booking(u64, BookingRequest),
}

/// The running plugin threads.
pub struct PluginService {
    store: Option<Sender<StoreJob>>,
    slots: Option<Sender<(u64, SlotQuery)>>,
    lookups: Option<Sender<(u64, CallInfo)>>,
    has_lookup: bool,
    stop: Arc<AtomicBool>,
    /// Disconnected once every thread has ended (each holds a sender).
    done: Receiver<()>,
    outbox: Arc<Mutex<Outbox>>,
    /// The last pending count read, answered while a store or delivery holds the outbox
    /// (the caller is the SIP task, which must not wait on an fsync).
    pending_seen: std::sync::atomic::AtomicUsize,
}

/// The wall-clock time of the Italian offices, which item times are written in.
pub fn wall_now() -> DateTime<FixedOffset> {
    chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Rome)
        .fixed_offset()
}

impl PluginService {
    /// Opens the outbox (replaying pending items, which delivery resumes at once),
    /// prepares the back ends and starts the threads.
    pub fn start(
        cfg: &PluginsConfig,
        notify: Box<dyn Fn(PluginReply) + Send + Sync>,
    ) -> Result<PluginService, StartError> {
        let notify: Notify = Arc::from(notify);
        let outbox = Outbox::open(&cfg.outbox_dir).map_err(|source| StartError::Outbox {
            dir: cfg.outbox_dir.clone(),
            source,
        })?;
        if let Some(dir) = cfg.tickets_dir() {
            std::fs::create_dir_all(&dir)
                .map_err(|source| StartError::Directory { dir, source })?;
        }
        let agenda = match (&cfg.appointments, cfg.bookings_dir()) {
            (AppointmentBackend::Outbox(a), Some(dir)) => {
                let since = wall_now().naive_local() - TimeDelta::days(1);
                let pending = pending_bookings(&outbox);
                let agenda = Agenda::open(a, dir.clone(), pending, since)
                    .map_err(|source| StartError::Directory { dir, source })?;
                Some(agenda)
            }
            _ => None,
        };
        let pending = outbox.pending().len();
        if pending > 0 {
            tracing::info!("plugin outbox: {pending} items to deliver");
        }
        let outbox = Arc::new(Mutex::new(outbox));
        let stop = Arc::new(AtomicBool::new(false));
        let (done_tx, done) = bounded::<()>(0);
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(f)
                .map(drop)
                .map_err(StartError::Threads)
        };

        // Delivery lanes.
        let backoff = Backoff::from_config(&cfg.retry);
        let mut wakers = Vec::new();
        let sinks: [(Kind, Box<dyn Deliver>); 2] = [
            (
                Kind::Ticket,
                Box::new(TicketSink(backend::ticket_desk(cfg))),
            ),
            (
                Kind::Booking,
                Box::new(BookingSink(backend::appointment_book(cfg, agenda.as_ref()))),
            ),
        ];
        for (kind, sink) in sinks {
            let (wake_tx, wake) = bounded(1);
            wakers.push(wake_tx);
            let (outbox, stop, done) = (outbox.clone(), stop.clone(), done_tx.clone());
            spawn(
                &format!("plugin-{}s", kind.name()),
                Box::new(move || {
                    lane_thread(kind, &outbox, sink, backoff, &wake, &stop);
                    // The outbox (and its lock) goes before `done` says this thread is
                    // over: a restart right after `shutdown` must find the lock free.
                    drop(outbox);
                    drop(done);
                }),
            )?;
        }

        // Storing.
        let (store, store_rx) = unbounded();
        {
            let (outbox, agenda, notify, done) = (
                outbox.clone(),
                agenda.clone(),
                notify.clone(),
                done_tx.clone(),
            );
            let max_samples = cfg.question.max_seconds.get() as usize * QUESTION_RATE as usize;
            spawn(
                "plugin-store",
                Box::new(move || {
                    store_thread(
                        &store_rx,
                        &outbox,
                        agenda.as_ref(),
                        &*notify,
                        &wakers,
                        max_samples,
                    );
                    drop((outbox, agenda));
                    drop(done);
                }),
            )?;
        }

        // Slot queries.
        let (slots, slots_rx) = unbounded::<(u64, SlotQuery)>();
        for i in 0..SLOT_WORKERS {
            let mut book = backend::appointment_book(cfg, agenda.as_ref());
            let (rx, notify, stop, done) = (
                slots_rx.clone(),
                notify.clone(),
                stop.clone(),
                done_tx.clone(),
            );
            spawn(
                &format!("plugin-slots-{i}"),
                Box::new(move || {
                    for (tag, query) in rx {
                        let result = if stop.load(Ordering::SeqCst) {
                            Err(shutting_down())
                        } else {
                            book.free_slots(&query)
                        };
                        notify(PluginReply::Slots { tag, result });
                    }
                    drop(done);
                }),
            )?;
        }

        // Caller lookups.
        let (lookups, lookups_rx) = unbounded::<(u64, CallInfo)>();
        let has_lookup = cfg.caller_lookup.is_some();
        for i in 0..if has_lookup { LOOKUP_WORKERS } else { 1 } {
            let mut hook: Option<Box<dyn CallerLookup>> = backend::caller_lookup(cfg);
            let (rx, notify, stop, done) = (
                lookups_rx.clone(),
                notify.clone(),
                stop.clone(),
                done_tx.clone(),
            );
            spawn(
                &format!("plugin-lookup-{i}"),
                Box::new(move || {
                    for (tag, call) in rx {
                        let result = match &mut hook {
                            _ if stop.load(Ordering::SeqCst) => Err(shutting_down()),
                            Some(h) => h.lookup(&call),
                            None => Ok(CallerInfo::default()),
                        };
                        notify(PluginReply::CallerLooked { tag, result });
                    }
                    drop(done);
                }),
            )?;
        }

        Ok(PluginService {
            store: Some(store),
            slots: Some(slots),
            lookups: Some(lookups),
            has_lookup,
            stop,
            done,
            outbox,
            pending_seen: Default::default(),
        })
    }

    /// Stores a ticket, replies `TicketStored`; delivery goes on in the background.
    pub fn open_ticket(&self, tag: u64, req: TicketRequest) {
        self.send_store(StoreJob::Ticket(tag, req));
    }

    /// Asks the appointments back end for free slots; replies `Slots`.
    pub fn free_slots(&self, tag: u64, query: SlotQuery) {
        if let Some(tx) = &self.slots {
            let _ = tx.send((tag, query));
        }
    }

    /// Stores a booking, replies `Booked`; delivery goes on in the background.
    pub fn book(&self, tag: u64, req: BookingRequest) {
        self.send_store(StoreJob::Booking(tag, req));
    }

    /// Asks the caller-lookup hook; replies `CallerLooked` (`Ok(default)` without one).
    pub fn lookup(&self, tag: u64, call: CallInfo) {
        if let Some(tx) = &self.lookups {
            let _ = tx.send((tag, call));
        }
    }

    /// Whether a caller-lookup hook is configured.
    pub fn has_lookup(&self) -> bool {
        self.has_lookup
    }

    /// Items stored and not yet delivered.
    pub fn pending(&self) -> usize {
        use std::sync::atomic::Ordering::Relaxed;
        match self.outbox.try_lock() {
            Ok(outbox) => {
                let n = outbox.pending().len();
                self.pending_seen.store(n, Relaxed);
                n
            }
            Err(_) => self.pending_seen.load(Relaxed),
        }
    }

    /// Stops taking requests; requests already sent are still answered (stores are
    /// completed); a delivery under way may finish until `deadline`. Pending items stay
    /// in the outbox for the next start.
    pub fn shutdown(mut self, deadline: Duration) {
        self.stop_taking();
        let until = Instant::now() + deadline;
        loop {
            match self.done.recv_deadline(until) {
                Ok(()) => {}
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    tracing::warn!(
                        "plugins: a back end is still busy at the shutdown deadline; \
                         undelivered items stay in the outbox"
                    );
                    break;
                }
            }
        }
    }

    fn send_store(&self, job: StoreJob) {
        if let Some(tx) = &self.store {
            let _ = tx.send(job);
        }
    }

    fn stop_taking(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.store = None;
        self.slots = None;
        self.lookups = None;
    }
}

impl Drop for PluginService {
    fn drop(&mut self) {
        self.stop_taking();
    }
}

fn shutting_down() -> PluginError {
    PluginError::Temporary("the switchboard is shutting down".into())
}

fn pending_bookings(outbox: &Outbox) -> Vec<Booking> {
    outbox
        .pending()
        .iter()
        .filter(|e| e.kind == Kind::Booking)
        .filter_map(|e| match outbox.get(&e.id) {
            Ok(Some(Item::Booking(b))) => Some(b),
            _ => None,
        })
        .collect()
}

/// Stores requests one after the other and wakes the delivery lanes. Ends when the
/// service stops taking requests and every request sent has been answered.
fn store_thread(
    rx: &Receiver<StoreJob>,
    outbox: &Mutex<Outbox>,
    agenda: Option<&Agenda>,
    notify: &(dyn Fn(PluginReply) + Send + Sync),
    wakers: &[Sender<()>],
    max_samples: usize,
) {
    let wake = |kind: Kind| {
        if let Some(w) = wakers.get(delivery::lane_of(kind)) {
            // A full channel means a wake-up is already pending.
            if let Err(TrySendError::Disconnected(())) = w.try_send(()) {
                tracing::error!("plugins: the {} delivery thread has ended", kind.name());
            }
        }
    };
    for job in rx {
        match job {
            StoreJob::Ticket(tag, mut req) => {
                if let Some(q) = &mut req.question {
                    q.truncate(max_samples);
                }
                let result = lock(outbox).store_ticket(wall_now(), req);
                match &result {
                    Ok(t) => {
                        tracing::info!(
                            "ticket {} stored ({}, caller {})",
                            t.id,
                            t.destination,
                            Redacted(&t.call.caller)
                        );
                        wake(Kind::Ticket);
                    }
                    Err(e) => tracing::error!("ticket NOT stored: {e}"),
                }
                let result = result.map_err(|e| e.to_string());
                notify(PluginReply::TicketStored { tag, result });
            }
            StoreJob::Booking(tag, req) => {
                let result = store_booking(outbox, agenda, req);
                match &result {
                    Ok(b) => {
                        tracing::info!(
                            "booking {} stored ({} at {}, caller {})",
                            b.id,
                            b.service,
                            b.slot.start,
                            Redacted(&b.call.caller)
                        );
                        wake(Kind::Booking);
                    }
                    Err(e) => tracing::warn!("booking NOT stored: {e}"),
                }
                notify(PluginReply::Booked { tag, result });
            }
        }
    }
}

/// Stores a booking; with the built-in agenda, only while a desk is free at that time.
fn store_booking(
    outbox: &Mutex<Outbox>,
    agenda: Option<&Agenda>,
    req: BookingRequest,
) -> Result<Booking, String> {
    let mut outbox = lock(outbox);
    if let Some(a) = agenda
        && !a.has_room(
            req.office.as_deref(),
            req.slot.start,
            req.idempotency_key.as_deref(),
        )
    {
        return Err(format!("the slot at {} is no longer free", req.slot.start));
    }
    let booking = outbox
        .store_booking(wall_now(), req)
        .map_err(|e| e.to_string())?;
    if let Some(a) = agenda {
        a.reserve(&booking);
    }
    Ok(booking)
}

/// Delivers the pending items of one kind in creation order, waiting between retries.
fn lane_thread(
    kind: Kind,
    outbox: &Mutex<Outbox>,
    mut sink: Box<dyn Deliver>,
    backoff: Backoff,
    wake: &Receiver<()>,
    stop: &AtomicBool,
) {
    let mut lane = Lane::new(backoff);
    loop {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let head = lock(outbox)
            .next_pending(kind)
            .map(|e| (e.id.clone(), e.attempts));
        if let Some((id, attempts)) = &head
            && lane.is_due(Instant::now())
        {
            let outcome = match deliver_one(outbox, id, sink.as_mut(), &wall_now) {
                Ok(outcome) => outcome,
                Err(e) => {
                    tracing::error!("plugin outbox: {id}: {e}");
                    if e.kind() == io::ErrorKind::NotFound {
                        lock(outbox).forget(id);
                    }
                    Outcome::Retry {
                        attempts: attempts + 1,
                        error: e.to_string(),
                    }
                }
            };
            log_outcome(id, &outcome);
            lane.handle_outcome(Instant::now(), &outcome);
            continue;
        }
        let woken = match head.and(lane.poll_timeout()) {
            Some(at) => wake
                .recv_deadline(at)
                .map_err(|e| e == RecvTimeoutError::Disconnected),
            None => wake.recv().map_err(|_| true),
        };
        if woken == Err(true) {
            return;
        }
    }
}

fn log_outcome(id: &str, outcome: &Outcome) {
    match outcome {
        Outcome::Delivered { remote_id: Some(r) } => tracing::info!("{id} delivered ({r})"),
        Outcome::Delivered { remote_id: None } => tracing::info!("{id} delivered"),
        Outcome::Retry { attempts, error } => {
            tracing::warn!("{id} not delivered (attempt {attempts}), will retry: {error}")
        }
        Outcome::Failed { reason } => {
            tracing::error!("{id} refused by the back end, kept in failed/: {reason}")
        }
    }
}
