//! Server-side HTTP Digest authentication for SIP (RFC 3261 §22.4, RFC 2617, RFC 7616,
//! RFC 8760 for SHA-256), plus a per-address failure limiter.
//!
//! Pure: the current time enters as `now_ms` (milliseconds on a clock the driver owns),
//! the nonce secret is injected, nothing here reads a clock or draws random numbers.
//!
//! Nonces are stateless and unforgeable: `hex16(issued_ms) hex8(counter) hex32(mac)`
//! where `mac` is HMAC-SHA-256(secret, "nonce" ts counter realm) truncated to 16 bytes.
//! The only state kept is the highest nonce-count seen per nonce (replay protection),
//! in a bounded map pruned of expired nonces.

use md5::Md5;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use subtle::ConstantTimeEq;

/// A digest hash algorithm (RFC 7616 §3.3, RFC 8760 for SIP). `-sess` variants are not
/// offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum Algorithm {
    #[serde(rename = "MD5", alias = "md5")]
    Md5,
    #[serde(rename = "SHA-256", alias = "sha-256", alias = "sha256")]
    Sha256,
}

impl Algorithm {
    /// The token written in `algorithm=` parameters.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Parses an `algorithm=` token, case-insensitively.
    pub fn from_token(token: &str) -> Option<Algorithm> {
        if token.eq_ignore_ascii_case("MD5") {
            Some(Algorithm::Md5)
        } else if token.eq_ignore_ascii_case("SHA-256") {
            Some(Algorithm::Sha256)
        } else {
            None
        }
    }

    /// Length of a hash in lowercase hex: 32 for MD5, 64 for SHA-256.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Md5 => 32,
            Algorithm::Sha256 => 64,
        }
    }

    /// `H(data)` in lowercase hex.
    pub fn hash_hex(self, data: &[u8]) -> String {
        match self {
            Algorithm::Md5 => hex::encode(Md5::digest(data)),
            Algorithm::Sha256 => hex::encode(Sha256::digest(data)),
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `HA1 = H(user ":" realm ":" password)` in lowercase hex (RFC 7616 §3.4.2).
pub fn ha1(algorithm: Algorithm, user: &str, realm: &str, password: &str) -> String {
    algorithm.hash_hex(format!("{user}:{realm}:{password}").as_bytes())
}

/// The `response` a client computes (RFC 7616 §3.4.1): with `qop = Some((nc, cnonce))`,
/// `H(HA1:nonce:nc:cnonce:auth:HA2)`; without, the RFC 2069 form `H(HA1:nonce:HA2)`.
/// `HA2 = H(method:uri)`.
pub fn digest_response(
    algorithm: Algorithm,
    ha1: &str,
    nonce: &str,
    qop: Option<(&str, &str)>,
    method: &str,
    uri: &str,
) -> String {
    let ha2 = algorithm.hash_hex(format!("{method}:{uri}").as_bytes());
    let input = match qop {
        Some((nc, cnonce)) => format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"),
        None => format!("{ha1}:{nonce}:{ha2}"),
    };
    algorithm.hash_hex(input.as_bytes())
}

/// Why credentials were refused. Sorted by fault; [`Reason::status`] gives the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    /// Malformed input: the Authorization value does not parse or lacks a directive.
    #[error("malformed Authorization: {0}")]
    Malformed(&'static str),
    /// Unsupported: another scheme than Digest (e.g. Basic).
    #[error("not a Digest credential")]
    NotDigest,
    /// Unsupported: an algorithm we did not offer (or `-sess`).
    #[error("unsupported algorithm")]
    UnsupportedAlgorithm,
    /// Unsupported: a qop other than `auth` (e.g. `auth-int`), or `userhash`.
    #[error("unsupported qop")]
    UnsupportedQop,
    /// Peer misbehaves: `qop` given without `nc` and `cnonce`.
    #[error("qop without nc or cnonce")]
    MissingQopFields,
    /// The credentials name another realm.
    #[error("wrong realm")]
    WrongRealm,
    /// Unknown user or wrong password: deliberately one variant.
    #[error("bad credentials")]
    BadCredentials,
    /// Peer misbehaves: a nonce-count not higher than one already accepted.
    #[error("nonce-count replayed")]
    Replay,
}

impl Reason {
    /// The status the endpoint answers: 400 for malformed input, 401 (a fresh challenge)
    /// for what the client may retry with another choice, 403 for bad credentials and
    /// replays.
    pub fn status(self) -> u16 {
        match self {
            Reason::Malformed(_) | Reason::MissingQopFields => 400,
            Reason::NotDigest
            | Reason::UnsupportedAlgorithm
            | Reason::UnsupportedQop
            | Reason::WrongRealm => 401,
            Reason::BadCredentials | Reason::Replay => 403,
        }
    }
}

/// The outcome of checking one Authorization value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Authenticated as this user (the `username` directive).
    Ok { user: String },
    /// The response is right but its nonce is expired, not ours (from before a restart),
    /// or already used in the RFC 2069 form: answer 401 with a fresh challenge and
    /// `stale=true`, so the client retries without asking its user.
    Stale,
    /// Refused; see [`Reason::status`].
    Rejected(Reason),
}

/// The directives of a Digest Authorization value (RFC 7616 §3.4).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Credentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub algorithm: Option<String>,
    pub cnonce: Option<String>,
    pub opaque: Option<String>,
    pub qop: Option<String>,
    pub nc: Option<String>,
    pub userhash: Option<String>,
}

