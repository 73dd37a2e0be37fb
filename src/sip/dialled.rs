//! Which number the citizen dialled, read from a forwarded INVITE: History-Info `index=1`
//! (RFC 7044 §9.1), else the bottom-most Diversion entry (RFC 5806 §4), else the `target`
//! parameter of the Request-URI (RFC 4458 §3.1), else the To URI, else the Request-URI
//! user part (RFC 3261 §8.1.1). Pure string work over raw header values.
//!
//! Every office number is forwarded to the switchboard, so the Request-URI names the
//! switchboard rather than the office: the office is whatever the carrier or PBX recorded
//! before forwarding. A carrier that supports History-Info lists every target the request
//! went through, the first one (`index=1`) being the number the caller dialled:
//!
//! ```text
//! History-Info: <sip:0659051000@carrier.example;user=phone?Reason=SIP%3Bcause%3D302>;index=1,
//!  <sip:0689001000@pbx.example>;index=1.1;rc=1
//! ```
//!
//! One that speaks Diversion puts the most recent diversion on top, so the number the caller
//! dialled is the last entry of the last header line:
//!
//! ```text
//! Diversion: <sip:0659051000@pbx.example>;reason=unconditional;counter=1;privacy=off
//! ```
//!
//! The number comes back as written (percent-decoded, without parameters); turning it into
//! E.164 is the directory's job (`crate::directory::normalise_e164`).

use crate::sip::msg::{SipMessage, StartLine};
use ezk_sip_types::Name;

/// Where the dialled number was found. Not personal data: safe to log as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DialledFrom {
    /// The History-Info entry with `index=1`.
    HistoryInfo,
    /// The bottom-most usable Diversion entry.
    Diversion,
    /// The `target` parameter of the Request-URI.
    TargetParam,
    /// The To header's URI.
    To,
    /// The Request-URI user part (a call that was not forwarded).
    RequestUri,
}

impl DialledFrom {
    /// A short name for logs and metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            DialledFrom::HistoryInfo => "history-info",
            DialledFrom::Diversion => "diversion",
            DialledFrom::TargetParam => "target",
            DialledFrom::To => "to",
            DialledFrom::RequestUri => "request-uri",
        }
    }
}

/// The number the caller dialled and where it was read. Usually an office number, but a
/// forwarded private line would make it personal data: log it through `crate::pii`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialled {
    /// The user part, percent-decoded, without parameters (`0659051000`, `+390659051000`).
    pub number: String,
    pub from: DialledFrom,
}

/// Works out the dialled number from the Request-URI, the To value and every History-Info
/// and Diversion header line (raw values, each possibly holding several comma-separated
/// entries), by the precedence of the module docs.
///
/// A source is used only when it yields something that looks like a phone number (digits,
/// an optional leading `+`, visual separators, `*` and `#`): a History-Info entry for
/// `sip:pbx@host`, a Diversion entry without a URI or a To of `sip:centralino@host` is
/// skipped and the next source is tried. Among Diversion entries the bottom-most usable one
/// wins. The Request-URI is the last resort and is returned whatever its user part is
/// (possibly empty).
pub fn dialled_number(
    request_uri: &str,
    to: Option<&str>,
    history_info: &[&str],
    diversion: &[&str],
) -> Dialled {
    let found = |number: String, from| Dialled { number, from };
    if let Some(n) = history_info
        .iter()
        .flat_map(|v| entries(v))
        .filter(|e| param(e.params, "index") == Some("1"))
        .find_map(|e| phone_user(e.uri))
    {
        return found(n, DialledFrom::HistoryInfo);
    }
    let diverted: Vec<Entry<'_>> = diversion.iter().flat_map(|v| entries(v)).collect();
    if let Some(n) = diverted.iter().rev().find_map(|e| phone_user(e.uri)) {
        return found(n, DialledFrom::Diversion);
    }
    if let Some(n) = uri_params(request_uri)
        .and_then(|p| param(p, "target"))
        .and_then(target_user)
    {
        return found(n, DialledFrom::TargetParam);
    }
    if let Some(n) = to
        .and_then(|v| entries(v).into_iter().next())
        .and_then(|e| phone_user(e.uri))
    {
        return found(n, DialledFrom::To);
    }
    let number = user_part(request_uri)
        .map(percent_decode)
        .unwrap_or_default();
    found(number, DialledFrom::RequestUri)
}

/// [`dialled_number`] over an INVITE: its Request-URI, first To, and every History-Info
/// and Diversion line in arrival order.
pub fn dialled_in(msg: &SipMessage) -> Dialled {
    let request_uri = match &msg.start {
        StartLine::Request { uri, .. } => uri.as_str(),
        StartLine::Response { .. } => "",
    };
    // Neither header has a compact form (RFC 7044 §10, RFC 5806 §4).
    let history_info = Name::custom("History-Info", &["history-info"]);
    let diversion = Name::custom("Diversion", &["diversion"]);
    let to = msg.first(&Name::TO).map(|v| v.as_str());
    let history: Vec<&str> = msg.values(&history_info).map(|v| v.as_str()).collect();
    let diversion: Vec<&str> = msg.values(&diversion).map(|v| v.as_str()).collect();
    dialled_number(request_uri, to, &history, &diversion)
}

