//! Outbox tests: the pure sequence and replay, then real stores on a temporary
//! directory: WAV and JSON written, idempotent repeats, restart and replay, and a
//! failed write that leaves nothing to deliver.

use super::*;
use crate::plugin::{CallInfo, Origin, Section, Slot};
use chrono::TimeZone;
use rand::SeedableRng;
use std::collections::BTreeSet;

pub(crate) fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<FixedOffset> {
    FixedOffset::east_opt(3600)
        .unwrap()
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .unwrap()
}

fn call() -> CallInfo {
    CallInfo {
        caller: "+393331234567".into(),
        dialled: "+390659051".into(),
        office: Some("roma-eur".into()),
        province: Some("RM".into()),
        region: Some("Lazio".into()),
        path: vec!["main[1]".into(), "pensioni".into()],
        vars: [("pratica".to_owned(), "123456".to_owned())].into(),
    }
}

pub(crate) fn ticket_request(question: Option<Vec<i16>>, key: Option<&str>) -> TicketRequest {
    TicketRequest {
        section: Section::Pensioni,
        destination: "CRIC Lazio — pensioni".into(),
        call: call(),
        question,
        origin: Origin::Menu,
        notes: None,
        idempotency_key: key.map(str::to_owned),
    }
}

pub(crate) fn booking_request(start: &str, key: Option<&str>) -> BookingRequest {
    BookingRequest {
        service: "agenzia".into(),
        office: Some("roma-eur".into()),
        slot: Slot {
            start: chrono::NaiveDateTime::parse_from_str(start, "%Y-%m-%d %H:%M").unwrap(),
            duration_min: 30,
            slot_id: None,
            officer: None,
        },
        call: call(),
        origin: Origin::Menu,
        idempotency_key: key.map(str::to_owned),
    }
}

fn open(dir: &Path) -> Outbox {
    Outbox::open_seeded(dir, StdRng::seed_from_u64(7)).unwrap()
}

// ---- pure parts ----

#[test]
fn ids_are_per_kind_and_year_and_parse_back() {
    let mut s = Sequence::default();
    assert_eq!(s.next(Kind::Ticket, 2026), "LI-2026-000001");
    assert_eq!(s.next(Kind::Ticket, 2026), "LI-2026-000002");
    assert_eq!(s.next(Kind::Booking, 2026), "AP-2026-000001");
    assert_eq!(s.next(Kind::Ticket, 2027), "LI-2027-000001");
    s.observe("LI-2026-000123");
    s.observe("LI-2026-000005");
    s.observe("XX-2026-000999");
    assert_eq!(s.next(Kind::Ticket, 2026), "LI-2026-000124");
    assert_eq!(s.last(Kind::Booking, 2026), 1);
    assert_eq!(parse_id("AP-2026-000045"), Some((Kind::Booking, 2026, 45)));
    assert_eq!(
        parse_id("LI-2026-1234567"),
        Some((Kind::Ticket, 2026, 1_234_567))
    );
    for bad in [
        "LI-26-000001",
        "LI-2026-12",
        "AP-2026-00004x",
        "ZZ-2026-000001",
        "",
    ] {
        assert_eq!(parse_id(bad), None, "{bad}");
    }
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(
        json, r#"{"AP-2026":1,"LI-2026":124,"LI-2027":1}"#,
        "the sequence file"
    );
}

fn item(id: &str, minute: u32, status: Status) -> Item {
    let mut t = Ticket {
        id: id.into(),
        idempotency_key: format!("k-{id}"),
        created_at: at(2026, 3, 2, 10, minute),
        section: Section::Contribuente,
        destination: "CRIC Lazio — soggetto contribuente".into(),
        call: CallInfo::default(),
        question_wav: None,
        question_ms: None,
        origin: Origin::Menu,
        notes: None,
        status: Status::Pending { attempts: 0 },
    };
    t.status = status;
    Item::Ticket(t)
}

