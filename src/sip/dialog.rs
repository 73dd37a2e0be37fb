//! UAS dialog state (RFC 3261 §12.1.1, §12.2): identifiers, route set, remote target and
//! CSeq spaces, and the requests we send inside a dialog (BYE).

use super::msg::SipMessage;
use bytes::Bytes;
use ezk_sip_types::Name;
use std::fmt::Write as _;
use std::net::SocketAddr;

/// The dialog a UAS establishes when it answers an INVITE.
#[derive(Debug, Clone)]
pub struct Dialog {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: Option<String>,
    /// The caller's From header value: the To of our requests.
    remote_party: String,
    /// The INVITE's To header value with our tag: the From of our requests.
    local_party: String,
    /// The caller's Contact URI (or the From URI when there was no Contact).
    remote_target: String,
    /// Record-Route values of the INVITE, in order (§12.1.1: the UAS keeps them as they are).
    route_set: Vec<String>,
    local_cseq: u32,
    /// Highest CSeq seen from the caller; lower ones in new requests are out of order.
    pub remote_cseq: u32,
}

impl Dialog {
    /// The dialog a 2xx (or 1xx with tag) to `invite` creates.
    pub fn from_invite(invite: &SipMessage, local_tag: &str, cseq: u32) -> Dialog {
        let header = |n: &Name| invite.first(n).map(|v| v.to_string()).unwrap_or_default();
        let from = header(&Name::FROM);
        let to = header(&Name::TO);
        let remote_tag = tag_of(&from);
        let remote_target = invite
            .first(&Name::CONTACT)
            .map_or_else(|| uri_of(&from), |c| uri_of(c.as_str()))
            .to_owned();
        let route_set = invite
            .values(&Name::RECORD_ROUTE)
            .flat_map(|v| split_top_level_commas(v.as_str()))
            .collect();
        Dialog {
            call_id: header(&Name::CALL_ID),
            local_tag: local_tag.to_owned(),
            remote_tag,
            local_party: format!("{to};tag={local_tag}"),
            remote_party: from,
            remote_target,
            route_set,
            local_cseq: 0,
            remote_cseq: cseq,
        }
    }

    /// The dialog of an INVITE we send (§12.1.2), before its 2xx: `local_party` is our
    /// From (with our tag), `remote_party` the To we address; CSeq 1 is the INVITE's.
    pub fn for_uac(call_id: &str, local_tag: &str, from: &str, to: &str, target: &str) -> Dialog {
        Dialog {
            call_id: call_id.to_owned(),
            local_tag: local_tag.to_owned(),
            remote_tag: None,
            remote_party: to.to_owned(),
            local_party: from.to_owned(),
            remote_target: target.to_owned(),
            route_set: Vec::new(),
            local_cseq: 1,
            remote_cseq: 0,
        }
    }

    /// Completes a UAC dialog from the 2xx (§12.1.2): the remote tag and To, the
    /// Contact as remote target, and the Record-Route in reverse order as route set.
    pub fn confirm_uac(&mut self, response: &SipMessage) {
        if let Some(to) = response.first(&Name::TO) {
            self.remote_party = to.to_string();
            self.remote_tag = tag_of(to.as_str());
        }
        if let Some(c) = response.first(&Name::CONTACT) {
            self.remote_target = uri_of(c.as_str()).to_owned();
        }
        let mut routes: Vec<String> = response
            .values(&Name::RECORD_ROUTE)
            .flat_map(|v| split_top_level_commas(v.as_str()))
            .collect();
        routes.reverse();
        self.route_set = routes;
    }

    /// The ACK of a 2xx (§13.2.2.4): its own branch, the INVITE's CSeq number.
    pub fn ack(&self, via: ViaSpec<'_>, branch: &str, invite_cseq: u32) -> Bytes {
        let mut t = String::with_capacity(400);
        let _ = write!(t, "ACK {} SIP/2.0\r\n", self.remote_target);
        let _ = write!(
            t,
            "Via: SIP/2.0/{} {};branch={branch};rport\r\n",
            via.transport, via.sent_by
        );
        let _ = write!(t, "Max-Forwards: 70\r\n");
        for route in &self.route_set {
            let _ = write!(t, "Route: {route}\r\n");
        }
        let _ = write!(t, "From: {}\r\n", self.local_party);
        let _ = write!(t, "To: {}\r\n", self.remote_party);
        let _ = write!(t, "Call-ID: {}\r\n", self.call_id);
        let _ = write!(t, "CSeq: {invite_cseq} ACK\r\nContent-Length: 0\r\n\r\n");
        Bytes::from(t)
    }

    /// Updates the remote target from a target-refresh request (re-INVITE, UPDATE §12.2.2).
    pub fn refresh_target(&mut self, req: &SipMessage) {
        if let Some(c) = req.first(&Name::CONTACT) {
            self.remote_target = uri_of(c.as_str()).to_owned();
        }
    }