/// Parses `Digest k=v, k="v", …`: parameter names case-insensitive, any order, quoted
/// strings with backslash escapes, each directive at most once, unknown ones ignored.
pub fn parse_authorization(value: &str) -> Result<Credentials, Reason> {
    let value = value.trim_start();
    let scheme_end = value
        .find(|c: char| c.is_ascii_whitespace())
        .unwrap_or(value.len());
    if !value[..scheme_end].eq_ignore_ascii_case("Digest") {
        return Err(Reason::NotDigest);
    }
    let mut c = Credentials::default();
    let mut seen: Vec<String> = Vec::new();
    let mut rest = &value[scheme_end..];
    loop {
        rest = rest.trim_start_matches(|ch: char| ch.is_ascii_whitespace() || ch == ',');
        if rest.is_empty() {
            break;
        }
        let name_end = rest
            .find(|ch: char| ch == '=' || ch == ',' || ch.is_ascii_whitespace())
            .unwrap_or(rest.len());
        let name = rest[..name_end].to_ascii_lowercase();
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(Reason::Malformed("parameter name"));
        }
        rest = rest[name_end..].trim_start();
        let Some(after_eq) = rest.strip_prefix('=') else {
            return Err(Reason::Malformed("parameter without value"));
        };
        rest = after_eq.trim_start();
        let val;
        if let Some(quoted) = rest.strip_prefix('"') {
            let (v, r) = unquote(quoted).ok_or(Reason::Malformed("unterminated quoted string"))?;
            val = v;
            rest = r;
        } else {
            let end = rest
                .find(|ch: char| ch == ',' || ch.is_ascii_whitespace())
                .unwrap_or(rest.len());
            val = rest[..end].to_owned();
            if val.is_empty() || !val.bytes().all(is_token_byte) {
                return Err(Reason::Malformed("parameter value"));
            }
            rest = &rest[end..];
        }
        let after = rest.trim_start();
        if !after.is_empty() && !after.starts_with(',') {
            return Err(Reason::Malformed("missing comma"));
        }
        rest = after;
        if seen.contains(&name) {
            return Err(Reason::Malformed("repeated parameter"));
        }
        let slot = match name.as_str() {
            "username" => &mut c.username,
            "realm" => &mut c.realm,
            "nonce" => &mut c.nonce,
            "uri" => &mut c.uri,
            "response" => &mut c.response,
            "algorithm" => c.algorithm.insert(String::new()),
            "cnonce" => c.cnonce.insert(String::new()),
            "opaque" => c.opaque.insert(String::new()),
            "qop" => c.qop.insert(String::new()),
            "nc" => c.nc.insert(String::new()),
            "userhash" => c.userhash.insert(String::new()),
            _ => continue,
        };
        *slot = val;
        seen.push(name);
    }
    for (name, label) in [
        ("username", "username missing"),
        ("realm", "realm missing"),
        ("nonce", "nonce missing"),
        ("uri", "uri missing"),
        ("response", "response missing"),
    ] {
        if !seen.iter().any(|s| s == name) {
            return Err(Reason::Malformed(label));
        }
    }
    Ok(c)
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~/:@?=[]".contains(&b)
}