/// One entry of a name-addr list: the URI (without `<>`) and the header parameters after
/// it (from the first `;`, or empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry<'a> {
    uri: &'a str,
    params: &'a str,
}

/// Splits a header value into entries at commas outside quoted strings and `<…>`, and
/// separates each entry's URI from its parameters. Empty entries are dropped.
fn entries(value: &str) -> Vec<Entry<'_>> {
    split_outside(value, ',')
        .into_iter()
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(entry)
        .collect()
}

/// `"Name" <uri>;params`, `<uri>;params` or a bare `uri;params` (addr-spec, where the
/// parameters cannot be told from URI parameters: they are taken as the entry's).
fn entry(text: &str) -> Entry<'_> {
    if let Some(open) = find_outside_quotes(text, '<') {
        let inner = &text[open + 1..];
        let close = inner.find('>').unwrap_or(inner.len());
        let after = inner.get(close + 1..).unwrap_or_default();
        return Entry {
            uri: inner[..close].trim(),
            params: after.trim(),
        };
    }
    match text.find(';') {
        Some(i) => Entry {
            uri: text[..i].trim(),
            params: &text[i..],
        },
        None => Entry {
            uri: text,
            params: "",
        },
    }
}

/// Splits at `sep` where it is neither inside a quoted string (with `\` escapes) nor
/// inside `<…>`.
fn split_outside(text: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut escaped, mut angle) = (false, false, false);
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if quoted {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => quoted = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            '<' => angle = true,
            '>' => angle = false,
            c if c == sep && !angle => {
                out.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

/// The byte offset of the first `wanted` outside a quoted string.
fn find_outside_quotes(text: &str, wanted: char) -> Option<usize> {
    let (mut quoted, mut escaped) = (false, false);
    for (i, c) in text.char_indices() {
        if quoted {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => quoted = false,
                _ => {}
            }
        } else if c == '"' {
            quoted = true;
        } else if c == wanted {
            return Some(i);
        }
    }
    None
}

/// The value of parameter `name` (case-insensitive) in `;a=1;b;c=2` (leading `;`
/// optional). A parameter without `=` has the value `""`.
fn param<'a>(params: &'a str, name: &str) -> Option<&'a str> {
    params
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .find_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().trim_matches('"'))
        })
}

/// `sip:`, `sips:` or `tel:` (any case): the scheme's length including the colon.
fn scheme_len(uri: &str) -> Option<usize> {
    let colon = uri.find(':')?;
    let scheme = &uri[..colon];
    ["sip", "sips", "tel"]
        .iter()
        .any(|s| scheme.eq_ignore_ascii_case(s))
        .then_some(colon + 1)
}

/// The user part of a `sip:`/`sips:` URI (before `@`, without user parameters such as
/// `;phone-context`) or the number of a `tel:` URI (before its parameters), still
/// percent-encoded. `None` for another scheme or a SIP URI without a user.
fn user_part(uri: &str) -> Option<&str> {
    let uri = uri.trim();
    let rest = &uri[scheme_len(uri)?..];
    let is_tel = uri[..3].eq_ignore_ascii_case("tel");
    let user = if is_tel {
        rest.split(['?', ';']).next().unwrap_or_default()
    } else {
        let (user, _) = rest.split_once('@')?;
        user.split(';').next().unwrap_or_default()
    };
    Some(user.trim())
}

/// The URI parameters of a `sip:`/`sips:`/`tel:` URI: what follows the host (or the
/// telephone number) up to the `?` of its headers.
fn uri_params(uri: &str) -> Option<&str> {
    let uri = uri.trim();
    let rest = &uri[scheme_len(uri)?..];
    let rest = rest.split('?').next().unwrap_or_default();
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    host.find(';').map(|i| &host[i..])
}

/// The number a `target` parameter names: an escaped URI (`sip:%2B39…%40host`), or a
/// bare number (`%2B390659051000`, `0659051000`), possibly with `@host`.
fn target_user(value: &str) -> Option<String> {
    let decoded = percent_decode(value);
    if scheme_len(&decoded).is_some() {
        return phone_user(&decoded);
    }
    let user = decoded.split(['@', ';']).next().unwrap_or_default().trim();
    looks_like_number(user).then(|| user.to_owned())
}

/// The user part of `uri`, decoded, when it looks like a phone number.
fn phone_user(uri: &str) -> Option<String> {
    let user = percent_decode(user_part(uri)?);
    looks_like_number(&user).then_some(user)
}

/// Digits with an optional leading `+`, RFC 3966 visual separators (`-`, `.`, `(`, `)`),
/// spaces, `/`, `*` and `#`, and at least one digit.
fn looks_like_number(s: &str) -> bool {
    let body = s.strip_prefix('+').unwrap_or(s);
    body.bytes().any(|b| b.is_ascii_digit())
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || b"-.()/ *#".contains(&b))
}

/// Decodes `%XX` escapes (RFC 3986 §2.1); a `%` not followed by two hex digits is kept.
/// Bytes that do not form UTF-8 become U+FFFD.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests;