    /// Builds an in-dialog request (§12.2.1.1). `via_host` and `transport` name our side;
    /// the new branch keeps it a new transaction.
    pub fn request(&mut self, method: &str, via: ViaSpec<'_>, branch: &str) -> Bytes {
        self.request_with(method, via, branch, &[], None)
    }

    /// As [`Dialog::request`], with extra headers and an optional (content type, body).
    pub fn request_with(
        &mut self,
        method: &str,
        via: ViaSpec<'_>,
        branch: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, &str)>,
    ) -> Bytes {
        self.local_cseq += 1;
        let mut t = String::with_capacity(512);
        // With a strict-routing first hop we would swap; loose routing (`;lr`) is universal.
        let _ = write!(t, "{method} {} SIP/2.0\r\n", self.remote_target);
        let _ = write!(
            t,
            "Via: SIP/2.0/{} {};branch={branch};rport\r\n",
            via.transport, via.sent_by
        );
        let _ = write!(t, "Max-Forwards: 70\r\n");
        for route in &self.route_set {
            let _ = write!(t, "Route: {route}\r\n");
        }
        let _ = write!(t, "From: {}\r\n", self.local_party);
        let _ = write!(t, "To: {}\r\n", self.remote_party);
        let _ = write!(t, "Call-ID: {}\r\n", self.call_id);
        let _ = write!(t, "CSeq: {} {method}\r\n", self.local_cseq);
        for (name, value) in headers {
            let _ = write!(t, "{name}: {value}\r\n");
        }
        let (ctype, body) = body.unwrap_or(("", ""));
        if !ctype.is_empty() {
            let _ = write!(t, "Content-Type: {ctype}\r\n");
        }
        let _ = write!(
            t,
            "User-Agent: centralino\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        Bytes::from(t)
    }
}

/// Our Via sent-by and transport name for requests we originate.
#[derive(Debug, Clone, Copy)]
pub struct ViaSpec<'a> {
    pub transport: &'a str,
    pub sent_by: SocketAddr,
}

/// The `tag` parameter of a From/To value, outside its `<...>`.
fn tag_of(value: &str) -> Option<String> {
    let params = value.rfind('>').map_or(value, |gt| &value[gt..]);
    params.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("tag")
            .then(|| v.trim().to_owned())
    })
}

/// The URI inside `<...>`, or the value up to its parameters.
fn uri_of(value: &str) -> &str {
    match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value.split(';').next().unwrap_or(value).trim(),
    }
}

/// Splits `<a>, <b;lr>` at commas that are outside angle brackets and quotes.
fn split_top_level_commas(v: &str) -> Vec<String> {
    let (mut out, mut depth, mut quoted, mut start) = (Vec::new(), 0i32, false, 0);
    for (i, c) in v.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                out.push(v[start..i].trim().to_owned());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(v[start..].trim().to_owned());
    out.retain(|s| !s.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite() -> SipMessage {
        let text = "INVITE sip:06123@127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-p\r\n\
Record-Route: <sip:10.0.0.1;lr>, <sip:10.0.0.2;lr>\r\n\
Record-Route: <sip:10.0.0.3;lr>\r\n\
From: \"A\" <sip:333@10.0.0.9>;tag=caller\r\n\
To: <sip:06123@127.0.0.1>\r\n\
Call-ID: dlg-1\r\n\
CSeq: 4 INVITE\r\n\
Contact: <sip:333@10.0.0.9:5072;transport=udp>\r\n\
Content-Length: 0\r\n\r\n";
        SipMessage::parse(Bytes::from(text), false).unwrap()
    }

    #[test]
    fn bye_follows_the_route_set_and_swaps_parties() {
        let mut d = Dialog::from_invite(&invite(), "ours", 4);
        assert_eq!(d.remote_tag.as_deref(), Some("caller"));
        let via = ViaSpec {
            transport: "UDP",
            sent_by: "127.0.0.1:5060".parse().unwrap(),
        };
        let bye = d.request("BYE", via, "z9hG4bK-b1");
        let text = std::str::from_utf8(&bye).unwrap();
        assert!(
            text.starts_with("BYE sip:333@10.0.0.9:5072;transport=udp SIP/2.0\r\n"),
            "{text}"
        );
        assert!(text.contains("Route: <sip:10.0.0.1;lr>\r\nRoute: <sip:10.0.0.2;lr>\r\nRoute: <sip:10.0.0.3;lr>\r\n"), "{text}");
        assert!(
            text.contains("From: <sip:06123@127.0.0.1>;tag=ours\r\n"),
            "{text}"
        );
        assert!(
            text.contains("To: \"A\" <sip:333@10.0.0.9>;tag=caller\r\n"),
            "{text}"
        );
        assert!(text.contains("CSeq: 1 BYE\r\n"));
        let parsed = SipMessage::parse(bye, false).unwrap();
        assert_eq!(
            parsed.essentials().unwrap().to_tag.as_deref(),
            Some("caller")
        );
        assert!(
            d.request("BYE", via, "z9hG4bK-b2")
                .windows(9)
                .any(|w| w == b"CSeq: 2 B")
        );
    }
}
