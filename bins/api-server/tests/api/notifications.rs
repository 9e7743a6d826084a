//! Booking emails end to end: booking changes over HTTP, the notification worker, and a
//! real SMTP server (Python `aiosmtpd`, started here) that receives the messages and
//! parses their invitations with Python `icalendar`.
//!
//! Without `python3 -m pip install aiosmtpd icalendar` these tests print a skip message,
//! except with `CI=true`, where they fail.

use std::io::{BufRead as _, Write as _};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{TestApp, immediate_retries, on_both, worker};

/// The SMTP sink process (killed on drop) and the folder it writes messages to.
struct SmtpSink {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the sink, or returns `None` (after printing why) when Python or its modules
/// are missing outside CI.
fn smtp_sink(test: &str) -> Option<SmtpSink> {
    let probe = Command::new("python3").args(["-c", "import aiosmtpd, icalendar"]).output();
    if !matches!(&probe, Ok(o) if o.status.success()) {
        let why = "python3 with the aiosmtpd and icalendar modules is required \
                   (python3 -m pip install aiosmtpd icalendar)";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{test}: {why}, and CI=true");
        let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp_sink.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start python3");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port = line.trim().parse().unwrap_or_else(|_| panic!("the SMTP sink printed {line:?}, not its port"));
    Some(SmtpSink { child, port, dir })
}

impl SmtpSink {
    /// The messages received so far, in arrival order.
    fn messages(&self) -> Vec<Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files.iter().map(|f| serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap()).collect()
    }

    /// Waits (polling, with a deadline) until `n` messages have arrived.
    async fn wait_for(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.messages();
            if got.len() >= n || Instant::now() > deadline {
                assert_eq!(got.len(), n, "messages received: {got:#?}");
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The leaf part of `message` with this content type.
fn part<'a>(message: &'a Value, content_type: &str) -> &'a Value {
    message["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["content_type"] == content_type)
        .unwrap_or_else(|| panic!("no {content_type} part in {message:#}"))
}

on_both!(booking_emails_carry_invitations_that_follow_the_booking);
async fn booking_emails_carry_invitations_that_follow_the_booking(app: TestApp) {
    let Some(sink) = smtp_sink("booking_emails_carry_invitations_that_follow_the_booking") else { return };
    let key = app.tenant("Salon").await;
    let salon = app.salon(&key).await;
    let anna = &salon.employees[0];
    let booking = app
        .post(
            "/api/bookings",
            &key,
            json!({"service_id": salon.service, "start": "2030-03-04T09:00:00+01:00", "employee_id": anna,
                   "customer": {"name": "Cleo", "email": "cleo@example.com", "timezone": "America/New_York"}}),
        )
        .await
        .expect(201);
    let id = booking["id"].as_str().unwrap().to_owned();
    // Four weeks later, across both zones' DST change (New York 2030-03-10, Berlin 2030-03-31).
    app.post(&format!("/api/bookings/{id}/reschedule"), &key, json!({"start": "2030-04-01T09:00:00+02:00"}))
        .await
        .expect(200);
    app.post(&format!("/api/bookings/{id}/cancel"), &key, json!({"reason": "ill"})).await.expect(200);

    let spool = tempfile::tempdir().unwrap();
    let smtp = format!("smtp://127.0.0.1:{}", sink.port);
    let worker = worker(Some(&smtp), spool.path(), false, immediate_retries(3));
    assert_eq!(worker.run_once(&app.db.store).await.unwrap(), 6, "two emails per change");
    assert_eq!(worker.run_once(&app.db.store).await.unwrap(), 0, "nothing left to send");
    let messages = sink.wait_for(6).await;

    let uid = format!("booking-{id}@slotwise");
    // (recipient, sequence, method, UTC start, subject, when in the recipient's zone)
    let expected = [
        (
            "cleo@example.com",
            0,
            "REQUEST",
            "2030-03-04T08:00:00+00:00",
            "Booking confirmed: Haircut on Mon 4 Mar 2030 03:00 EST",
            "Monday, 4 March 2030, 03:00–03:30 EST",
        ),
        (
            "anna@example.com",
            0,
            "REQUEST",
            "2030-03-04T08:00:00+00:00",
            "Booking confirmed: Haircut on Mon 4 Mar 2030 09:00 CET",
            "Monday, 4 March 2030, 09:00–09:30 CET",
        ),
        (
            "cleo@example.com",
            1,
            "REQUEST",
            "2030-04-01T07:00:00+00:00",
            "Booking moved: Haircut now on Mon 1 Apr 2030 03:00 EDT",
            "Monday, 1 April 2030, 03:00–03:30 EDT",
        ),
        (
            "anna@example.com",
            1,
            "REQUEST",
            "2030-04-01T07:00:00+00:00",
            "Booking moved: Haircut now on Mon 1 Apr 2030 09:00 CEST",
            "Monday, 1 April 2030, 09:00–09:30 CEST",
        ),
        (
            "cleo@example.com",
            2,
            "CANCEL",
            "2030-04-01T07:00:00+00:00",
            "Booking cancelled: Haircut on Mon 1 Apr 2030 03:00 EDT",
            "Monday, 1 April 2030, 03:00–03:30 EDT",
        ),
        (
            "anna@example.com",
            2,
            "CANCEL",
            "2030-04-01T07:00:00+00:00",
            "Booking cancelled: Haircut on Mon 1 Apr 2030 09:00 CEST",
            "Monday, 1 April 2030, 09:00–09:30 CEST",
        ),
    ];
    let mut message_ids = Vec::new();
    for (recipient, sequence, method, start, subject, when) in expected {
        let m = messages
            .iter()
            .find(|m| m["rcpt_tos"] == json!([recipient]) && part(m, "text/calendar")["parsed"]["sequence"] == sequence)
            .unwrap_or_else(|| panic!("no message to {recipient} with SEQUENCE {sequence} in {messages:#?}"));
        assert!(m.get("error").is_none(), "the sink could not read a message: {m:#}");
        assert_eq!(m["mail_from"], "bookings@salon.example");
        assert_eq!(m["subject"], subject);
        assert_eq!(m["content_type"], "multipart/mixed");
        message_ids.push(m["message_id"].as_str().unwrap().to_owned());

        let text = part(m, "text/plain")["body"].as_str().unwrap();
        let html = part(m, "text/html")["body"].as_str().unwrap();
        for body in [text, html] {
            assert!(body.contains(when), "{when:?} missing in {body}");
            assert!(body.contains("Haircut with anna") && body.contains(&id), "{body}");
        }
        assert!(html.contains("<table>"), "{html}");
        if method == "CANCEL" {
            assert!(text.contains("Why:   ill") && text.contains("is cancelled"), "{text}");
        }

        let calendar = part(m, "text/calendar");
        assert_eq!(calendar["params"]["method"], method);
        assert_eq!(calendar["filename"], "invite.ics");
        let ics = &calendar["parsed"];
        assert_eq!(ics["version"], "2.0");
        assert_eq!(ics["method"], method);
        assert_eq!(ics["events"], 1);
        assert_eq!(ics["uid"], json!(uid), "one UID per booking");
        assert_eq!(ics["dtstart"], start);
        assert_eq!(ics["status"], if method == "CANCEL" { "CANCELLED" } else { "CONFIRMED" });
        assert_eq!(ics["organizer"], "mailto:bookings@salon.example");
        let raw = calendar["body"].as_str().unwrap();
        assert!(raw.contains(&format!("DTSTART:{}", start.replace(['-', ':'], "").replace("+0000", "Z"))), "{raw}");
    }
    message_ids.sort();
    message_ids.dedup();
    assert_eq!(message_ids.len(), 6, "each message has its own Message-ID");
}

on_both!(without_smtp_url_messages_land_in_the_spool);
async fn without_smtp_url_messages_land_in_the_spool(app: TestApp) {
    let key = app.tenant("Salon").await;
    let salon = app.salon(&key).await;
    let booking = app.book(&key, &salon, "2030-03-04T10:00:00+01:00", None).await.expect(201);
    let spool = tempfile::tempdir().unwrap();
    let worker = worker(None, spool.path(), false, immediate_retries(3));
    assert_eq!(worker.run_once(&app.db.store).await.unwrap(), 2);
    let mut files: Vec<String> =
        std::fs::read_dir(spool.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    let jobs = app
        .db
        .store
        .queue(store::QueueKind::Notifications)
        .list(&app.db.store.tenant_by_api_key(&crate::helpers::secret(&key)).await.unwrap().unwrap().id, None, 10)
        .await
        .unwrap();
    for job in &jobs {
        assert_eq!(job.status, store::JobStatus::Succeeded);
        assert!(files.contains(&format!("{}.eml", job.id)), "{files:?}");
    }
    let eml = std::fs::read_to_string(spool.path().join(&files[0])).unwrap();
    assert!(eml.contains("text/calendar; charset=utf-8; method=REQUEST"), "{eml}");
    assert!(eml.contains(&format!("booking-{}@slotwise", booking["id"].as_str().unwrap())), "{eml}");
}

on_both!(moving_a_booking_to_another_employee_cancels_it_for_the_first);
async fn moving_a_booking_to_another_employee_cancels_it_for_the_first(app: TestApp) {
    let key = app.tenant("Salon").await;
    let salon = app.salon(&key).await;
    let (anna, ben) = (&salon.employees[0], &salon.employees[1]);
    let booking = app.book(&key, &salon, "2030-03-04T10:00:00+01:00", Some(anna)).await.expect(201);
    let id = booking["id"].as_str().unwrap();
    app.post(
        &format!("/api/bookings/{id}/reschedule"),
        &key,
        json!({"start": "2030-03-04T11:00:00+01:00", "employee_id": ben}),
    )
    .await
    .expect(200);
    let spool = tempfile::tempdir().unwrap();
    let worker = worker(None, spool.path(), false, immediate_retries(3));
    // Created: customer + anna; moved: customer + ben + the cancellation for anna.
    assert_eq!(worker.run_once(&app.db.store).await.unwrap(), 5);
    let mails: Vec<String> =
        std::fs::read_dir(spool.path()).unwrap().map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap()).collect();
    let to_anna: Vec<&String> = mails
        .iter()
        .filter(|m| m.contains("To: anna <anna@example.com>") || m.contains("To: anna@example.com"))
        .collect();
    assert_eq!(to_anna.len(), 2, "anna got the invitation and its cancellation");
    let cancel = to_anna.iter().find(|m| m.contains("method=CANCEL")).expect("a cancellation for anna");
    assert!(cancel.contains("SEQUENCE:1"), "{cancel}");
    assert!(cancel.contains("DTSTART:20300304T090000Z"), "the slot anna had: {cancel}");
    let to_ben = mails
        .iter()
        .filter(|m| {
            (m.contains("To: ben <ben@example.com>") || m.contains("To: ben@example.com"))
                && m.contains("method=REQUEST")
        })
        .count();
    assert_eq!(to_ben, 1);
}
