//! The SMTP URL: `smtp://`, `smtp://...?tls=required|opportunistic`, `smtps://`, with
//! optional `USER:PASSWORD@` and an optional path naming the EHLO host (lettre's form).

use std::borrow::Cow;
use std::fmt;

use url::{Host, Url};

use crate::SmtpConfigError;

/// How the connection to the SMTP server is protected, chosen by the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Security {
    /// `smtp://HOST[:PORT]`: no encryption at all (port 25 by default). For a relay on the same
    /// machine or a test server; credentials and messages travel in clear text.
    Plain,
    /// `smtp://HOST[:PORT]?tls=required`: STARTTLS, and a server that does not offer it fails
    /// the delivery (port 587 by default).
    StartTls,
    /// `smtp://HOST[:PORT]?tls=opportunistic`: STARTTLS when the server offers it, clear text
    /// otherwise (port 587 by default). An attacker on the path can strip the offer, so prefer
    /// [`Security::StartTls`].
    OpportunisticStartTls,
    /// `smtps://HOST[:PORT]`: TLS from the first byte, also called implicit TLS or submissions
    /// (port 465 by default).
    ImplicitTls,
}

impl Security {
    /// The port used when the URL names none.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Plain => 25,
            Self::StartTls | Self::OpportunisticStartTls => 587,
            Self::ImplicitTls => 465,
        }
    }

    /// Whether a TLS session is certain to protect the SMTP conversation (including AUTH).
    pub fn is_encrypted(self) -> bool {
        matches!(self, Self::StartTls | Self::ImplicitTls)
    }
}

impl fmt::Display for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Plain => "plain",
            Self::StartTls => "STARTTLS",
            Self::OpportunisticStartTls => "opportunistic STARTTLS",
            Self::ImplicitTls => "implicit TLS",
        })
    }
}

/// The parts of a parsed SMTP URL.
pub(crate) struct Endpoint {
    /// Host name or IP address, without the brackets of an IPv6 literal: what is connected to
    /// and what the server certificate must name.
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) security: Security,
    /// Percent-decoded `(user, password)`.
    pub(crate) credentials: Option<(String, String)>,
    /// The URL's path without slashes, when there is one: the name sent in EHLO.
    pub(crate) hello_name: Option<String>,
}

impl Endpoint {
    pub(crate) fn parse(raw: &str) -> Result<Self, SmtpConfigError> {
        // url's messages never quote the input, which may hold a password.
        let url = Url::parse(raw).map_err(|e| SmtpConfigError::Url(e.to_string()))?;
        let mut tls: Option<String> = None;
        for (key, value) in url.query_pairs() {
            if key != "tls" {
                // Refused rather than ignored: a misspelt `tsl=required` must not quietly
                // send in clear text.
                return Err(SmtpConfigError::UnknownParameter(key.into_owned()));
            }
            // Refused rather than last-one-wins: `?tls=required&tls=opportunistic` is
            // ambiguous, and whoever reads one of its values (a warning about clear text)
            // would disagree with whoever reads the other.
            if tls.replace(value.into_owned()).is_some() {
                return Err(SmtpConfigError::RepeatedParameter(key.into_owned()));
            }
        }
        let security = match (url.scheme(), tls.as_deref()) {
            ("smtp", None) => Security::Plain,
            ("smtp", Some("required")) => Security::StartTls,
            ("smtp", Some("opportunistic")) => Security::OpportunisticStartTls,
            // TLS is always on with smtps; `tls=required` says nothing more.
            ("smtps", None | Some("required")) => Security::ImplicitTls,
            ("smtp" | "smtps", Some(other)) => {
                return Err(SmtpConfigError::TlsParameter(other.to_owned()));
            }
            (scheme, _) => return Err(SmtpConfigError::Scheme(scheme.to_owned())),
        };
        let host = match url.host() {
            Some(Host::Domain("")) | None => return Err(SmtpConfigError::NoHost),
            Some(Host::Domain(domain)) => domain.to_owned(),
            Some(Host::Ipv4(ip)) => ip.to_string(),
            Some(Host::Ipv6(ip)) => ip.to_string(),
        };
        let credentials = match url.password() {
            Some(password) => Some((decode(url.username())?, decode(password)?)),
            None if !url.username().is_empty() => return Err(SmtpConfigError::MissingPassword),
            None => None,
        };
        let path = url.path().trim_matches('/');
        Ok(Self {
            host,
            port: url.port().unwrap_or_else(|| security.default_port()),
            security,
            credentials,
            hello_name: (!path.is_empty()).then(|| path.to_owned()),
        })
    }
}

