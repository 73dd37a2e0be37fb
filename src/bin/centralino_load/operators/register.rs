//! Registration of the farm's operators (RFC 3261 §10.2): REGISTER from each operator's
//! socket, the digest challenge answered with `qop=auth` and MD5 (§22.2, RFC 2617,
//! RFC 7616 §3.4), retransmission on Timer E until an answer (§17.1.2.2), 423 with
//! Min-Expires, refresh at half the granted interval (§10.2.4), and Expires: 0 at the end.

use super::*;
use centralino::sip::auth::{Algorithm, digest_response, ha1};

impl Farm {
    /// Registers every operator; returns once all are registered, or an error naming
    /// those refused or unanswered by `limit`.
    pub fn register_all(&mut self, limit: Duration) -> Result<(), String> {
        let now = Instant::now();
        for i in 0..self.ops.len() {
            self.register(now, i, self.cfg.expires, None);
        }
        let deadline = now + limit;
        while self.ops.iter().any(|o| o.reg == Reg::Pending) && Instant::now() < deadline {
            self.step(deadline);
        }
        let bad: Vec<String> = self
            .ops
            .iter()
            .filter(|o| o.reg != Reg::Registered)
            .map(|o| match &o.reg {
                Reg::Refused(why) => format!("{} ({why})", o.user),
                _ => format!("{} (no answer)", o.user),
            })
            .collect();
        self.stats.registered = self.ops.len() - bad.len();
        if bad.is_empty() {
            Ok(())
        } else {
            // Leave no binding behind for the operators that did register.
            self.unregister_all(Duration::from_secs(2));
            Err(format!(
                "{} of {} operators not registered: {}",
                bad.len(),
                self.ops.len(),
                bad.join(", ")
            ))
        }
    }

    pub(super) fn unregister_all(&mut self, limit: Duration) {
        let now = Instant::now();
        for i in 0..self.ops.len() {
            if self.ops[i].reg == Reg::Registered {
                self.ops[i].auth_tries = 0;
                self.register(now, i, 0, None);
            }
        }
        let deadline = now + limit;
        while self.ops.iter().any(|o| o.reg == Reg::Pending) && Instant::now() < deadline {
            self.step(deadline);
        }
        self.stats.unregistered = self
            .ops
            .iter()
            .filter(|o| o.reg == Reg::Unregistered)
            .count();
    }

    /// Sends a REGISTER (with credentials answering `challenge` when given).
    fn register(&mut self, now: Instant, i: usize, expires: u32, challenge: Option<&str>) {
        let target = self.cfg.target;
        let o = &mut self.ops[i];
        o.cseq += 1;
        o.expires = expires;
        o.reg = Reg::Pending;
        o.branch = format!("z9hG4bK-{}-{}-reg{}", self.run, o.user, o.cseq);
        let uri = format!("sip:{}", target.ip());
        let mut auth = String::new();
        if let Some(ch) = challenge {
            o.nc += 1;
            let realm = challenge_param(ch, "realm").unwrap_or_default();
            let nonce = challenge_param(ch, "nonce").unwrap_or_default();
            let nc = format!("{:08x}", o.nc);
            let cnonce = format!("{:016x}", random_u64());
            let h1 = ha1(Algorithm::Md5, &o.user, &realm, &self.cfg.password);
            let response = digest_response(
                Algorithm::Md5,
                &h1,
                &nonce,
                Some((&nc, &cnonce)),
                "REGISTER",
                &uri,
            );
            let opaque = challenge_param(ch, "opaque")
                .map(|v| format!(", opaque=\"{v}\""))
                .unwrap_or_default();
            auth = format!(
                "Authorization: Digest username=\"{}\", realm=\"{realm}\", nonce=\"{nonce}\", \
                 uri=\"{uri}\", response=\"{response}\", algorithm=MD5, cnonce=\"{cnonce}\", \
                 qop=auth, nc={nc}{opaque}\r\n",
                o.user
            );
        }
        let text = format!(
            "REGISTER {uri} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch={branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{user}@{ip}>;tag={tag}\r\n\
             To: <sip:{user}@{ip}>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} REGISTER\r\n\
             Contact: <sip:{user}@{local}>\r\n\
             Expires: {expires}\r\n\
             {auth}User-Agent: centralino-load\r\n\
             Content-Length: 0\r\n\r\n",
            local = o.local,
            branch = o.branch,
            user = o.user,
            ip = target.ip(),
            tag = o.tag,
            call_id = o.call_id,
            cseq = o.cseq,
        );
        o.request = Bytes::from(text);
        o.sent_at = now;
        o.retx = 0;
        let _ = o.sock.send_to(&o.request, target);
        self.timers
            .push(Reverse((now + T1, Timer::RegRetx(i, o.cseq))));
    }