/// Reads a quoted-string body (after the opening quote): returns the unescaped text and
/// what follows the closing quote.
fn unquote(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, ch)) = chars.next() {
        match ch {
            '"' => return Some((out, &s[i + 1..])),
            '\\' => out.push(chars.next()?.1),
            _ => out.push(ch),
        }
    }
    None
}

/// Writes `s` as a quoted-string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        if ch == '"' || ch == '\\' {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('"');
    out
}

/// HMAC-SHA-256 (RFC 2104) over the concatenation of `parts`.
fn hmac_sha256(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let mut ipad = [0x36u8; 64];
    let mut opad = [0x5cu8; 64];
    for (i, k) in key.iter().enumerate() {
        ipad[i] ^= k;
        opad[i] ^= k;
    }
    let mut inner = Sha256::new();
    inner.update(ipad);
    for p in parts {
        inner.update(p);
    }
    let mut outer = Sha256::new();
    outer.update(opad);
    outer.update(inner.finalize());
    let mut out = [0u8; 32];
    out.copy_from_slice(&outer.finalize());
    out
}

/// Hex digits of each nonce field: issued-at ms, counter, MAC.
const NONCE_TS_HEX: usize = 16;
const NONCE_CTR_HEX: usize = 8;
const NONCE_MAC_BYTES: usize = 16;
const NONCE_LEN: usize = NONCE_TS_HEX + NONCE_CTR_HEX + 2 * NONCE_MAC_BYTES;
/// A nonce this far in the future (a clock from another run) counts as stale.
const CLOCK_SKEW_MS: u64 = 1_000;
/// Nonces whose nonce-count we remember, at most (only accepted ones are tracked).
pub const DEFAULT_MAX_TRACKED_NONCES: usize = 16_384;

/// What we remember of an accepted nonce.
#[derive(Debug, Clone, Copy)]
struct NonceUse {
    issued_ms: u64,
    /// Highest accepted nonce-count; 0 after a use without qop (RFC 2069 form).
    highest_nc: u32,
}

/// The server side of Digest: issues challenges, checks Authorization values.
#[derive(Debug)]
pub struct DigestServer {
    realm: String,
    secret: [u8; 32],
    nonce_ttl_ms: u64,
    algorithms: Vec<Algorithm>,
    counter: AtomicU32,
    used: HashMap<(u64, u32), NonceUse>,
    max_tracked: usize,
    /// Nonces issued at or before this instant may have been evicted from `used`: an
    /// unknown one of them is treated as stale rather than as first use.
    forgotten_upto_ms: Option<u64>,
    dummy_ha1: [String; 2],
}

impl DigestServer {
    /// A server for `realm`, signing nonces with `secret`, accepting them for
    /// `nonce_ttl`. Offers SHA-256 then MD5 (RFC 8760 §2.4).
    pub fn new(realm: impl Into<String>, secret: [u8; 32], nonce_ttl: Duration) -> Self {
        let dummy = hmac_sha256(&secret, &[b"dummy-ha1"]);
        DigestServer {
            realm: realm.into(),
            secret,
            nonce_ttl_ms: u64::try_from(nonce_ttl.as_millis()).unwrap_or(u64::MAX),
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
            counter: AtomicU32::new(0),
            used: HashMap::new(),
            max_tracked: DEFAULT_MAX_TRACKED_NONCES,
            forgotten_upto_ms: None,
            dummy_ha1: [hex::encode(&dummy[..16]), hex::encode(dummy)],
        }
    }

    /// Offers (and accepts) only these algorithms, in this order of preference. Clients
    /// built on libre ≤ 1.x (Debian 12's baresip 1.0.0) abort on any non-MD5 challenge:
    /// serve them with `[Md5]`. An empty list is ignored.
    pub fn with_algorithms(mut self, algorithms: &[Algorithm]) -> Self {
        if !algorithms.is_empty() {
            let mut list: Vec<Algorithm> = Vec::new();
            for a in algorithms {
                if !list.contains(a) {
                    list.push(*a);
                }
            }
            self.algorithms = list;
        }
        self
    }

