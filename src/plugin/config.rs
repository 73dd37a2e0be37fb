//! Plugin configuration (`plugins:` in the daemon YAML): where the durable outbox lives,
//! how delivery retries, and which back end takes tickets, appointments and caller
//! lookups. Every key is optional; with none the embedded `outbox` back ends are used.
//! Values are checked while they are read, so a bad one is reported with its line.

use crate::ivr::schedule::Schedule;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::num::{NonZeroU32, NonZeroU64};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `plugins:` — see `docs/plugins.md`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PluginsConfig {
    /// The durable outbox: items not yet delivered, the id sequence, recorded questions.
    pub outbox_dir: PathBuf,
    /// Delivery retries after a temporary failure: `initial_ms`, doubling up to `max_ms`.
    pub retry: RetryConfig,
    /// Where tickets go.
    pub tickets: TicketBackend,
    /// Where appointment slots come from and bookings go.
    pub appointments: AppointmentBackend,
    /// Optional hook asked about each caller when the call arrives.
    pub caller_lookup: Option<LookupBackend>,
    /// The recorded question of a ticket.
    pub question: QuestionConfig,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        PluginsConfig {
            outbox_dir: PathBuf::from("outbox"),
            retry: RetryConfig::default(),
            tickets: TicketBackend::Outbox { dir: None },
            appointments: AppointmentBackend::Outbox(AgendaConfig::default()),
            caller_lookup: None,
            question: QuestionConfig::default(),
        }
    }
}

impl PluginsConfig {
    /// The directory the embedded `outbox` back end appends delivered tickets to.
    pub fn tickets_dir(&self) -> Option<PathBuf> {
        match &self.tickets {
            TicketBackend::Outbox { dir } => Some(self.delivered_dir(dir.as_deref())),
            _ => None,
        }
    }

    /// The directory the embedded agenda appends delivered bookings to.
    pub fn bookings_dir(&self) -> Option<PathBuf> {
        match &self.appointments {
            AppointmentBackend::Outbox(a) => Some(self.delivered_dir(a.dir.as_deref())),
            _ => None,
        }
    }

    fn delivered_dir(&self, dir: Option<&Path>) -> PathBuf {
        dir.map(Path::to_path_buf)
            .unwrap_or_else(|| self.outbox_dir.join("delivered"))
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// First wait after a temporary failure, ms.
    pub initial_ms: NonZeroU64,
    /// Longest wait, ms (a smaller value than `initial_ms` is raised to it).
    pub max_ms: NonZeroU64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            initial_ms: NonZeroU64::new(1_000).expect("non-zero"),
            max_ms: NonZeroU64::new(300_000).expect("non-zero"),
        }
    }
}

impl RetryConfig {
    pub fn initial(&self) -> Duration {
        Duration::from_millis(self.initial_ms.get())
    }