    pub(super) fn on_register_response(
        &mut self,
        now: Instant,
        i: usize,
        msg: &SipMessage,
        code: u16,
    ) {
        let o = &mut self.ops[i];
        if o.reg != Reg::Pending || via_branch(msg).as_deref() != Some(o.branch.as_str()) {
            return; // a late answer to an earlier attempt
        }
        match code {
            100..=199 => {}
            200..=299 => {
                o.auth_tries = 0;
                if o.expires == 0 {
                    o.reg = Reg::Unregistered;
                    return;
                }
                o.reg = Reg::Registered;
                let granted = granted_expires(msg, &o.local).unwrap_or(o.expires).max(2);
                // Refresh at half the granted interval: well before the binding lapses.
                let at = now + Duration::from_secs(u64::from(granted) / 2);
                self.timers.push(Reverse((at, Timer::RegRefresh(i))));
            }
            401 | 407 if o.auth_tries < 2 => {
                o.auth_tries += 1;
                let name = if code == 401 {
                    Name::WWW_AUTHENTICATE
                } else {
                    Name::PROXY_AUTHENTICATE
                };
                let md5 = msg.values(&name).map(|v| v.as_str().to_owned()).find(|v| {
                    challenge_param(v, "algorithm").is_none_or(|a| a.eq_ignore_ascii_case("MD5"))
                });
                match md5 {
                    Some(ch) => {
                        let expires = o.expires;
                        self.register(now, i, expires, Some(&ch));
                    }
                    None => o.reg = Reg::Refused(format!("{code} without an MD5 challenge")),
                }
            }
            423 if o.auth_tries < 3 => {
                let min = msg
                    .first(&Name::MIN_EXPIRES)
                    .and_then(|v| v.as_str().trim().parse().ok())
                    .unwrap_or(3600);
                o.auth_tries += 1;
                self.register(now, i, min, None);
            }
            _ => {
                let reason = match &msg.start {
                    centralino::sip::msg::StartLine::Response { reason, .. } => reason.clone(),
                    _ => String::new(),
                };
                o.reg = Reg::Refused(format!("{code} {reason}"));
            }
        }
    }

    /// A registration timer: retransmit (or give up on) a REGISTER, or refresh.
    pub(super) fn registration_timer(&mut self, now: Instant, timer: Timer) {
        match timer {
            Timer::RegRetx(i, cseq) => {
                let o = &mut self.ops[i];
                // Stale unless this very REGISTER is still unanswered.
                if o.reg != Reg::Pending || o.cseq != cseq {
                    return;
                }
                if now.duration_since(o.sent_at) >= GIVE_UP {
                    o.reg = Reg::Refused("no answer to REGISTER".into());
                    return;
                }
                o.retx += 1;
                let _ = o.sock.send_to(&o.request, self.cfg.target);
                let next = now + Self::backoff(o.retx);
                self.timers.push(Reverse((next, Timer::RegRetx(i, cseq))));
            }
            Timer::RegRefresh(i) if self.ops[i].reg == Reg::Registered => {
                self.stats.reregistrations += 1;
                self.ops[i].auth_tries = 0;
                let expires = self.ops[i].expires;
                self.register(now, i, expires, None);
            }
            _ => {}
        }
    }
}

/// A parameter of a `WWW-Authenticate: Digest k=v, k="v"` value (RFC 7616 §3.3).
fn challenge_param(value: &str, name: &str) -> Option<String> {
    let rest = value.trim_start().strip_prefix("Digest")?;
    let mut s = rest;
    loop {
        s = s.trim_start_matches(|c: char| c == ',' || c.is_ascii_whitespace());
        if s.is_empty() {
            return None;
        }
        let eq = s.find('=')?;
        let key = s[..eq].trim();
        let after = s[eq + 1..].trim_start();
        let (val, rest) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (&q[..end], &q[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim(), &after[end..])
        };
        if key.eq_ignore_ascii_case(name) {
            return Some(val.to_owned());
        }
        s = rest;
    }
}

/// The expiry the registrar granted our contact: its `expires` parameter in the 200's
/// Contact for our address, else the Expires header (§10.2.4).
fn granted_expires(msg: &SipMessage, local: &SocketAddr) -> Option<u32> {
    let ours = local.to_string();
    for v in msg.values(&Name::CONTACT) {
        for c in v.as_str().split(',') {
            if c.contains(&ours)
                && let Some(p) = c.split(';').find_map(|p| p.trim().strip_prefix("expires="))
            {
                return p.trim().parse().ok();
            }
        }
    }
    msg.first(&Name::EXPIRES)?.as_str().trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_parameters() {
        let ch = "Digest realm=\"centralino\", nonce=\"00ab,cd\", algorithm=MD5, qop=\"auth\"";
        assert_eq!(challenge_param(ch, "realm").as_deref(), Some("centralino"));
        assert_eq!(challenge_param(ch, "nonce").as_deref(), Some("00ab,cd"));
        assert_eq!(challenge_param(ch, "algorithm").as_deref(), Some("MD5"));
        assert_eq!(challenge_param(ch, "qop").as_deref(), Some("auth"));
        assert_eq!(challenge_param(ch, "opaque"), None);
        assert_eq!(challenge_param("Basic realm=\"x\"", "realm"), None);
    }

    #[test]
    fn granted_expiry_from_our_contact() {
        let local: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let text = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bK-1\r\n\
                    From: <sip:op1@127.0.0.1>;tag=a\r\nTo: <sip:op1@127.0.0.1>;tag=b\r\n\
                    Call-ID: r@x\r\nCSeq: 2 REGISTER\r\n\
                    Contact: <sip:op1@127.0.0.1:39999>;expires=50, <sip:op1@127.0.0.1:40000>;expires=120\r\n\
                    Expires: 600\r\nContent-Length: 0\r\n\r\n";
        let msg = SipMessage::parse(Bytes::from(text), false).unwrap();
        assert_eq!(granted_expires(&msg, &local), Some(120));
    }
}
