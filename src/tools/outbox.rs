//! `centralino outbox [list]` prints every item of the plugin outbox (id, kind, time,
//! section or service, caller redacted, status, attempts); `centralino outbox retry
//! [ID...]` delivers the pending items now (and, named by id, failed ones again) and
//! prints each outcome. Exit 0 when all went well, 1 when an item is still pending or
//! failed, 2 for a usage or I/O error (e.g. the outbox is held by a running daemon).

use super::{EXIT_ERRORS, EXIT_OK, EXIT_USAGE, Outcome, plural};
use crate::pii::Redacted;
use crate::plugin::Status;
use crate::plugin::backend::{self, embedded::Agenda};
use crate::plugin::config::{AppointmentBackend, PluginsConfig};
use crate::plugin::delivery::{BookingSink, Deliver, Outcome as Delivery, TicketSink, deliver_one};
use crate::plugin::outbox::{Item, Kind, Outbox, parse_id, read_all};
use chrono::{DateTime, FixedOffset, TimeDelta};
use std::fmt::Write as _;
use std::sync::Mutex;

/// The table of items.
pub fn list(cfg: &PluginsConfig) -> Outcome {
    let items = match read_all(&cfg.outbox_dir) {
        Ok(items) => items,
        Err(e) => return Outcome::fail(EXIT_USAGE, format!("centralino outbox: {e}")),
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<15} {:<8} {:<17} {:<22} {:<15} {:<10} {:>8}  DETAIL",
        "ID", "KIND", "CREATED", "SECTION/SERVICE", "CALLER", "STATUS", "ATTEMPTS"
    );
    let (mut pending, mut delivered, mut failed) = (0, 0, 0);
    for item in &items {
        let (status, attempts, detail) = match item.status() {
            Status::Pending { attempts } => {
                pending += 1;
                ("pending", attempts.to_string(), String::new())
            }
            Status::Delivered { at, remote_id } => {
                delivered += 1;
                let at = at.format("%Y-%m-%d %H:%M");
                let detail = match remote_id {
                    Some(r) => format!("{at} as {r}"),
                    None => at.to_string(),
                };
                ("delivered", "-".into(), detail)
            }
            Status::Failed { reason } => {
                failed += 1;
                ("failed", "-".into(), reason.clone())
            }
        };
        let _ = writeln!(
            out,
            "{:<15} {:<8} {:<17} {:<22} {:<15} {:<10} {:>8}  {}",
            item.id(),
            item.kind().name(),
            item.created_at().format("%Y-%m-%d %H:%M"),
            item.subject(),
            Redacted(item.caller()).to_string(),
            status,
            attempts,
            detail
        );
    }
    let _ = writeln!(
        out,
        "{}: {pending} pending, {delivered} delivered, {failed} failed",
        plural(items.len(), "item", "items")
    );
    Outcome::ok(out)
}

