//! The registrar of operator softphones (RFC 3261 §10.3): bindings from a user to
//! contact URIs, each with its expiry, the Call-ID/CSeq that last touched it, and the
//! flow (source address, transport) it came from, so that calls to the operator go back
//! through the NAT binding the REGISTER opened.
//!
//! Pure: time is a parameter. Verbs: `register(now, …)`, `handle_timeout(now)`,
//! `poll_event()`, `poll_timeout()`. Authentication happens before (see `sip::auth`).

use crate::sip::msg::SipMessage;
use ezk_sip_types::Name;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Bindings one user may hold (phones, softphones, web console) before `403`.
pub const DEFAULT_MAX_BINDINGS_PER_USER: usize = 16;

/// One contact of a REGISTER (RFC 3261 §20.10).
#[derive(Debug, Clone, PartialEq)]
pub struct ContactSpec {
    /// The URI inside `<…>` (or the bare addr-spec).
    pub uri: String,
    /// The whole contact value as written: display name, URI, parameters.
    pub raw: String,
    /// The `expires` contact parameter, which overrides the Expires header.
    pub expires: Option<u32>,
    /// The `q` parameter, 0.0–1.0.
    pub q: Option<f32>,
}

/// The Contact headers of a REGISTER.
#[derive(Debug, Clone, PartialEq)]
pub enum ContactList {
    /// `Contact: *` (with `Expires: 0`): remove every binding.
    Star,
    /// Contacts to add, refresh or remove; empty means "which bindings do I have?".
    Contacts(Vec<ContactSpec>),
}

/// What the registrar needs from a REGISTER.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisterRequest {
    pub contacts: ContactList,
    pub expires_header: Option<u32>,
    pub call_id: String,
    pub cseq: u32,
    /// Where the REGISTER came from: calls to the operator go back there.
    pub source: SocketAddr,
    /// `"UDP"`, `"TCP"`, …: the transport it came on.
    pub transport: &'static str,
}

/// Why a REGISTER was refused, sorted by fault; [`RegisterError::status`] answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// Malformed input: a header that does not parse (named).
    #[error("Malformed {0} Header")]
    Malformed(&'static str),
    /// Malformed input: `*` with other contacts or without `Expires: 0` (§10.3 step 6).
    #[error("Invalid Wildcard Contact")]
    InvalidStar,
    /// The peer asked for a non-zero expiry below our minimum: `423` with `Min-Expires`.
    #[error("Interval Too Brief")]
    IntervalTooBrief { min: u32 },
    /// The peer reused a Call-ID with a CSeq not higher than the binding's (§10.3 step 7):
    /// an old or reordered request; nothing was changed.
    #[error("CSeq Out Of Order")]
    OutOfOrder,
    /// Our limit on bindings per user.
    #[error("Too Many Contacts")]
    TooManyBindings { max: usize },
}

impl RegisterError {
    /// The status code of the answer; `423` needs a `Min-Expires: {min}` header.
    pub fn status(&self) -> u16 {
        match self {
            RegisterError::Malformed(_) | RegisterError::InvalidStar => 400,
            RegisterError::IntervalTooBrief { .. } => 423,
            RegisterError::OutOfOrder => 400,
            RegisterError::TooManyBindings { .. } => 403,
        }
    }
}

/// A binding as the rest of the daemon sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct BindingView {
    pub uri: String,
    /// The whole Contact value the phone registered (with its `+sip.instance`, …).
    pub raw: String,
    pub expires_in: Duration,
    pub source: SocketAddr,
    pub transport: &'static str,
    pub q: Option<f32>,
}

/// What changed, for the queue manager and the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrarEvent {
    /// The user went from no binding to at least one.
    Registered { user: String },
    /// A binding ran out without a refresh.
    Expired { user: String, uri: String },
    /// The user has no binding left (removed, `*`, or the last one expired — then after
    /// its `Expired`).
    Unregistered { user: String },
}

#[derive(Debug, Clone)]
struct Binding {
    id: u64,
    key: String,
    uri: String,
    raw: String,
    q: Option<f32>,
    expires_at: Instant,
    call_id: String,
    cseq: u32,
    source: SocketAddr,
    transport: &'static str,
}

/// The bindings of every user, with their deadlines.
#[derive(Debug)]
pub struct Registrar {
    min_expires: u32,
    max_expires: u32,
    default_expires: u32,
    max_per_user: usize,
    users: HashMap<String, Vec<Binding>>,
    /// (deadline, binding id) → the owner, for `poll_timeout` and `handle_timeout`.
    deadlines: BTreeSet<(Instant, u64)>,
    owner: HashMap<u64, String>,
    next_id: u64,
    events: VecDeque<RegistrarEvent>,
}

