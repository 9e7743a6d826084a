//! Booking emails: rendering (text and HTML from templates, times in the recipient's
//! zone, the `.ics` part) and sending (SMTP, or `.eml` files in a spool folder).
//!
//! A message is `multipart/mixed`: a `multipart/alternative` of `text/plain` and
//! `text/html`, then `invite.ics` as `text/calendar; method=REQUEST|CANCEL`. Its
//! `Message-ID` is derived from the outbox job id, so a message sent twice (the
//! at-least-once case) is recognisably the same message.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use lettre::message::header::{ContentDisposition, ContentType};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use minijinja::Environment;

use crate::ics::{self, Method};
use crate::payload::{BookingEvent, BookingSnapshot, EmailPayload, Role};
use crate::{Error, Result};

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // The `.html` name turns HTML auto-escaping on for that template only.
    env.add_template("email.txt", include_str!("../templates/email.txt")).expect("email.txt parses");
    env.add_template("email.html", include_str!("../templates/email.html")).expect("email.html parses");
    env
});

/// A message ready to be wrapped in MIME.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The subject line.
    pub subject: String,
    /// The `text/plain` part.
    pub text: String,
    /// The `text/html` part.
    pub html: String,
    /// The `.ics` attachment.
    pub ics: String,
    /// Its iTIP method.
    pub method: Method,
}

fn zone(name: &str) -> Result<Tz> {
    name.parse().map_err(|_| Error::Invalid(format!("unknown time zone {name:?}")))
}

/// `Monday, 4 March 2030, 09:00–09:30 CET` in `zone`.
pub fn when(start: DateTime<Utc>, end: DateTime<Utc>, zone: Tz) -> String {
    let (s, e) = (start.with_timezone(&zone), end.with_timezone(&zone));
    if s.date_naive() == e.date_naive() {
        format!("{}–{} {}", s.format("%A, %-d %B %Y, %H:%M"), e.format("%H:%M"), e.format("%Z"))
    } else {
        format!("{} – {}", s.format("%A, %-d %B %Y, %H:%M %Z"), e.format("%A, %-d %B %Y, %H:%M %Z"))
    }
}

/// Renders one booking email. `organizer` is the sender's address (the invitation's
/// `ORGANIZER`).
pub fn render(event: BookingEvent, payload: &EmailPayload, organizer: &str) -> Result<Rendered> {
    let booking: &BookingSnapshot =
        payload.booking.as_ref().ok_or_else(|| Error::Invalid("the payload has no booking snapshot".into()))?;
    let tz = zone(&payload.timezone)?;
    let short = booking.start.with_timezone(&tz).format("%a %-d %b %Y %H:%M %Z");
    let subject = match event {
        BookingEvent::Created => format!("Booking confirmed: {} on {short}", payload.service_name),
        BookingEvent::Rescheduled => format!("Booking moved: {} now on {short}", payload.service_name),
        BookingEvent::Cancelled => format!("Booking cancelled: {} on {short}", payload.service_name),
    };
    let context = minijinja::context! {
        subject => subject,
        event => event.as_str(),
        role => match payload.role { Role::Customer => "customer", Role::Employee => "employee" },
        recipient_name => payload.recipient_name,
        business_name => payload.business_name,
        service_name => payload.service_name,
        employee_name => payload.employee_name,
        customer_name => booking.customer.name,
        when => when(booking.start, booking.end, tz),
        timezone => payload.timezone,
        cancel_reason => booking.cancel_reason,
        booking_id => booking.id,
    };
    let render = |name: &'static str| {
        TEMPLATES.get_template(name).and_then(|t| t.render(&context)).map_err(|source| Error::Template { name, source })
    };
    let method = Method::for_event(event);
    Ok(Rendered {
        text: render("email.txt")?,
        html: render("email.html")?,
        ics: ics::invitation(payload, booking, method, organizer),
        subject,
        method,
    })
}

/// Wraps a rendered message in MIME for `to`, with a `Message-ID` derived from `job_id`.
pub fn message(job_id: &str, from: &Mailbox, to: &str, rendered: &Rendered) -> Result<Message> {
    let to: Mailbox = to.parse().map_err(|e| Error::Email(format!("recipient {to:?}: {e}")))?;
    let calendar_type =
        ContentType::parse(&format!("text/calendar; charset=utf-8; method={}", rendered.method.as_str()))
            .map_err(|e| Error::Email(e.to_string()))?;
    Message::builder()
        .message_id(Some(format!("<{job_id}@slotwise>")))
        .from(from.clone())
        .to(to)
        .subject(rendered.subject.clone())
        .multipart(
            MultiPart::mixed()
                .multipart(MultiPart::alternative_plain_html(rendered.text.clone(), rendered.html.clone()))
                .singlepart(
                    SinglePart::builder()
                        .header(calendar_type)
                        .header(ContentDisposition::attachment("invite.ics"))
                        .body(rendered.ics.clone()),
                ),
        )
        .map_err(|e| Error::Email(e.to_string()))
}

/// Where messages go.
#[derive(Clone)]
pub enum Mailer {
    /// An SMTP server (`SMTP_URL`).
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// `<folder>/<job id>.eml` files (no `SMTP_URL`; the demo's default).
    Spool(PathBuf),
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The transport holds the SMTP credentials: never print it.
        match self {
            Self::Smtp(_) => f.write_str("Mailer::Smtp(..)"),
            Self::Spool(path) => f.debug_tuple("Mailer::Spool").field(path).finish(),
        }
    }
}