#[test]
fn replay_orders_by_creation_and_drops_settled_copies() {
    let pending = vec![
        item("LI-2026-000003", 5, Status::Pending { attempts: 2 }),
        item("LI-2026-000001", 1, Status::Pending { attempts: 0 }),
        item("LI-2026-000002", 3, Status::Pending { attempts: 7 }),
    ];
    let settled: BTreeSet<&str> = ["LI-2026-000002"].into();
    let r = replay(
        Some(Sequence::default()),
        pending,
        |id| settled.contains(id),
        ["LI-2026-000009"],
    );
    let ids: Vec<_> = r
        .pending
        .iter()
        .map(|e| (e.id.as_str(), e.attempts))
        .collect();
    assert_eq!(ids, [("LI-2026-000001", 0), ("LI-2026-000003", 2)]);
    assert_eq!(r.settled_copies, ["LI-2026-000002"]);
    assert_eq!(
        r.sequence.last(Kind::Ticket, 2026),
        9,
        "a lost sequence is rebuilt from every id seen"
    );
}

#[test]
fn item_json_is_tagged_with_its_kind() {
    let v =
        serde_json::to_value(item("LI-2026-000001", 0, Status::Pending { attempts: 1 })).unwrap();
    assert_eq!(v["kind"], "ticket");
    assert_eq!(v["section"], "contribuente");
    assert_eq!(
        v["status"],
        serde_json::json!({"state": "pending", "attempts": 1})
    );
    assert_eq!(v["origin"], serde_json::json!({"by": "menu"}));
    let back: Item = serde_json::from_value(v).unwrap();
    assert_eq!(back.id(), "LI-2026-000001");
}

// ---- on disk ----

#[test]
fn a_ticket_is_stored_with_its_question_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let samples: Vec<i16> = (0..16_000).map(|i| (i % 200) as i16 * 100).collect();
    let t = {
        let mut ob = open(dir.path());
        let t = ob
            .store_ticket(
                at(2026, 3, 2, 10, 0),
                ticket_request(Some(samples.clone()), None),
            )
            .unwrap();
        assert_eq!(t.id, "LI-2026-000001");
        assert_eq!(t.question_wav.as_deref(), Some("LI-2026-000001.wav"));
        assert_eq!(t.question_ms, Some(2000));
        assert_eq!(t.status, Status::Pending { attempts: 0 });
        assert_eq!(t.idempotency_key.len(), 32);
        let t2 = ob
            .store_ticket(at(2026, 3, 2, 10, 1), ticket_request(None, None))
            .unwrap();
        assert_ne!(t.idempotency_key, t2.idempotency_key);
        assert_eq!(t2.question_wav, None);
        t
    };
    let mut wav = hound::WavReader::open(dir.path().join("LI-2026-000001.wav")).unwrap();
    assert_eq!(wav.spec().sample_rate, 8000);
    assert_eq!(wav.spec().channels, 1);
    let back: Vec<i16> = wav.samples::<i16>().map(Result::unwrap).collect();
    assert_eq!(back, samples);

    let mut ob = open(dir.path());
    let ids: Vec<_> = ob.pending().into_iter().map(|e| e.id).collect();
    assert_eq!(ids, ["LI-2026-000001", "LI-2026-000002"]);
    assert_eq!(ob.get(&t.id).unwrap(), Some(Item::Ticket(t)));
    let next = ob
        .store_ticket(at(2026, 3, 3, 9, 0), ticket_request(None, None))
        .unwrap();
    assert_eq!(next.id, "LI-2026-000003", "numbers are never reused");
    let b = ob
        .store_booking(
            at(2027, 1, 2, 9, 0),
            booking_request("2027-01-04 08:30", None),
        )
        .unwrap();
    assert_eq!(b.id, "AP-2027-000001");
}