impl Registrar {
    /// Expiries are in seconds: a non-zero request below `min_expires` is refused with
    /// 423, above `max_expires` is shortened, none at all gets `default_expires`.
    pub fn new(min_expires: u32, max_expires: u32, default_expires: u32) -> Self {
        let max_expires = max_expires.max(min_expires);
        Registrar {
            min_expires,
            max_expires,
            default_expires: default_expires.clamp(min_expires.max(1), max_expires.max(1)),
            max_per_user: DEFAULT_MAX_BINDINGS_PER_USER,
            users: HashMap::new(),
            deadlines: BTreeSet::new(),
            owner: HashMap::new(),
            next_id: 0,
            events: VecDeque::new(),
        }
    }

    pub fn with_max_bindings_per_user(mut self, max: usize) -> Self {
        self.max_per_user = max.max(1);
        self
    }

    pub fn min_expires(&self) -> u32 {
        self.min_expires
    }

    /// Applies an authenticated REGISTER of `user`. All or nothing: on error no binding
    /// changed. Returns the user's bindings afterwards (for the 200's Contact headers).
    pub fn register(
        &mut self,
        now: Instant,
        user: &str,
        req: &RegisterRequest,
    ) -> Result<Vec<BindingView>, RegisterError> {
        let had_any = self.users.get(user).is_some_and(|b| !b.is_empty());
        match &req.contacts {
            ContactList::Star => {
                if req.expires_header != Some(0) {
                    return Err(RegisterError::InvalidStar);
                }
                let current = self.users.get(user).map(Vec::as_slice).unwrap_or(&[]);
                if current
                    .iter()
                    .any(|b| b.call_id == req.call_id && req.cseq <= b.cseq)
                {
                    return Err(RegisterError::OutOfOrder);
                }
                for b in self.users.remove(user).unwrap_or_default() {
                    self.forget(&b);
                }
            }
            ContactList::Contacts(contacts) => {
                // Decide every contact's fate before touching anything.
                let mut plan: Vec<(&ContactSpec, String, u32)> = Vec::new();
                for c in contacts {
                    let mut expiry = c
                        .expires
                        .or(req.expires_header)
                        .unwrap_or(self.default_expires);
                    if expiry != 0 && expiry < self.min_expires {
                        return Err(RegisterError::IntervalTooBrief {
                            min: self.min_expires,
                        });
                    }
                    expiry = expiry.min(self.max_expires);
                    let key = uri_key(&c.uri);
                    // A contact listed twice: the later one wins.
                    plan.retain(|(_, k, _)| *k != key);
                    plan.push((c, key, expiry));
                }
                let current = self.users.get(user).map(Vec::as_slice).unwrap_or(&[]);
                for (_, key, _) in &plan {
                    if current
                        .iter()
                        .any(|b| b.key == *key && b.call_id == req.call_id && req.cseq <= b.cseq)
                    {
                        return Err(RegisterError::OutOfOrder);
                    }
                }
                let kept = current
                    .iter()
                    .filter(|b| !plan.iter().any(|(_, k, _)| *k == b.key))
                    .count();
                let added = plan.iter().filter(|(_, _, e)| *e != 0).count();
                if kept + added > self.max_per_user && added > 0 {
                    return Err(RegisterError::TooManyBindings {
                        max: self.max_per_user,
                    });
                }
                for (c, key, expiry) in plan {
                    self.apply(now, user, req, c, key, expiry);
                }
            }
        }
        let has_any = self.users.get(user).is_some_and(|b| !b.is_empty());
        if !has_any {
            self.users.remove(user);
        }
        match (had_any, has_any) {
            (false, true) => self.events.push_back(RegistrarEvent::Registered {
                user: user.to_owned(),
            }),
            (true, false) => self.events.push_back(RegistrarEvent::Unregistered {
                user: user.to_owned(),
            }),
            _ => {}
        }
        Ok(self.bindings(user, now))
    }

    fn apply(
        &mut self,
        now: Instant,
        user: &str,
        req: &RegisterRequest,
        c: &ContactSpec,
        key: String,
        expiry: u32,
    ) {
        let list = self.users.entry(user.to_owned()).or_default();
        let existing = list.iter().position(|b| b.key == key);
        if expiry == 0 {
            if let Some(i) = existing {
                let b = list.remove(i);
                self.forget(&b);
            }
            return;
        }
        let expires_at = now + Duration::from_secs(u64::from(expiry));
        let id = match existing {
            Some(i) => {
                let b = &mut list[i];
                self.deadlines.remove(&(b.expires_at, b.id));
                b.uri.clone_from(&c.uri);
                b.raw.clone_from(&c.raw);
                b.q = c.q;
                b.expires_at = expires_at;
                b.call_id.clone_from(&req.call_id);
                b.cseq = req.cseq;
                b.source = req.source;
                b.transport = req.transport;
                b.id
            }
            None => {
                let id = self.next_id;
                self.next_id += 1;
                list.push(Binding {
                    id,
                    key,
                    uri: c.uri.clone(),
                    raw: c.raw.clone(),
                    q: c.q,
                    expires_at,
                    call_id: req.call_id.clone(),
                    cseq: req.cseq,
                    source: req.source,
                    transport: req.transport,
                });
                self.owner.insert(id, user.to_owned());
                id
            }
        };
        self.deadlines.insert((expires_at, id));
    }

