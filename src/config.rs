//! Daemon configuration: YAML (`--config`) onto embedded defaults; every unknown key or
//! invalid value is an error naming file, line and column.

use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub sip: SipConfig,
    pub rtp: RtpConfig,
    pub prompts: PromptsConfig,
    pub ivr: IvrConfig,
    pub admin: AdminConfig,
    pub operators: OperatorsConfig,
    /// Queues by name (a menu's `queue: {target: NAME}`); members come from the
    /// operators file. Needs `operators.file`.
    pub queues: indexmap::IndexMap<String, crate::queue::QueueConfig>,
    /// Queue activity as JSON lines (joined, announced, rung, connected, …), appended.
    pub queue_log: Option<PathBuf>,
    /// The office directory: dialled numbers → office → province → region.
    pub directory: DirectoryConfig,
    /// Tickets, appointments and caller lookup: the outbox and the back ends
    /// (`docs/plugins.md`).
    pub plugins: crate::plugin::PluginsConfig,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DirectoryConfig {
    /// The directory file (`docs/directory.md`); `null` runs without one. A missing file
    /// is a warning, a broken one stops the start.
    pub file: Option<PathBuf>,
}

impl Default for DirectoryConfig {
    fn default() -> Self {
        DirectoryConfig {
            file: Some(PathBuf::from("directory/inps.yaml")),
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OperatorsConfig {
    /// The operators file (ids, queues, digest HA1 hashes). Without it REGISTER gets 405.
    pub file: Option<PathBuf>,
    /// Digest algorithms offered in challenges, preferred first (RFC 8760). MD5 alone by
    /// default: Debian 12's baresip gives up on a 401 that also offers SHA-256.
    pub algorithms: Vec<crate::sip::auth::Algorithm>,
    /// How long a nonce is good for, s; older ones get `stale=true`.
    pub nonce_ttl_s: u64,
    /// Registration intervals, s: below min → 423; above max → shortened.
    pub min_expires: u32,
    pub max_expires: u32,
    pub default_expires: u32,
    /// Numbers an operator dials from a registered phone to change their state.
    pub feature_codes: FeatureCodes,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FeatureCodes {
    pub login: String,
    pub logout: String,
    pub pause: String,
    pub resume: String,
}

impl Default for FeatureCodes {
    fn default() -> Self {
        FeatureCodes {
            login: "*51".into(),
            logout: "*52".into(),
            pause: "*53".into(),
            resume: "*54".into(),
        }
    }
}

impl Default for OperatorsConfig {
    fn default() -> Self {
        OperatorsConfig {
            file: None,
            algorithms: vec![crate::sip::auth::Algorithm::Md5],
            nonce_ttl_s: 300,
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            feature_codes: FeatureCodes::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct IvrConfig {
    /// The voice menu every call walks. When the file does not exist, every call gets
    /// the DTMF test line instead (a newcomer's first call still works).
    pub tree: PathBuf,
    /// Dialled numbers (Request-URI user parts) that reach the built-in DTMF test line,
    /// kept as a diagnostic.
    pub test_line: Vec<String>,
    /// How often the tree file is checked for changes, ms; 0 turns watching off (SIGHUP
    /// still reloads).
    pub watch_ms: u64,
}

impl Default for IvrConfig {
    fn default() -> Self {
        IvrConfig {
            tree: PathBuf::from("ivr-trees/inps.yaml"),
            test_line: vec!["test".into(), "9999".into()],
            watch_ms: 2000,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// HTTP address of `/metrics` (Prometheus text format); `null` turns it off.
    pub listen: Option<SocketAddr>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 9060))),
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SipConfig {
    /// One address for both UDP and TCP.
    pub listen: SocketAddr,
    /// The address written in Contact and SDP; defaults to the listen address (or, when
    /// listening on a wildcard, to the address the request was sent to).
    pub advertised_ip: Option<IpAddr>,
    /// Ring (180) this long before answering; 0 answers at once.
    pub answer_delay_ms: u64,
    /// Calls beyond this get `503 Service Unavailable` with Retry-After.
    pub max_calls: usize,
    /// New calls get `503` while every request read for 100 ms had waited longer than
    /// this in the socket queue (the SIP task is behind; callers would soon retransmit);
    /// 0 turns the rule off.
    pub max_queue_delay_ms: u64,
    /// On SIGINT/SIGTERM, live calls get BYE and the daemon exits within this time.
    pub shutdown_grace_ms: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RtpConfig {
    /// `LOW-HIGH`, inclusive: one port (one socket) per call.
    pub ports: PortRange,
    /// Media worker threads; 0 means one per core.
    pub workers: usize,
    /// SCHED_FIFO priority of the media threads (1-99) so that pacing survives a busy
    /// machine; 0 keeps normal scheduling. Without the privilege, nice -10 is tried.
    pub realtime_priority: u8,
    /// New calls get `503` while a media worker is busier than this share of its time
    /// (smoothed over ~160 ms), so that calls already up keep clean audio; 0 turns the
    /// rule off.
    pub max_load_percent: u8,
    /// Send prompt audio through one raw socket per media worker, a tick's packets in a
    /// few system calls (each still from its call's own port). Needs CAP_NET_RAW; without
    /// it, or with `false`, each packet goes through its call's socket.
    pub raw_send: bool,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PromptsConfig {
    pub dir: PathBuf,
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 5060)),
            advertised_ip: None,
            answer_delay_ms: 0,
            max_calls: 10_000,
            max_queue_delay_ms: 200,
            shutdown_grace_ms: 3_000,
        }
    }
}

impl Default for RtpConfig {
    fn default() -> Self {
        RtpConfig {
            ports: PortRange {
                low: 20000,
                high: 29999,
            },
            workers: 0,
            realtime_priority: 10,
            max_load_percent: 80,
            raw_send: true,
        }
    }
}

impl Default for PromptsConfig {
    fn default() -> Self {
        PromptsConfig {
            dir: PathBuf::from("prompts"),
        }
    }
}

/// An inclusive UDP port range written `LOW-HIGH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub low: u16,
    pub high: u16,
}

impl PortRange {
    pub fn len(&self) -> usize {
        usize::from(self.high - self.low) + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

impl FromStr for PortRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (lo, hi) = s
            .split_once('-')
            .ok_or_else(|| format!("port range {s:?} must be written LOW-HIGH"))?;
        let port = |p: &str| {
            p.trim()
                .parse::<u16>()
                .map_err(|_| format!("{p:?} is not a port number"))
        };
        let (low, high) = (port(lo)?, port(hi)?);
        if low == 0 || low > high {
            return Err(format!("port range {s:?} is empty or starts at 0"));
        }
        Ok(PortRange { low, high })
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A configuration file that could not be used, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: String,
        line: u64,
        column: u64,
        message: String,
    },
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses YAML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        serde_saphyr::from_str::<Config>(text).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((0, 0));
            ConfigError::Invalid {
                path: origin.to_owned(),
                line,
                column,
                message: e.to_string(),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_means_defaults() {
        let c = Config::parse("", "x").unwrap();
        assert_eq!(c.sip, SipConfig::default());
        assert_eq!(c.rtp, RtpConfig::default());
        assert!(c.queues.is_empty() && c.operators.file.is_none());
        assert_eq!(Config::default().sip.listen.port(), 5060);
    }

    #[test]
    fn values_override_defaults() {
        let c = Config::parse(
            "sip:\n  listen: 127.0.0.1:5099\n  answer_delay_ms: 3000\nrtp:\n  ports: 40000-40199\n",
            "c.yaml",
        )
        .unwrap();
        assert_eq!(c.sip.listen.port(), 5099);
        assert_eq!(c.sip.answer_delay_ms, 3000);
        assert_eq!(
            c.rtp.ports,
            PortRange {
                low: 40000,
                high: 40199
            }
        );
        assert_eq!(c.prompts.dir, PathBuf::from("prompts"));
    }

    #[test]
    fn unknown_key_names_file_line_and_column() {
        let err = Config::parse("sip:\n  listen: 127.0.0.1:5099\n  lisen: 1\n", "c.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.yaml:3:3:"), "{err}");
        assert!(err.contains("lisen"), "{err}");
    }

    #[test]
    fn bad_values_are_located() {
        let err = Config::parse("rtp:\n  ports: 300-200\n", "c.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.yaml:2:"), "{err}");
        assert!(err.contains("empty"), "{err}");
        let err = Config::parse("sip:\n  listen: nowhere\n", "c.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.yaml:2:"), "{err}");
    }
}