/// Delivers now: every pending item (no `ids`), or the items named (pending or failed).
pub fn retry(
    cfg: &PluginsConfig,
    ids: &[String],
    wall_now: &dyn Fn() -> DateTime<FixedOffset>,
) -> Outcome {
    let mut outbox = match Outbox::open(&cfg.outbox_dir) {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
            return Outcome::fail(
                EXIT_USAGE,
                format!(
                    "centralino outbox: {e}; the running daemon retries on its own \
                     (stop it to deliver by hand)"
                ),
            );
        }
        Err(e) => return Outcome::fail(EXIT_USAGE, format!("centralino outbox: {e}")),
    };
    let mut out = Outcome::default();
    let mut usage_error = false;
    let targets: Vec<String> = if ids.is_empty() {
        outbox.pending().into_iter().map(|e| e.id).collect()
    } else {
        let mut targets = Vec::new();
        for id in ids {
            match outbox.get(id) {
                Ok(Some(item)) => match item.status() {
                    Status::Pending { .. } => targets.push(id.clone()),
                    Status::Failed { .. } => match outbox.requeue(id) {
                        Ok(_) => targets.push(id.clone()),
                        Err(e) => {
                            let _ = writeln!(out.stderr, "{id}: cannot requeue: {e}");
                            usage_error = true;
                        }
                    },
                    Status::Delivered { .. } => {
                        let _ = writeln!(out.stdout, "{id}: already delivered");
                    }
                },
                Ok(None) => {
                    let _ = writeln!(out.stderr, "{id}: no such item in the outbox");
                    usage_error = true;
                }
                Err(e) => {
                    let _ = writeln!(out.stderr, "{id}: {e}");
                    usage_error = true;
                }
            }
        }
        targets
    };
    let agenda = match &cfg.appointments {
        AppointmentBackend::Outbox(a) => {
            let pending: Vec<_> = targets
                .iter()
                .filter_map(|id| match outbox.get(id) {
                    Ok(Some(Item::Booking(b))) => Some(b),
                    _ => None,
                })
                .collect();
            let since = wall_now().naive_local() - TimeDelta::days(1);
            let dir = cfg.bookings_dir().unwrap_or_default();
            match Agenda::open(a, dir, pending, since) {
                Ok(a) => Some(a),
                Err(e) => return Outcome::fail(EXIT_USAGE, format!("centralino outbox: {e}")),
            }
        }
        _ => None,
    };
    let mut tickets = TicketSink(backend::ticket_desk(cfg));
    let mut bookings = BookingSink(backend::appointment_book(cfg, agenda.as_ref()));
    let outbox = Mutex::new(outbox);
    let (mut delivered, mut left) = (0, 0);
    let mut stalled = [false, false];
    for id in &targets {
        let kind = parse_id(id).map_or(Kind::Ticket, |(k, _, _)| k);
        let lane = usize::from(kind == Kind::Booking);
        if stalled[lane] && ids.is_empty() {
            let _ = writeln!(out.stdout, "{id}: not tried, the back end is failing");
            left += 1;
            continue;
        }
        let sink: &mut dyn Deliver = match kind {
            Kind::Ticket => &mut tickets,
            Kind::Booking => &mut bookings,
        };
        let line = match deliver_one(&outbox, id, sink, wall_now) {
            Ok(Delivery::Delivered { remote_id }) => {
                delivered += 1;
                match remote_id {
                    Some(r) => format!("{id}: delivered as {r}"),
                    None => format!("{id}: delivered"),
                }
            }
            Ok(Delivery::Retry { attempts, error }) => {
                left += 1;
                stalled[lane] = true;
                format!("{id}: still pending after {attempts} attempts: {error}")
            }
            Ok(Delivery::Failed { reason }) => {
                left += 1;
                format!("{id}: failed: {reason}")
            }
            Err(e) => {
                left += 1;
                format!("{id}: outbox error: {e}")
            }
        };
        let _ = writeln!(out.stdout, "{line}");
    }
    let _ = writeln!(
        out.stdout,
        "{} delivered, {left} not",
        plural(delivered, "item", "items")
    );
    out.code = if usage_error {
        EXIT_USAGE
    } else if left > 0 {
        EXIT_ERRORS
    } else {
        EXIT_OK
    };
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::{CallInfo, Origin, Section, TicketRequest};
    use chrono::TimeZone;

    fn now() -> DateTime<FixedOffset> {
        FixedOffset::east_opt(3600)
            .unwrap()
            .with_ymd_and_hms(2026, 3, 2, 10, 0, 0)
            .unwrap()
    }

    fn request() -> TicketRequest {
        TicketRequest {
            section: Section::Pensioni,
            destination: "CRIC Lazio — pensioni".into(),
            call: CallInfo {
                caller: "+393331234567".into(),
                ..CallInfo::default()
            },
            question: None,
            origin: Origin::Menu,
            notes: None,
            idempotency_key: None,
        }
    }

    fn config(dir: &std::path::Path, tickets: &str) -> PluginsConfig {
        let yaml = format!(
            "outbox_dir: {}\ntickets: {tickets}\n",
            dir.join("outbox").display()
        );
        serde_saphyr::from_str(&yaml).unwrap()
    }

    #[test]
    fn list_and_retry_on_the_embedded_back_end() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), "{backend: outbox}");
        {
            let mut ob = Outbox::open(&cfg.outbox_dir).unwrap();
            ob.store_ticket(now(), request()).unwrap();
            let t = ob.store_ticket(now(), request()).unwrap();
            ob.record_failed(&t.id, "HTTP 422".into()).unwrap();
        }
        let out = list(&cfg);
        assert_eq!(out.code, EXIT_OK);
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert!(lines[0].starts_with("ID "), "{}", out.stdout);
        assert!(lines[1].starts_with("LI-2026-000001  ticket   2026-03-02 10:00  pensioni"));
        assert!(lines[1].contains("+**********67") && !out.stdout.contains("3331234567"));
        assert!(lines[1].contains(" pending "), "{}", lines[1]);
        assert!(lines[2].contains(" failed ") && lines[2].ends_with("HTTP 422"));
        assert_eq!(lines[3], "2 items: 1 pending, 0 delivered, 1 failed");

        let out = retry(&cfg, &[], &now);
        assert_eq!(out.code, EXIT_OK, "{out:?}");
        assert_eq!(
            out.stdout,
            "LI-2026-000001: delivered\n1 item delivered, 0 not\n"
        );
        let out = retry(
            &cfg,
            &["LI-2026-000002".into(), "LI-2026-000001".into()],
            &now,
        );
        assert_eq!(out.code, EXIT_OK, "{out:?}");
        assert_eq!(
            out.stdout,
            "LI-2026-000001: already delivered\nLI-2026-000002: delivered\n1 item delivered, 0 not\n"
        );
        let out = retry(&cfg, &["LI-2026-000404".into()], &now);
        assert_eq!(out.code, EXIT_USAGE);
        assert!(out.stderr.contains("no such item"));
        assert!(
            list(&cfg)
                .stdout
                .ends_with("2 items: 0 pending, 2 delivered, 0 failed\n")
        );
    }

    #[test]
    fn retry_reports_failures_and_a_busy_outbox() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(
            dir.path(),
            "{backend: exec, command: [/bin/sh, -c, 'cat >/dev/null; echo down >&2; exit 1']}",
        );
        {
            let mut ob = Outbox::open(&cfg.outbox_dir).unwrap();
            ob.store_ticket(now(), request()).unwrap();
            ob.store_ticket(now(), request()).unwrap();
        }
        let out = retry(&cfg, &[], &now);
        assert_eq!(out.code, EXIT_ERRORS, "{out:?}");
        assert_eq!(
            out.stdout,
            "LI-2026-000001: still pending after 1 attempts: /bin/sh exited with status 1: down\n\
             LI-2026-000002: not tried, the back end is failing\n\
             0 items delivered, 2 not\n"
        );
        let _held = Outbox::open(&cfg.outbox_dir).unwrap();
        let out = retry(&cfg, &[], &now);
        assert_eq!(out.code, EXIT_USAGE);
        assert!(out.stderr.contains("in use"), "{}", out.stderr);
        assert_eq!(list(&cfg).code, EXIT_OK, "listing needs no lock");
        let missing = config(&dir.path().join("nowhere"), "{backend: outbox}");
        assert_eq!(list(&missing).code, EXIT_USAGE);
    }
}