    fn forget(&mut self, b: &Binding) {
        self.deadlines.remove(&(b.expires_at, b.id));
        self.owner.remove(&b.id);
    }

    /// The user's live bindings, highest `q` first (absent `q` counts as 1.0), then in
    /// registration order.
    pub fn bindings(&self, user: &str, now: Instant) -> Vec<BindingView> {
        let mut out: Vec<BindingView> = self
            .users
            .get(user)
            .into_iter()
            .flatten()
            .filter(|b| b.expires_at > now)
            .map(|b| BindingView {
                uri: b.uri.clone(),
                raw: b.raw.clone(),
                expires_in: b.expires_at - now,
                source: b.source,
                transport: b.transport,
                q: b.q,
            })
            .collect();
        out.sort_by(|a, b| b.q.unwrap_or(1.0).total_cmp(&a.q.unwrap_or(1.0)));
        out
    }

    /// Whether the user has at least one live binding.
    pub fn is_registered(&self, user: &str, now: Instant) -> bool {
        self.users
            .get(user)
            .is_some_and(|l| l.iter().any(|b| b.expires_at > now))
    }

    /// Users with at least one binding.
    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.users.keys().map(String::as_str)
    }

    /// Contact header values for the 200 (RFC 3261 §10.3 step 8): every current binding
    /// as registered, with `expires` set to the seconds it has left.
    pub fn contact_headers(&self, user: &str, now: Instant) -> Vec<String> {
        self.bindings(user, now)
            .iter()
            .map(|b| {
                let secs = b.expires_in.as_secs() + u64::from(b.expires_in.subsec_nanos() > 0);
                with_expires(&b.raw, &b.uri, secs)
            })
            .collect()
    }

    /// Removes bindings whose time has come.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(at, id)) = self.deadlines.first() {
            if at > now {
                break;
            }
            self.deadlines.pop_first();
            let Some(user) = self.owner.remove(&id) else {
                continue;
            };
            let Some(list) = self.users.get_mut(&user) else {
                continue;
            };
            let Some(i) = list.iter().position(|b| b.id == id) else {
                continue;
            };
            let b = list.remove(i);
            let empty = list.is_empty();
            self.events.push_back(RegistrarEvent::Expired {
                user: user.clone(),
                uri: b.uri,
            });
            if empty {
                self.users.remove(&user);
                self.events.push_back(RegistrarEvent::Unregistered { user });
            }
        }
    }

    pub fn poll_event(&mut self) -> Option<RegistrarEvent> {
        self.events.pop_front()
    }

    /// The earliest binding expiry.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first().map(|(at, _)| *at)
    }
}

/// Extracts the REGISTER's contacts, Expires, Call-ID and CSeq. `source` and `transport`
/// are where and how it arrived (the framing layer knows them, the message does not).
pub fn parse_register(
    msg: &SipMessage,
    source: SocketAddr,
    transport: &'static str,
) -> Result<RegisterRequest, RegisterError> {
    let call_id = msg
        .first(&Name::CALL_ID)
        .map(|v| v.as_str().trim().to_owned())
        .filter(|v| !v.is_empty())
        .ok_or(RegisterError::Malformed("Call-ID"))?;
    let (cseq, _) = msg.cseq().map_err(|_| RegisterError::Malformed("CSeq"))?;
    let expires_header = match msg.first(&Name::EXPIRES) {
        None => None,
        Some(v) => Some(delta_seconds(v.as_str()).ok_or(RegisterError::Malformed("Expires"))?),
    };
    let mut star = false;
    let mut contacts = Vec::new();
    for value in msg.values(&Name::CONTACT) {
        for element in split_outside_quotes(value.as_str(), ',') {
            let element = element.trim();
            if element == "*" {
                star = true;
            } else {
                contacts.push(parse_contact(element)?);
            }
        }
    }
    let contacts = if star {
        if !contacts.is_empty() || expires_header != Some(0) {
            return Err(RegisterError::InvalidStar);
        }
        ContactList::Star
    } else {
        ContactList::Contacts(contacts)
    };
    Ok(RegisterRequest {
        contacts,
        expires_header,
        call_id,
        cseq,
        source,
        transport,
    })
}

/// A delta-seconds value; larger than 2³²−1 is taken as 2³²−1 (RFC 3261 §20.19 allows
/// big values; the registrar clamps them anyway).
fn delta_seconds(s: &str) -> Option<u32> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(
        s.parse::<u64>()
            .map_or(u32::MAX, |v| u32::try_from(v).unwrap_or(u32::MAX)),
    )
}

