//! Outgoing mail (issue 20, item 2): the operator's SMTP server, from `--smtp-url` and `--smtp-from`.
//!
//! - `smtp://host[:port]` to loopback: plain (a local relay, the tests' sink).
//! - `smtp://[user:pass@]host[:port]` to any other host: STARTTLS required (a server that does not offer it is
//!   not sent to); `?tls=none` opts out for a relay on the operator's own network, and then carries no
//!   credentials.
//! - `smtps://[user:pass@]host[:port]`: TLS from the first byte (port 465 by default).
//!
//! The password is kept out of every `Debug`, `Display`, error and log: [`SmtpServer`] shows `***` in its
//! place, and a malformed URL is refused with a fixed message that quotes none of it.

use std::time::Duration;

use zeroize::Zeroizing;

/// How the connection to the mail server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text: loopback, or a relay the operator named with `?tls=none`.
    None,
    /// Plain first, then STARTTLS, which the server must offer.
    StartTls,
    /// TLS from the first byte (`smtps://`).
    Implicit,
}

/// The operator's mail server.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpServer {
    pub tls: SmtpTls,
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    password: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for SmtpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpServer")
            .field("tls", &self.tls)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

/// `smtp://user:***@host:port`, for the start-up log.
impl std::fmt::Display for SmtpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = match self.tls {
            SmtpTls::Implicit => "smtps",
            _ => "smtp",
        };
        write!(f, "{scheme}://")?;
        if let Some(u) = &self.user {
            write!(f, "{u}")?;
            if self.password.is_some() {
                write!(f, ":***")?;
            }
            write!(f, "@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)?;
        } else {
            write!(f, "{}:{}", self.host, self.port)?;
        }
        if self.tls == SmtpTls::None && !is_loopback(&self.host) {
            write!(f, "?tls=none")?;
        }
        Ok(())
    }
}

/// Why an SMTP URL or From address was refused; the messages quote nothing of what was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailConfigError {
    #[error("the SMTP URL is smtp://[user:password@]host[:port] or smtps://…")]
    Malformed,
    #[error("the SMTP URL's only option is ?tls=none, on smtp://")]
    UnknownOption,
    #[error(
        "credentials are sent only over TLS (smtps://, or smtp:// with STARTTLS) or to loopback"
    )]
    CredentialsInClear,
    #[error("the From address (--smtp-from) is name@example.com or \"Name <name@example.com>\"")]
    BadFrom,
    #[error("--smtp-url needs --smtp-from (the address transcripts are sent from)")]
    NoFrom,
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `%XX` decoding of the user and password (a password may hold `@`, `:` or `/` written so).
fn percent_decode(s: &str) -> Result<String, MailConfigError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or(MailConfigError::Malformed)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| MailConfigError::Malformed)?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| MailConfigError::Malformed)
}

impl SmtpServer {
    pub fn parse(url: &str) -> Result<SmtpServer, MailConfigError> {
        let url = url.trim();
        let (implicit, rest) = if let Some(r) = url.strip_prefix("smtps://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("smtp://") {
            (false, r)
        } else {
            return Err(MailConfigError::Malformed);
        };
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') || rest.chars().any(|c| c.is_control() || c == ' ') {
            return Err(MailConfigError::Malformed);
        }
        let no_tls = match query {
            None | Some("") => false,
            Some("tls=none") if !implicit => true,
            Some(_) => return Err(MailConfigError::UnknownOption),
        };
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(u) => {
                let (name, pass) = match u.split_once(':') {
                    Some((n, p)) => (n, Some(p)),
                    None => (u, None),
                };
                let name = percent_decode(name)?;
                if name.is_empty() {
                    return Err(MailConfigError::Malformed);
                }
                let pass = pass.map(percent_decode).transpose()?.map(Zeroizing::new);
                (Some(name), pass)
            }
        };
        let default_port = if implicit { 465 } else { 25 };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or(MailConfigError::Malformed)?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| MailConfigError::Malformed)?,
                None if after.is_empty() => default_port,
                None => return Err(MailConfigError::Malformed),
            };
            (h.to_string(), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_string(),
                    p.parse().map_err(|_| MailConfigError::Malformed)?,
                ),
                None => (hostport.to_string(), default_port),
            }
        };
        if host.is_empty() || port == 0 {
            return Err(MailConfigError::Malformed);
        }
        let host = host.to_ascii_lowercase();
        let tls = if implicit {
            SmtpTls::Implicit
        } else if no_tls || is_loopback(&host) {
            SmtpTls::None
        } else {
            SmtpTls::StartTls
        };
        if tls == SmtpTls::None && user.is_some() && !is_loopback(&host) {
            return Err(MailConfigError::CredentialsInClear);
        }
        Ok(SmtpServer {
            tls,
            host,
            port,
            user,
            password,
        })
    }

    /// The user and password to authenticate with, if the URL had them.
    pub(crate) fn credentials(&self) -> Option<(String, String)> {
        let user = self.user.clone()?;
        let pass = self
            .password
            .as_ref()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default();
        Some((user, pass))
    }
}

/// How transcripts are mailed (the operator's configuration). No server: none are queued or sent.
#[derive(Debug, Clone)]
pub struct MailSettings {
    pub smtp: Option<SmtpServer>,
    /// The From address, checked at start-up (`name@example.com` or `Name <name@example.com>`).
    pub from: Option<String>,
    /// Attempts before a transcript is given up (a permanent refusal gives up at once).
    pub max_attempts: u32,
    /// Wait after the first failure; each later one waits four times longer, at most an hour.
    pub first_retry: Duration,
    /// One SMTP conversation's timeout.
    pub timeout: Duration,
}

