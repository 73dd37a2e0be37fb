//! Redaction of personal data (phone numbers, codici fiscali) before it reaches a log.

use std::fmt;

/// Displays a phone number, SIP URI or codice fiscale with its identifying characters
/// masked. For a SIP/tel URI only the user part is masked; the last two characters of
/// the masked part stay visible so that operators can still tell calls apart.
pub struct Redacted<'a>(pub &'a str);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        // `sip:USER@host`, `<sip:USER@host>`, `tel:USER`: mask USER only.
        let (before, user, after) = match s.find(':') {
            Some(colon)
                if s[..colon].ends_with("sip")
                    || s[..colon].ends_with("sips")
                    || s[..colon].ends_with("tel") =>
            {
                let rest = &s[colon + 1..];
                let end = rest.find(['@', ';', '>']).unwrap_or(rest.len());
                (&s[..=colon], &rest[..end], &rest[end..])
            }
            _ => ("", s, ""),
        };
        f.write_str(before)?;
        let keep_from = user.chars().count().saturating_sub(2);
        for (i, c) in user.chars().enumerate() {
            if i < keep_from && c.is_ascii_alphanumeric() {
                f.write_str("*")?;
            } else {
                write!(f, "{c}")?;
            }
        }
        f.write_str(after)
    }
}

#[cfg(test)]
mod tests {
    use super::Redacted;

    #[test]
    fn masks_numbers_and_uri_users() {
        assert_eq!(Redacted("+393331234567").to_string(), "+**********67");
        assert_eq!(
            Redacted("\"Mario\" <sip:3331234567@10.0.0.1:5060>;tag=x").to_string(),
            "\"Mario\" <sip:********67@10.0.0.1:5060>;tag=x"
        );
        assert_eq!(Redacted("tel:+3906123").to_string(), "tel:+*****23");
        assert_eq!(Redacted("RSSMRA80A01H501U").to_string(), "**************1U");
    }
}