    /// Caps the replay-protection map (default [`DEFAULT_MAX_TRACKED_NONCES`]).
    pub fn with_max_tracked(mut self, max: usize) -> Self {
        self.max_tracked = max.max(1);
        self
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    /// A fresh nonce issued at `now_ms`.
    pub fn nonce(&self, now_ms: u64) -> String {
        let ctr = self.counter.fetch_add(1, Ordering::Relaxed);
        let mac = self.mac(now_ms, ctr);
        let mut out = String::with_capacity(NONCE_LEN);
        let _ = write!(out, "{now_ms:016x}{ctr:08x}");
        out.push_str(&hex::encode(&mac[..NONCE_MAC_BYTES]));
        out
    }

    fn mac(&self, ts: u64, ctr: u32) -> [u8; 32] {
        hmac_sha256(
            &self.secret,
            &[
                b"nonce",
                &ts.to_be_bytes(),
                &ctr.to_be_bytes(),
                self.realm.as_bytes(),
            ],
        )
    }

    /// Decodes and authenticates a nonce: `(issued_ms, counter)` when it is ours.
    fn open_nonce(&self, nonce: &str) -> Option<(u64, u32)> {
        if nonce.len() != NONCE_LEN
            || !nonce
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return None;
        }
        let ts = u64::from_str_radix(&nonce[..NONCE_TS_HEX], 16).ok()?;
        let ctr =
            u32::from_str_radix(&nonce[NONCE_TS_HEX..NONCE_TS_HEX + NONCE_CTR_HEX], 16).ok()?;
        let given = hex::decode(&nonce[NONCE_TS_HEX + NONCE_CTR_HEX..]).ok()?;
        let mac = self.mac(ts, ctr);
        bool::from(given.ct_eq(&mac[..NONCE_MAC_BYTES])).then_some((ts, ctr))
    }

    /// `WWW-Authenticate` values, one per offered algorithm, preferred first, sharing one
    /// nonce (a client answers one of them).
    pub fn challenge(&self, now_ms: u64, stale: bool) -> Vec<String> {
        let nonce = self.nonce(now_ms);
        let realm = quote(&self.realm);
        self.algorithms
            .iter()
            .map(|a| {
                let mut v = format!(
                    "Digest realm={realm}, nonce=\"{nonce}\", algorithm={}, qop=\"auth\"",
                    a.name()
                );
                if stale {
                    v.push_str(", stale=true");
                }
                v
            })
            .collect()
    }