impl Default for MailSettings {
    fn default() -> Self {
        MailSettings {
            smtp: None,
            from: None,
            max_attempts: 5,
            first_retry: Duration::from_secs(30),
            timeout: Duration::from_secs(30),
        }
    }
}

impl MailSettings {
    /// Settings from `--smtp-url` and `--smtp-from`: both, or neither.
    pub fn configure(
        &mut self,
        url: Option<&str>,
        from: Option<&str>,
    ) -> Result<(), MailConfigError> {
        let url = url.map(str::trim).filter(|u| !u.is_empty());
        let from = from.map(str::trim).filter(|f| !f.is_empty());
        let Some(url) = url else {
            self.smtp = None;
            self.from = None;
            return Ok(());
        };
        let smtp = SmtpServer::parse(url)?;
        let from = from.ok_or(MailConfigError::NoFrom)?;
        if from.parse::<lettre::message::Mailbox>().is_err() || !cordon_card::find(from).is_empty()
        {
            return Err(MailConfigError::BadFrom);
        }
        self.smtp = Some(smtp);
        self.from = Some(from.to_string());
        Ok(())
    }

    /// Is outgoing mail configured (transcripts are queued when a chat closes)?
    pub fn enabled(&self) -> bool {
        self.smtp.is_some() && self.from.is_some()
    }

    /// Wait before attempt n + 1 after n failures: first_retry × 4^(n-1), at most an hour.
    pub fn backoff(&self, failures: u32) -> Duration {
        let factor = 4u32.saturating_pow(failures.max(1) - 1);
        self.first_retry
            .saturating_mul(factor)
            .min(Duration::from_secs(3600))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_choose_the_protection() {
        let s = SmtpServer::parse("smtp://127.0.0.1:2525").unwrap();
        assert_eq!(
            (s.tls, s.host.as_str(), s.port, s.user.clone()),
            (SmtpTls::None, "127.0.0.1", 2525, None)
        );
        let s = SmtpServer::parse("smtp://ana:s%40cret@Mail.Example.com:587").unwrap();
        assert_eq!(
            (s.tls, s.host.as_str(), s.port),
            (SmtpTls::StartTls, "mail.example.com", 587)
        );
        assert_eq!(
            s.credentials(),
            Some(("ana".to_string(), "s@cret".to_string()))
        );
        let s = SmtpServer::parse("smtps://mail.example.com").unwrap();
        assert_eq!((s.tls, s.port), (SmtpTls::Implicit, 465));
        let s = SmtpServer::parse("smtp://relay.internal:25?tls=none").unwrap();
        assert_eq!(s.tls, SmtpTls::None);
        assert_eq!(s.to_string(), "smtp://relay.internal:25?tls=none");
        assert_eq!(SmtpServer::parse("smtp://[::1]:2525").unwrap().host, "::1");
        for bad in [
            "http://mail.example.com",
            "smtp://",
            "smtp://host:99999",
            "smtp://host/path",
            "smtps://host?tls=none",
            "smtp://host?verify=no",
            "smtp://:pw@host",
            "smtp://a b@host",
        ] {
            assert!(SmtpServer::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            SmtpServer::parse("smtp://ana:pw@relay.internal?tls=none"),
            Err(MailConfigError::CredentialsInClear)
        );
    }

    #[test]
    fn the_password_is_never_shown() {
        let secret = "hunter2-Sup3rSecret";
        let url = format!("smtp://ana:{secret}@mail.example.com:587");
        let s = SmtpServer::parse(&url).unwrap();
        let mut m = MailSettings::default();
        m.configure(Some(&url), Some("Support <support@example.com>"))
            .unwrap();
        for shown in [
            format!("{s:?}"),
            s.to_string(),
            format!("{m:?}"),
            format!("{m:#?}"),
        ] {
            assert!(!shown.contains(secret), "{shown}");
            assert!(!shown.contains("hunter2"), "{shown}");
        }
        assert_eq!(s.to_string(), "smtp://ana:***@mail.example.com:587");
        // A malformed URL's error quotes none of it.
        let bad = format!("smtp://ana:{secret}@host:notaport");
        let e = SmtpServer::parse(&bad).unwrap_err();
        assert!(!e.to_string().contains(secret), "{e}");
        assert!(!format!("{e:?}").contains(secret));
    }

    #[test]
    fn from_is_required_and_checked() {
        let mut m = MailSettings::default();
        assert_eq!(
            m.configure(Some("smtp://127.0.0.1:2525"), None),
            Err(MailConfigError::NoFrom)
        );
        assert_eq!(
            m.configure(Some("smtp://127.0.0.1:2525"), Some("not an address")),
            Err(MailConfigError::BadFrom)
        );
        assert!(m
            .configure(Some("smtp://127.0.0.1:2525"), Some("chat@example.com"))
            .is_ok());
        assert!(m.enabled());
        m.configure(None, Some("chat@example.com")).unwrap();
        assert!(!m.enabled());
    }

    #[test]
    fn backoff_grows_to_an_hour() {
        let m = MailSettings::default();
        assert_eq!(m.backoff(1), Duration::from_secs(30));
        assert_eq!(m.backoff(2), Duration::from_secs(120));
        assert_eq!(m.backoff(3), Duration::from_secs(480));
        assert_eq!(m.backoff(9), Duration::from_secs(3600));
    }
}