fn decode(part: &str) -> Result<String, SmtpConfigError> {
    percent_encoding::percent_decode_str(part)
        .decode_utf8()
        .map(Cow::into_owned)
        .map_err(|_| SmtpConfigError::CredentialsEncoding)
}

/// `raw` with its password replaced by `***`, for Debug output; `[unparsable URL]` when it
/// does not parse (where its password would be cannot be known).
pub(crate) fn redact(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) => {
            if url.password().is_some() && url.set_password(Some("***")).is_err() {
                return "[unparsable URL]".to_owned();
            }
            url.to_string()
        }
        Err(_) => "[unparsable URL]".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn parse(raw: &str) -> Endpoint {
        Endpoint::parse(raw).unwrap()
    }

    #[test]
    fn schemes_and_tls_parameters_select_the_security_and_default_port() {
        for (raw, security, port) in [
            ("smtp://mail.example.com", Security::Plain, 25),
            ("smtp://mail.example.com:2525", Security::Plain, 2525),
            (
                "smtp://mail.example.com?tls=required",
                Security::StartTls,
                587,
            ),
            (
                "smtp://mail.example.com?tls=opportunistic",
                Security::OpportunisticStartTls,
                587,
            ),
            ("smtps://mail.example.com", Security::ImplicitTls, 465),
            ("smtps://mail.example.com:1465", Security::ImplicitTls, 1465),
        ] {
            let e = parse(raw);
            assert_eq!((e.security, e.port), (security, port), "{raw}");
            assert_eq!(e.host, "mail.example.com");
            assert!(e.credentials.is_none());
        }
    }

    #[test]
    fn credentials_are_percent_decoded() {
        let e = parse("smtps://me%40x.org:p%40ss%3Aw%2Frd@mail.x.org");
        assert_eq!(
            e.credentials,
            Some(("me@x.org".to_owned(), "p@ss:w/rd".to_owned()))
        );
    }

    #[test]
    fn ip_literals_and_the_hello_name() {
        let e = parse("smtp://[::1]:2525/client.example.com");
        assert_eq!(e.host, "::1");
        assert_eq!(e.hello_name.as_deref(), Some("client.example.com"));
        assert_eq!(parse("smtp://127.0.0.1:25/").hello_name, None);
    }

    #[test]
    fn refuses_what_it_cannot_honour() {
        for bad in [
            "http://mail.example.com",
            "smtp://",
            "smtp://mail.example.com?tls=yes",
            "smtp://mail.example.com?tsl=required",
            "smtp://mail.example.com?tls=required&tls=opportunistic",
            "smtp://mail.example.com?tls=required&tls=required",
            "smtps://mail.example.com?tls=required&tls=required",
            "smtps://mail.example.com?tls=opportunistic",
            "smtp://user@mail.example.com",
            "smtp://u:%FF@mail.example.com",
            "mail.example.com:25",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn errors_and_redaction_never_show_the_password() {
        for raw in [
            "smtp://u:hunter22@mail.example.com?tls=nope",
            "smtp://u:hunter22@mail.example.com:99999",
            "smtp://u:hunter22@mail.example.com?x=1",
        ] {
            let err = Endpoint::parse(raw).err().unwrap().to_string();
            assert!(!err.contains("hunter22"), "{err}");
            assert!(!redact(raw).contains("hunter22"), "{}", redact(raw));
        }
        assert_eq!(
            redact("smtp://u:hunter22@h:25?tls=required"),
            "smtp://u:***@h:25?tls=required"
        );
    }
}