#[test]
fn the_sequence_survives_delivered_items_and_a_lost_sequence_file() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut ob = open(dir.path());
        for _ in 0..3 {
            let t = ob
                .store_ticket(at(2026, 5, 1, 10, 0), ticket_request(None, None))
                .unwrap();
            ob.record_delivered(&t.id, at(2026, 5, 1, 10, 1), None)
                .unwrap();
        }
        assert!(ob.pending().is_empty());
    }
    assert_eq!(
        open(dir.path())
            .store_ticket(at(2026, 5, 2, 8, 0), ticket_request(None, None))
            .unwrap()
            .id,
        "LI-2026-000004"
    );
    fs::remove_file(dir.path().join("sequence.json")).unwrap();
    let mut ob = open(dir.path());
    let t = ob
        .store_ticket(at(2026, 5, 2, 9, 0), ticket_request(None, None))
        .unwrap();
    assert_eq!(t.id, "LI-2026-000005", "rebuilt from the items on disk");
}

#[test]
fn a_repeated_key_returns_the_stored_item_even_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = {
        let mut ob = open(dir.path());
        let first = ob
            .store_ticket(at(2026, 3, 2, 10, 0), ticket_request(None, Some("req-1")))
            .unwrap();
        let again = ob
            .store_ticket(at(2026, 3, 2, 10, 5), ticket_request(None, Some("req-1")))
            .unwrap();
        assert_eq!(first, again);
        assert_eq!(first.idempotency_key, "req-1");
        assert_eq!(ob.pending().len(), 1);
        let err = ob
            .store_booking(
                at(2026, 3, 2, 10, 5),
                booking_request("2026-03-03 09:00", Some("req-1")),
            )
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        first
    };
    let mut ob = open(dir.path());
    ob.record_delivered(&first.id, at(2026, 3, 2, 10, 6), Some("CRM-1".into()))
        .unwrap();
    let again = ob
        .store_ticket(at(2026, 3, 2, 11, 0), ticket_request(None, Some("req-1")))
        .unwrap();
    assert_eq!(again.id, first.id);
    assert!(matches!(again.status, Status::Delivered { .. }));
    assert!(ob.pending().is_empty(), "no second ticket");
    let b1 = ob
        .store_booking(
            at(2026, 3, 2, 10, 5),
            booking_request("2026-03-03 09:00", Some("b-1")),
        )
        .unwrap();
    let b2 = ob
        .store_booking(
            at(2026, 3, 2, 10, 6),
            booking_request("2026-03-03 09:00", Some("b-1")),
        )
        .unwrap();
    assert_eq!(b1, b2);
}

#[test]
fn statuses_move_items_and_are_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let mut ob = open(dir.path());
    let ids: Vec<String> = (0..3)
        .map(|i| {
            ob.store_ticket(at(2026, 3, 2, 10, i), ticket_request(None, None))
                .unwrap()
                .id
        })
        .collect();
    assert_eq!(ob.record_retry(&ids[0]).unwrap(), 1);
    assert_eq!(ob.record_retry(&ids[0]).unwrap(), 2);
    ob.record_delivered(&ids[1], at(2026, 3, 2, 11, 0), Some("CRM-42".into()))
        .unwrap();
    ob.record_failed(&ids[2], "HTTP 422".into()).unwrap();
    assert_eq!(ob.next_pending(Kind::Ticket).unwrap().attempts, 2);
    assert!(ob.next_pending(Kind::Booking).is_none());
    drop(ob);

    let mut ob = open(dir.path());
    let pending = ob.pending();
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (pending[0].id.as_str(), pending[0].attempts),
        (ids[0].as_str(), 2)
    );
    let all = ob.all().unwrap();
    let states: Vec<_> = all
        .iter()
        .map(|i| (i.id().to_owned(), i.status().clone()))
        .collect();
    assert_eq!(states[0].1, Status::Pending { attempts: 2 });
    assert_eq!(
        states[1].1,
        Status::Delivered {
            at: at(2026, 3, 2, 11, 0),
            remote_id: Some("CRM-42".into())
        }
    );
    assert_eq!(
        states[2].1,
        Status::Failed {
            reason: "HTTP 422".into()
        }
    );
    assert!(ob.record_retry(&ids[1]).is_err(), "not pending");

    let e = ob.requeue(&ids[2]).unwrap();
    assert_eq!(e.attempts, 0);
    let order: Vec<_> = ob.pending().into_iter().map(|e| e.id).collect();
    assert_eq!(order, [ids[0].clone(), ids[2].clone()]);
    assert!(ob.requeue("LI-2026-000099").is_err());
}