    pub fn max(&self) -> Duration {
        Duration::from_millis(self.max_ms.get()).max(self.initial())
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuestionConfig {
    /// Longest recorded question, s; longer recordings are cut.
    pub max_seconds: NonZeroU32,
}

impl Default for QuestionConfig {
    fn default() -> Self {
        QuestionConfig {
            max_seconds: NonZeroU32::new(60).expect("non-zero"),
        }
    }
}

/// `tickets: {backend: ...}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "backend", rename_all = "lowercase", deny_unknown_fields)]
pub enum TicketBackend {
    /// JSON lines in `DIR/tickets.jsonl`, recorded questions beside them (default
    /// `DIR`: `<outbox_dir>/delivered`).
    Outbox {
        #[serde(default)]
        dir: Option<PathBuf>,
    },
    Webhook(WebhookConfig),
    Exec(ExecConfig),
}

impl Default for TicketBackend {
    fn default() -> Self {
        TicketBackend::Outbox { dir: None }
    }
}

/// `appointments: {backend: ...}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "backend", rename_all = "lowercase", deny_unknown_fields)]
#[allow(clippy::large_enum_variant)] // read once at start; the agenda's hours are inline
pub enum AppointmentBackend {
    /// The built-in agenda; bookings as JSON lines in `DIR/bookings.jsonl`.
    Outbox(AgendaConfig),
    Webhook(AppointmentWebhook),
    Exec(ExecConfig),
}

impl Default for AppointmentBackend {
    fn default() -> Self {
        AppointmentBackend::Outbox(AgendaConfig::default())
    }
}

/// `caller_lookup: {backend: ...}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "backend", rename_all = "lowercase", deny_unknown_fields)]
pub enum LookupBackend {
    Webhook(WebhookConfig),
    Exec(ExecConfig),
}

/// The built-in agenda: slots of `slot_minutes` while the agency is open, for the next
/// `days_ahead` working days, `desks` bookings per slot.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgendaConfig {
    pub dir: Option<PathBuf>,
    pub slot_minutes: NonZeroU32,
    pub days_ahead: NonZeroU32,
    pub desks: NonZeroU32,
    /// Opening hours when the directory gives none for the agency (default: Monday to
    /// Friday 08:30-12:30, national holidays closed).
    pub hours: Option<Schedule>,
}

impl Default for AgendaConfig {
    fn default() -> Self {
        AgendaConfig {
            dir: None,
            slot_minutes: NonZeroU32::new(30).expect("non-zero"),
            days_ahead: NonZeroU32::new(10).expect("non-zero"),
            desks: NonZeroU32::new(1).expect("non-zero"),
            hours: None,
        }
    }
}

/// Opening hours the agenda uses when neither the query nor the configuration gives any.
pub fn default_agency_hours() -> Schedule {
    serde_saphyr::from_str("hours:\n  mon-fri: [\"08:30-12:30\"]\n")
        .expect("the built-in agency hours parse")
}

/// An HTTP back end: POST of JSON to `url`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: HttpUrl,
    /// Whole request (connect, send, reply), ms.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: NonZeroU64,
    /// Extra request headers, e.g. `Authorization: Bearer ...`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// Appointments over HTTP: slots from one URL, bookings to another.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppointmentWebhook {
    pub slots_url: HttpUrl,
    pub book_url: HttpUrl,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: NonZeroU64,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// A program back end: argv, JSON request on stdin, JSON reply on stdout.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecConfig {
    pub command: Argv,
    /// The program is killed after this long, ms.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: NonZeroU64,
}

fn default_timeout_ms() -> NonZeroU64 {
    NonZeroU64::new(5_000).expect("non-zero")
}

/// A URL starting `http://` or `https://`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl(pub String);

impl HttpUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for HttpUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let rest = s
            .strip_prefix("http://")
            .or_else(|| s.strip_prefix("https://"));
        match rest {
            Some(host) if !host.is_empty() && !s.contains(char::is_whitespace) => Ok(HttpUrl(s)),
            _ => Err(serde::de::Error::custom(format!(
                "{s:?} is not an http:// or https:// URL"
            ))),
        }
    }
}

/// A program and its arguments; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Argv(pub Vec<String>);