impl Mailer {
    /// SMTP when `smtp_url` is given (`smtp://host:port` plain or with
    /// `?tls=required` for STARTTLS, `smtps://` for implicit TLS, `user:pass@` for
    /// auth — lettre's URL syntax), else the spool folder.
    pub fn new(smtp_url: Option<&str>, spool: &Path) -> Result<Self> {
        match smtp_url {
            Some(url) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| Error::SmtpUrl(e.to_string()))?
                    .timeout(Some(std::time::Duration::from_secs(20)))
                    .build();
                Ok(Self::Smtp(transport))
            }
            None => Ok(Self::Spool(spool.to_owned())),
        }
    }

    /// Sends `message` (the spool file is named after `job_id`, so a repeat overwrites).
    pub async fn send(&self, job_id: &str, message: &Message) -> Result<()> {
        match self {
            Self::Smtp(transport) => {
                transport.send(message.clone()).await?;
                Ok(())
            }
            Self::Spool(dir) => {
                let io = |path: &Path| {
                    let path = path.to_owned();
                    move |source| Error::Spool { path, source }
                };
                tokio::fs::create_dir_all(dir).await.map_err(io(dir))?;
                let file = dir.join(format!("{job_id}.eml"));
                let partial = dir.join(format!(".{job_id}.eml.partial"));
                tokio::fs::write(&partial, message.formatted()).await.map_err(io(&partial))?;
                // Readers of the folder never see half a message.
                tokio::fs::rename(&partial, &file).await.map_err(io(&file))?;
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::SnapshotCustomer;

    fn payload(role: Role, zone: &str, cancel_reason: Option<&str>) -> EmailPayload {
        EmailPayload {
            role,
            recipient_name: "Cleo <admin>".into(),
            timezone: zone.into(),
            business_name: "Salon".into(),
            service_name: "Haircut".into(),
            employee_name: "Anna".into(),
            employee_email: "anna@example.com".into(),
            booking: Some(BookingSnapshot {
                id: "b1".into(),
                status: "confirmed".into(),
                employee_id: "e1".into(),
                start: "2030-03-31T00:30:00Z".parse().unwrap(),
                end: "2030-03-31T01:30:00Z".parse().unwrap(),
                sequence: 2,
                customer: SnapshotCustomer {
                    name: "Cleo".into(),
                    email: "cleo@example.com".into(),
                    timezone: Some(zone.into()),
                },
                cancel_reason: cancel_reason.map(str::to_owned),
                updated_at: "2030-03-01T00:00:00Z".parse().unwrap(),
            }),
        }
    }

    #[test]
    fn times_are_in_the_recipients_zone_across_a_dst_change() {
        // Berlin springs forward at 01:00 UTC on 2030-03-31: 01:30 CET becomes 03:30 CEST.
        let start = "2030-03-31T00:30:00Z".parse().unwrap();
        let end = "2030-03-31T01:30:00Z".parse().unwrap();
        assert_eq!(when(start, end, chrono_tz::Europe::Berlin), "Sunday, 31 March 2030, 01:30–03:30 CEST");
        assert_eq!(when(start, end, chrono_tz::America::New_York), "Saturday, 30 March 2030, 20:30–21:30 EDT");
    }

    #[test]
    fn text_and_html_parts_escape_only_html() {
        let r = render(BookingEvent::Cancelled, &payload(Role::Customer, "Europe/Berlin", Some("ill & <away>")), "n@x")
            .unwrap();
        assert!(r.subject.starts_with("Booking cancelled: Haircut on Sun 31 Mar 2030 01:30 CET"), "{}", r.subject);
        assert!(r.text.contains("Hello Cleo <admin>,") && r.text.contains("ill & <away>"), "{}", r.text);
        assert!(r.html.contains("Cleo &lt;admin&gt;") && r.html.contains("ill &amp; &lt;away&gt;"), "{}", r.html);
        assert!(r.text.contains("is cancelled"));
        assert_eq!(r.method, Method::Cancel);
        assert!(r.ics.contains("METHOD:CANCEL") && r.ics.contains("STATUS:CANCELLED"), "{}", r.ics);
        assert!(r.ics.contains("SEQUENCE:2") && r.ics.contains("UID:booking-b1@slotwise"), "{}", r.ics);
        assert!(r.ics.contains("DTSTART:20300331T003000Z"), "{}", r.ics);
    }

    #[test]
    fn messages_have_both_parts_and_the_invitation() {
        let r = render(BookingEvent::Created, &payload(Role::Employee, "Europe/Berlin", None), "n@x").unwrap();
        let from: Mailbox = "slotwise <n@x.example>".parse().unwrap();
        let m = message("job-1", &from, "anna@example.com", &r).unwrap();
        let text = String::from_utf8(m.formatted()).unwrap();
        assert!(text.contains("Message-ID: <job-1@slotwise>"), "{text}");
        for part in ["text/plain", "text/html", "text/calendar; charset=utf-8; method=REQUEST", "invite.ics"] {
            assert!(text.contains(part), "{part} missing in {text}");
        }
        assert!(r.text.contains("you have a new booking: Cleo booked Haircut"), "{}", r.text);
    }
}