    /// Of several Authorization values (a client answering two challenges sends one per
    /// algorithm), the one to verify: ours by realm, preferred algorithm first. Verify
    /// only that one: the others share its nonce-count and would look like replays.
    pub fn pick_authorization<'a>(
        &self,
        values: impl IntoIterator<Item = &'a str>,
    ) -> Option<&'a str> {
        let values: Vec<&'a str> = values.into_iter().collect();
        let rank = |v: &str| -> usize {
            let Ok(c) = parse_authorization(v) else {
                return usize::MAX;
            };
            if c.realm != self.realm {
                return usize::MAX - 1;
            }
            let alg = match &c.algorithm {
                None => Some(Algorithm::Md5),
                Some(t) => Algorithm::from_token(t),
            };
            alg.and_then(|a| self.algorithms.iter().position(|x| *x == a))
                .unwrap_or(usize::MAX - 2)
        };
        values.iter().copied().min_by_key(|v| rank(v))
    }

    /// Checks one Authorization value of a request with this `method`. `ha1_of` looks up
    /// a user's HA1 (lowercase hex) for an algorithm. An unknown user costs the same
    /// hashing as a wrong password and yields the same verdict.
    pub fn verify(
        &mut self,
        now_ms: u64,
        method: &str,
        authorization: &str,
        ha1_of: impl Fn(&str, Algorithm) -> Option<String>,
    ) -> Verdict {
        match self.check(now_ms, method, authorization, ha1_of) {
            Ok(v) => v,
            Err(reason) => Verdict::Rejected(reason),
        }
    }

    fn check(
        &mut self,
        now_ms: u64,
        method: &str,
        authorization: &str,
        ha1_of: impl Fn(&str, Algorithm) -> Option<String>,
    ) -> Result<Verdict, Reason> {
        let c = parse_authorization(authorization)?;
        if c.realm != self.realm {
            return Err(Reason::WrongRealm);
        }
        let algorithm = match &c.algorithm {
            None => Algorithm::Md5,
            Some(t) => Algorithm::from_token(t).ok_or(Reason::UnsupportedAlgorithm)?,
        };
        if !self.algorithms.contains(&algorithm) {
            return Err(Reason::UnsupportedAlgorithm);
        }
        if c.userhash
            .as_deref()
            .is_some_and(|u| u.eq_ignore_ascii_case("true"))
        {
            return Err(Reason::UnsupportedQop);
        }
        let qop = match &c.qop {
            None => None,
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                let (Some(nc), Some(cnonce)) = (&c.nc, &c.cnonce) else {
                    return Err(Reason::MissingQopFields);
                };
                if nc.is_empty() || nc.len() > 8 || !nc.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(Reason::Malformed("nc"));
                }
                let count = u32::from_str_radix(nc, 16).map_err(|_| Reason::Malformed("nc"))?;
                if count == 0 {
                    return Err(Reason::Malformed("nc"));
                }
                Some((nc.as_str(), cnonce.as_str(), count))
            }
            Some(_) => return Err(Reason::UnsupportedQop),
        };

        // Ours and fresh? A nonce we cannot open is most likely from before a restart
        // (another secret). Either way the response is checked first: as RFC 7616 §3.3
        // asks, `stale` is only for a request with a valid digest for its nonce, so a
        // wrong password never loops on stale challenges.
        let fresh = self.open_nonce(&c.nonce).filter(|(issued_ms, _)| {
            *issued_ms <= now_ms.saturating_add(CLOCK_SKEW_MS)
                && now_ms.saturating_sub(*issued_ms) <= self.nonce_ttl_ms
        });

        let dummy = &self.dummy_ha1[usize::from(algorithm == Algorithm::Sha256)];
        let (ha1, known) = match ha1_of(&c.username, algorithm) {
            Some(h)
                if h.len() == algorithm.hex_len() && h.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                (h.to_ascii_lowercase(), true)
            }
            _ => (dummy.clone(), false),
        };
        let expected = digest_response(
            algorithm,
            &ha1,
            &c.nonce,
            qop.map(|(nc, cnonce, _)| (nc, cnonce)),
            method,
            &c.uri,
        );
        let given = c.response.to_ascii_lowercase();
        let matches: bool = given.as_bytes().ct_eq(expected.as_bytes()).into();
        if !(matches && known) {
            return Err(Reason::BadCredentials);
        }

        let Some((issued_ms, ctr)) = fresh else {
            return Ok(Verdict::Stale);
        };
        // Replay protection, only once the response is proven (a forger cannot burn
        // nonce-counts of a legitimate client).
        let key = (issued_ms, ctr);
        match (self.used.get_mut(&key), qop) {
            (Some(u), Some((_, _, count))) => {
                if count <= u.highest_nc {
                    return Err(Reason::Replay);
                }
                u.highest_nc = count;
            }
            // RFC 2069 form: no nonce-count, so each nonce serves once.
            (Some(_), None) => return Ok(Verdict::Stale),
            (None, qop) => {
                if self.forgotten_upto_ms.is_some_and(|f| issued_ms <= f) {
                    return Ok(Verdict::Stale);
                }
                self.remember(
                    now_ms,
                    key,
                    NonceUse {
                        issued_ms,
                        highest_nc: qop.map_or(0, |(_, _, n)| n),
                    },
                );
            }
        }
        Ok(Verdict::Ok { user: c.username })
    }

    fn remember(&mut self, now_ms: u64, key: (u64, u32), u: NonceUse) {
        if self.used.len() >= self.max_tracked {
            self.prune(now_ms);
        }
        while self.used.len() >= self.max_tracked {
            let Some((&oldest, &o)) = self.used.iter().min_by_key(|(_, u)| u.issued_ms) else {
                break;
            };
            self.used.remove(&oldest);
            self.forgotten_upto_ms = Some(self.forgotten_upto_ms.unwrap_or(0).max(o.issued_ms));
        }
        self.used.insert(key, u);
    }

    /// Forgets nonces too old to be accepted anyway. Called on demand when the map is
    /// full; the driver may also call it now and then.
    pub fn prune(&mut self, now_ms: u64) {
        let ttl = self.nonce_ttl_ms;
        self.used
            .retain(|_, u| now_ms.saturating_sub(u.issued_ms) <= ttl);
    }

    /// Nonces currently tracked for replay protection.
    pub fn tracked_nonces(&self) -> usize {
        self.used.len()
    }
}