/// Splits on `sep` outside quoted strings and `<…>`.
fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut escaped, mut angle) = (false, false, false);
    let mut start = 0;
    for (i, ch) in s.char_indices() {
        if quoted {
            match ch {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => quoted = false,
                _ => {}
            }
            continue;
        }
        match ch {
            '"' => quoted = true,
            '<' => angle = true,
            '>' => angle = false,
            c if c == sep && !angle => {
                out.push(&s[start..i]);
                start = i + sep.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// A contact split into display name, URI and header parameters (raw `name[=value]`).
struct ContactParts<'a> {
    display: Option<&'a str>,
    uri: &'a str,
    params: Vec<&'a str>,
}

fn split_contact(element: &str) -> Option<ContactParts<'_>> {
    let element = element.trim();
    // Find a `<` outside a quoted display name.
    let mut quoted = false;
    let mut escaped = false;
    let mut lt = None;
    for (i, ch) in element.char_indices() {
        if quoted {
            match ch {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => quoted = false,
                _ => {}
            }
        } else if ch == '"' {
            quoted = true;
        } else if ch == '<' {
            lt = Some(i);
            break;
        }
    }
    let (display, uri, rest) = match lt {
        Some(lt) => {
            let gt = lt + element[lt..].find('>')?;
            let display = element[..lt].trim();
            (
                (!display.is_empty()).then_some(display),
                element[lt + 1..gt].trim(),
                &element[gt + 1..],
            )
        }
        None => {
            if quoted {
                return None;
            }
            let end = element.find(';').unwrap_or(element.len());
            (None, element[..end].trim(), &element[end..])
        }
    };
    let rest = rest.trim();
    if !rest.is_empty() && !rest.starts_with(';') {
        return None;
    }
    let params = split_outside_quotes(rest, ';')
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    Some(ContactParts {
        display,
        uri,
        params,
    })
}

fn parse_contact(element: &str) -> Result<ContactSpec, RegisterError> {
    let bad = RegisterError::Malformed("Contact");
    let parts = split_contact(element).ok_or(bad)?;
    let scheme_ok = parts.uri.split_once(':').is_some_and(|(s, rest)| {
        (s.eq_ignore_ascii_case("sip") || s.eq_ignore_ascii_case("sips")) && !rest.is_empty()
    });
    if !scheme_ok || parts.uri.contains(char::is_whitespace) {
        return Err(bad);
    }
    let mut expires = None;
    let mut q = None;
    for p in &parts.params {
        let (name, value) = p.split_once('=').unwrap_or((p, ""));
        let (name, value) = (name.trim(), value.trim().trim_matches('"'));
        if name.eq_ignore_ascii_case("expires") {
            expires = Some(delta_seconds(value).ok_or(bad)?);
        } else if name.eq_ignore_ascii_case("q") {
            let v: f32 = value.parse().map_err(|_| bad)?;
            if !(0.0..=1.0).contains(&v) {
                return Err(bad);
            }
            q = Some(v);
        }
    }
    Ok(ContactSpec {
        uri: parts.uri.to_owned(),
        raw: element.trim().to_owned(),
        expires,
        q,
    })
}

/// The binding key of a contact URI: scheme and host compared case-insensitively, the
/// user part and parameters as written (RFC 3261 §19.1.4, simplified).
fn uri_key(uri: &str) -> String {
    let (scheme, rest) = uri.split_once(':').unwrap_or(("", uri));
    let (user, host_and_more) = match rest.rfind('@') {
        Some(at) => (&rest[..=at], &rest[at + 1..]),
        None => ("", rest),
    };
    let host_end = host_and_more
        .find([';', '?'])
        .unwrap_or(host_and_more.len());
    format!(
        "{}:{user}{}{}",
        scheme.to_ascii_lowercase(),
        host_and_more[..host_end].to_ascii_lowercase(),
        &host_and_more[host_end..]
    )
}

/// Rewrites a registered contact with `expires=secs` in place of any `expires` it had.
fn with_expires(raw: &str, uri: &str, secs: u64) -> String {
    let mut out = String::new();
    match split_contact(raw) {
        Some(parts) => {
            if let Some(d) = parts.display {
                let _ = write!(out, "{d} ");
            }
            let _ = write!(out, "<{}>", parts.uri);
            for p in parts.params {
                let name = p.split_once('=').map_or(p, |(n, _)| n).trim();
                if !name.eq_ignore_ascii_case("expires") {
                    let _ = write!(out, ";{p}");
                }
            }
        }
        None => {
            let _ = write!(out, "<{uri}>");
        }
    }
    let _ = write!(out, ";expires={secs}");
    out
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests start a virtual clock at a real instant
mod tests;
