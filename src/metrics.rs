//! Counters in the Prometheus text exposition format (version 0.0.4): calls, SIP faults,
//! and per-node menu events that make a menu's drop-off visible.

use crate::ivr::interp::Stat;
use crate::sip::endpoint::Stats as SipStats;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Everything counted since start. Owned by the SIP task; rendered on request.
#[derive(Debug, Default)]
pub struct Metrics {
    pub calls_total: u64,
    pub test_line_calls: u64,
    pub tree_reloads: u64,
    pub tree_reload_failures: u64,
    /// Media ticks that fell behind the clock (their frames were skipped).
    pub media_missed_ticks: u64,
    /// Tickets and bookings stored in the outbox, and those that could not be (the
    /// caller was told).
    pub tickets_stored: u64,
    pub tickets_not_stored: u64,
    pub bookings_stored: u64,
    pub bookings_not_stored: u64,
    /// Items in the outbox not yet acknowledged by the back office (a gauge).
    pub outbox_pending: u64,
    /// New calls refused because the media workers were saturated.
    pub calls_shed: u64,
    /// Each media worker's smoothed busy share, thousandths (gauges).
    pub media_load: Vec<u32>,
    /// (tree name, node id, event) → count.
    menu: BTreeMap<(String, String, &'static str), u64>,
}

fn event_name(stat: Stat) -> &'static str {
    match stat {
        Stat::Entered => "entered",
        Stat::Completed => "completed",
        Stat::TimedOut => "timed_out",
        Stat::Invalid => "invalid",
        Stat::HungUp => "hung_up",
    }
}

impl Metrics {
    pub fn count_node(&mut self, tree: &str, node: &str, stat: Stat) {
        *self
            .menu
            .entry((tree.to_owned(), node.to_owned(), event_name(stat)))
            .or_default() += 1;
    }

    pub fn node_count(&self, tree: &str, node: &str, stat: Stat) -> u64 {
        self.menu
            .get(&(tree.to_owned(), node.to_owned(), event_name(stat)))
            .copied()
            .unwrap_or(0)
    }

    /// The exposition text.
    pub fn render(&self, sip: &SipStats, active_calls: usize) -> String {
        let mut out = String::with_capacity(1024 + self.menu.len() * 96);
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
            );
        };
        counter(
            "centralino_calls_total",
            "Calls answered or offered to the application.",
            self.calls_total,
        );
        counter(
            "centralino_test_line_calls_total",
            "Calls given to the DTMF test line.",
            self.test_line_calls,
        );
        counter(
            "centralino_sip_bad_requests_total",
            "Malformed requests answered with 400.",
            sip.bad_requests,
        );
        counter(
            "centralino_sip_dropped_total",
            "Malformed messages dropped (no response possible).",
            sip.dropped,
        );
        counter(
            "centralino_sip_stray_responses_total",
            "Responses matching no transaction.",
            sip.stray_responses,
        );
        counter(
            "centralino_calls_refused_total",
            "INVITEs refused with 503 (capacity or shutdown).",
            sip.refused,
        );
        counter(
            "centralino_calls_shed_sip_total",
            "New calls refused with 503 because requests waited too long in the SIP queue.",
            sip.shed,
        );
        counter(
            "centralino_tree_reloads_total",
            "Menu trees reloaded successfully.",
            self.tree_reloads,
        );
        counter(
            "centralino_tree_reload_failures_total",
            "Menu tree reloads refused (the old tree stays).",
            self.tree_reload_failures,
        );
        counter(
            "centralino_media_missed_ticks_total",
            "20 ms media ticks that fell behind (their frames skipped).",
            self.media_missed_ticks,
        );
        counter(
            "centralino_calls_shed_total",
            "New calls refused with 503 because a media worker was saturated.",
            self.calls_shed,
        );
        counter(
            "centralino_tickets_stored_total",
            "Linea INPS tickets stored in the outbox.",
            self.tickets_stored,
        );
        counter(
            "centralino_tickets_not_stored_total",
            "Tickets the outbox could not store (never confirmed to the caller).",
            self.tickets_not_stored,
        );
        counter(
            "centralino_bookings_stored_total",
            "Appointment bookings stored in the outbox.",
            self.bookings_stored,
        );
        counter(
            "centralino_bookings_not_stored_total",
            "Bookings the outbox could not store (never confirmed to the caller).",
            self.bookings_not_stored,
        );
        let _ = write!(
            out,
            "# HELP centralino_outbox_pending Tickets and bookings not yet acknowledged by the back office.\n# TYPE centralino_outbox_pending gauge\ncentralino_outbox_pending {}\n",
            self.outbox_pending
        );
        out.push_str("# HELP centralino_media_worker_load Busy share of each media worker (0-1, smoothed).\n# TYPE centralino_media_worker_load gauge\n");
        for (i, l) in self.media_load.iter().enumerate() {
            let _ = writeln!(
                out,
                "centralino_media_worker_load{{worker=\"{i}\"}} {:.3}",
                f64::from(*l) / 1000.0
            );
        }
        let _ = write!(
            out,
            "# HELP centralino_active_calls Calls in progress.\n# TYPE centralino_active_calls gauge\ncentralino_active_calls {active_calls}\n"
        );
        out.push_str("# HELP centralino_menu_node_total Menu node events by tree, node and event.\n# TYPE centralino_menu_node_total counter\n");
        for ((tree, node, event), n) in &self.menu {
            let _ = writeln!(
                out,
                "centralino_menu_node_total{{tree=\"{}\",node=\"{}\",event=\"{event}\"}} {n}",
                escape(tree),
                escape(node)
            );
        }
        out
    }
}

/// Label values escape `\`, `"` and newlines.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_labels() {
        let mut m = Metrics {
            calls_total: 3,
            ..Metrics::default()
        };
        m.count_node("INPS", "menu", Stat::Entered);
        m.count_node("INPS", "menu", Stat::Entered);
        m.count_node("INPS \"x\"", "menu", Stat::HungUp);
        let text = m.render(&SipStats::default(), 1);
        assert!(text.contains("centralino_calls_total 3\n"));
        assert!(text.contains("centralino_active_calls 1\n"));
        assert!(text.contains(
            "centralino_menu_node_total{tree=\"INPS\",node=\"menu\",event=\"entered\"} 2\n"
        ));
        assert!(text.contains("tree=\"INPS \\\"x\\\"\",node=\"menu\",event=\"hung_up\"} 1"));
        assert_eq!(m.node_count("INPS", "menu", Stat::Entered), 2);
    }
}