#[test]
fn a_stop_between_settling_and_removing_is_replayed_as_settled() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let mut ob = open(dir.path());
        let t = ob
            .store_ticket(at(2026, 3, 2, 10, 0), ticket_request(None, None))
            .unwrap();
        let copy = fs::read(item_path(dir.path(), PENDING, &t.id)).unwrap();
        ob.record_delivered(&t.id, at(2026, 3, 2, 10, 1), None)
            .unwrap();
        // The pending copy is back, as if the daemon stopped before removing it.
        fs::write(item_path(dir.path(), PENDING, &t.id), copy).unwrap();
        fs::write(dir.path().join(PENDING).join(".x.json.tmp"), b"{").unwrap();
        t.id
    };
    let ob = open(dir.path());
    assert!(ob.pending().is_empty());
    assert!(!item_path(dir.path(), PENDING, &id).exists());
    assert!(!dir.path().join(PENDING).join(".x.json.tmp").exists());
    assert_eq!(ob.all().unwrap().len(), 1);
}

#[test]
fn a_failed_write_returns_err_and_leaves_nothing_to_deliver() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("outbox");
    let mut ob = open(&root);
    ob.store_ticket(at(2026, 3, 2, 10, 0), ticket_request(None, None))
        .unwrap();
    // The pending directory is replaced by a file.
    fs::remove_dir_all(root.join(PENDING)).unwrap();
    fs::write(root.join(PENDING), b"not a directory").unwrap();
    let err = ob
        .store_ticket(
            at(2026, 3, 2, 10, 1),
            ticket_request(Some(vec![1; 800]), Some("k")),
        )
        .unwrap_err();
    assert!(!err.to_string().is_empty());
    assert_eq!(ob.pending().len(), 1, "the failed ticket is not queued");
    assert!(
        !root.join("LI-2026-000002.wav").exists(),
        "its WAV is removed"
    );
    assert_eq!(
        fs::read_dir(root.join(KEYS)).unwrap().count(),
        0,
        "and its key link"
    );
    // The whole outbox directory replaced by a file.
    fs::remove_dir_all(&root).unwrap();
    fs::write(&root, b"x").unwrap();
    assert!(
        ob.store_ticket(at(2026, 3, 2, 10, 2), ticket_request(None, None))
            .is_err()
    );
    assert!(
        ob.store_booking(
            at(2026, 3, 2, 10, 2),
            booking_request("2026-03-03 09:00", None)
        )
        .is_err()
    );
    assert_eq!(ob.pending().len(), 1);
    drop(ob);
    fs::remove_file(&root).unwrap();
    let ob = open(&root);
    assert!(ob.pending().is_empty(), "a fresh outbox delivers nothing");
}

#[test]
fn one_process_at_a_time_and_unusable_directories_fail_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let ob = open(dir.path());
    let err = Outbox::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("in use"), "{err}");
    drop(ob);
    Outbox::open(dir.path()).unwrap();
    let file = dir.path().join("file");
    fs::write(&file, b"x").unwrap();
    let err = Outbox::open(&file).unwrap_err();
    assert!(err.to_string().contains("cannot create"), "{err}");
    fs::write(dir.path().join("sequence.json"), b"garbage").unwrap();
    let err = Outbox::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("sequence.json"), "{err}");
}

#[test]
fn read_all_lists_without_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let mut ob = open(dir.path());
    ob.store_booking(
        at(2026, 3, 2, 10, 0),
        booking_request("2026-03-03 09:00", None),
    )
    .unwrap();
    ob.store_ticket(at(2026, 3, 2, 9, 0), ticket_request(None, None))
        .unwrap();
    let items = read_all(dir.path()).unwrap();
    let kinds: Vec<_> = items.iter().map(|i| (i.kind(), i.subject())).collect();
    assert_eq!(
        kinds,
        [
            (Kind::Ticket, "pensioni".to_owned()),
            (Kind::Booking, "agenzia".to_owned())
        ]
    );
    assert!(read_all(&dir.path().join("nope")).is_err());
}