/// Failures per source address in a sliding window, turned into a response delay.
///
/// With the defaults: the first 3 failures in 60 s cost nothing, then 1 s, 2 s, 4 s, …
/// capped at 30 s. A success from the address resets it. At most `max_addresses` are
/// tracked; when full, addresses whose failures all left the window go first, then the
/// one that failed longest ago.
#[derive(Debug, Clone)]
pub struct FailureLimiter {
    window_ms: u64,
    free_failures: u32,
    base: Duration,
    cap: Duration,
    max_addresses: usize,
    by_ip: HashMap<IpAddr, VecDeque<u64>>,
}

/// Failure timestamps kept per address: enough to reach the cap.
const MAX_STAMPS_PER_IP: usize = 32;

impl Default for FailureLimiter {
    fn default() -> Self {
        FailureLimiter::new(
            Duration::from_secs(60),
            3,
            Duration::from_secs(1),
            Duration::from_secs(30),
            10_000,
        )
    }
}

impl FailureLimiter {
    pub fn new(
        window: Duration,
        free_failures: u32,
        base: Duration,
        cap: Duration,
        max_addresses: usize,
    ) -> Self {
        FailureLimiter {
            window_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
            free_failures,
            base,
            cap,
            max_addresses: max_addresses.max(1),
            by_ip: HashMap::new(),
        }
    }

    pub fn record_failure(&mut self, ip: IpAddr, now_ms: u64) {
        if !self.by_ip.contains_key(&ip) && self.by_ip.len() >= self.max_addresses {
            self.evict(now_ms);
        }
        let stamps = self.by_ip.entry(ip).or_default();
        stamps.push_back(now_ms);
        if stamps.len() > MAX_STAMPS_PER_IP {
            stamps.pop_front();
        }
    }

    pub fn record_success(&mut self, ip: IpAddr) {
        self.by_ip.remove(&ip);
    }

    /// Failures of `ip` within the window ending at `now_ms`.
    pub fn failures(&self, ip: IpAddr, now_ms: u64) -> u32 {
        self.by_ip.get(&ip).map_or(0, |s| {
            let n = s
                .iter()
                .filter(|t| now_ms.saturating_sub(**t) < self.window_ms)
                .count();
            u32::try_from(n).unwrap_or(u32::MAX)
        })
    }

    /// How long to delay the answer to `ip` now.
    pub fn penalty(&self, ip: IpAddr, now_ms: u64) -> Duration {
        let n = self.failures(ip, now_ms);
        if n <= self.free_failures {
            return Duration::ZERO;
        }
        let doublings = (n - self.free_failures - 1).min(31);
        self.base
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.cap)
            .min(self.cap)
    }

    /// Addresses currently tracked.
    pub fn tracked(&self) -> usize {
        self.by_ip.len()
    }

    fn evict(&mut self, now_ms: u64) {
        let window = self.window_ms;
        self.by_ip
            .retain(|_, s| s.back().is_some_and(|t| now_ms.saturating_sub(*t) < window));
        if self.by_ip.len() >= self.max_addresses {
            let oldest = self
                .by_ip
                .iter()
                .min_by_key(|(_, s)| s.back().copied().unwrap_or(0))
                .map(|(ip, _)| *ip);
            if let Some(ip) = oldest {
                self.by_ip.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests;