impl<'de> Deserialize<'de> for Argv {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Vec::<String>::deserialize(d)?;
        if v.first().is_none_or(|p| p.is_empty()) {
            return Err(serde::de::Error::custom(
                "command must list the program and its arguments, e.g. [/usr/lib/x/plugin, --flag]",
            ));
        }
        Ok(Argv(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<PluginsConfig, String> {
        serde_saphyr::from_str(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_embedded_back_ends() {
        let c = PluginsConfig::default();
        assert_eq!(c.outbox_dir, PathBuf::from("outbox"));
        assert_eq!(c.tickets_dir(), Some(PathBuf::from("outbox/delivered")));
        assert_eq!(c.bookings_dir(), Some(PathBuf::from("outbox/delivered")));
        assert_eq!(c.retry.initial(), Duration::from_secs(1));
        assert_eq!(c.retry.max(), Duration::from_secs(300));
        assert!(c.caller_lookup.is_none());
        let hours = default_agency_hours();
        let monday = chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        assert!(hours.is_open(monday.and_hms_opt(8, 30, 0).unwrap()));
        assert!(!hours.is_open(monday.and_hms_opt(12, 30, 0).unwrap()));
    }

    #[test]
    fn every_back_end_parses() {
        let c = parse(
            "outbox_dir: /var/spool/centralino\n\
             retry: {initial_ms: 500, max_ms: 100}\n\
             tickets: {backend: webhook, url: \"http://127.0.0.1:8080/t\", headers: {Authorization: Bearer x}}\n\
             appointments: {backend: exec, command: [/usr/lib/x/plugin, --flag], timeout_ms: 2000}\n\
             caller_lookup: {backend: webhook, url: \"https://crm/lookup\", timeout_ms: 800}\n\
             question: {max_seconds: 30}\n",
        )
        .unwrap();
        assert_eq!(
            c.retry.max(),
            Duration::from_millis(500),
            "raised to initial"
        );
        let TicketBackend::Webhook(w) = &c.tickets else {
            panic!("{c:?}")
        };
        assert_eq!(w.url.as_str(), "http://127.0.0.1:8080/t");
        assert_eq!(w.timeout_ms.get(), 5000);
        assert_eq!(w.headers["Authorization"], "Bearer x");
        let AppointmentBackend::Exec(e) = &c.appointments else {
            panic!("{c:?}")
        };
        assert_eq!(e.command.0, ["/usr/lib/x/plugin", "--flag"]);
        assert!(matches!(c.caller_lookup, Some(LookupBackend::Webhook(_))));
        assert_eq!(c.tickets_dir(), None);

        let c = parse(
            "appointments:\n  backend: outbox\n  slot_minutes: 20\n  desks: 2\n  hours:\n    hours: {mon-fri: [\"09:00-12:00\"]}\n",
        )
        .unwrap();
        let AppointmentBackend::Outbox(a) = &c.appointments else {
            panic!("{c:?}")
        };
        assert_eq!((a.slot_minutes.get(), a.desks.get()), (20, 2));
        assert_eq!(a.days_ahead.get(), 10);
        assert!(a.hours.is_some());
        let c = parse("appointments: {backend: webhook, slots_url: \"http://h/s\", book_url: \"http://h/b\"}\ntickets: {backend: outbox, dir: /srv/t}\n").unwrap();
        assert_eq!(c.tickets_dir(), Some(PathBuf::from("/srv/t")));
    }

    #[test]
    fn bad_values_are_refused() {
        for (yaml, needle) in [
            ("tickets: {backend: ftp}", "ftp"),
            (
                "tickets: {backend: webhook, url: \"ftp://x\"}",
                "not an http",
            ),
            (
                "tickets: {backend: webhook, url: \"http://x\", timout_ms: 3}",
                "timout_ms",
            ),
            ("tickets: {backend: exec, command: []}", "command"),
            ("tickets: {backend: outbox, url: \"http://x\"}", "url"),
            ("appointments: {backend: outbox, desks: 0}", "desks"),
            ("retry: {initial_ms: 0}", "initial_ms"),
            ("caller_lookup: {backend: outbox}", "outbox"),
            ("outbx: x", "outbx"),
        ] {
            let err = parse(yaml).expect_err(yaml);
            assert!(err.contains(needle), "{yaml}: {err}");
        }
    }

    #[test]
    fn the_daemon_config_takes_plugins_and_locates_a_bad_key() {
        let yaml = "\
plugins:
  outbox_dir: outbox
  retry: {initial_ms: 1000, max_ms: 300000}
  tickets: {backend: outbox, dir: outbox/delivered}
  appointments: {backend: outbox, slot_minutes: 30, days_ahead: 10, desks: 1, hours: {hours: {mon-fri: [\"08:30-12:30\"]}}}
  caller_lookup: null
  question: {max_seconds: 60}
";
        let c = crate::config::Config::parse(yaml, "c.yaml").unwrap();
        assert_eq!(
            c.plugins.tickets_dir(),
            Some(PathBuf::from("outbox/delivered"))
        );
        assert_eq!(c.plugins.question.max_seconds.get(), 60);
        assert_eq!(
            crate::config::Config::parse("", "c.yaml").unwrap().plugins,
            PluginsConfig::default()
        );
        let err = crate::config::Config::parse(
            "plugins:\n  outbox_dir: x\n  tickets: {backend: webhook, url: \"http://h/t\", tiemout_ms: 5}\n",
            "c.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("c.yaml:3:"), "{err}");
        assert!(err.contains("tiemout_ms"), "{err}");
    }
}
