//! The dashboard in a real browser: Debian's chromium driven through chromedriver
//! (WebDriver, fantoccini) against the real server with both emulators. Sign in,
//! connect Google through the emulator's consent page, see the connection active, see
//! a booking in the week view, see an external event's conflict and move the booking,
//! retry a failed sync, disconnect. Screenshots of every page land in
//! `target/screenshots/` for a person to look at.
//!
//! Without chromedriver on the PATH the test says so and passes, except under `CI=true`,
//! where a missing browser is a failure (CI installs `chromium` and `chromium-driver`).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::calendar_sync::{GOOGLE_USER, eventually, monday_at, next_monday, spawn};

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// chromedriver on a free port, or `None` (after saying why) when it is not installed.
async fn chromedriver() -> Option<(Driver, u16)> {
    let port = free_port();
    let child = match Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            assert!(std::env::var("CI").is_err(), "CI must run the browser tests, but chromedriver is missing: {e}");
            eprintln!("SKIPPED: chromedriver not found ({e}); install chromium and chromium-driver");
            return None;
        }
    };
    let driver = Driver(child);
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Some((driver, port));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("chromedriver did not start");
}

async fn browser(port: u16, profile: &std::path::Path) -> Client {
    let mut caps = serde_json::Map::new();
    let chromium =
        ["/usr/bin/chromium", "/usr/bin/chromium-browser"].into_iter().find(|p| std::path::Path::new(p).exists());
    let mut options = json!({"args": [
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,1000",
        format!("--user-data-dir={}", profile.display()),
    ]});
    if let Some(path) = chromium {
        options["binary"] = json!(path);
    }
    caps.insert("goog:chromeOptions".into(), options);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a chromium session")
}

/// Saves a screenshot as `target/screenshots/NAME.png`.
async fn shot(client: &Client, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = client.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// The page's text, once it has loaded (a click may still be navigating).
async fn text(client: &Client) -> String {
    for _ in 0..100 {
        let ready = client.execute("return document.readyState", vec![]).await.ok();
        if ready.as_ref().and_then(|v| v.as_str()) == Some("complete") {
            let body = match client.find(Locator::Css("body")).await {
                Ok(body) => body.text().await.ok(),
                Err(_) => None,
            };
            if let Some(body) = body {
                return body;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the page did not settle");
}

/// Clicks what `css` finds and waits for the next page.
async fn click(client: &Client, css: &str) {
    let old = client.find(Locator::Css("html")).await.unwrap();
    client.find(Locator::Css(css)).await.unwrap().click().await.unwrap();
    for _ in 0..100 {
        // The old document's root goes stale once the browser has navigated.
        if old.tag_name().await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("clicking {css} did not navigate");
}

async fn path(client: &Client) -> String {
    client.current_url().await.unwrap().path().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_person_manages_calendars_in_the_dashboard() {
    let Some((_driver, port)) = chromedriver().await else { return };
    let c = spawn(crate::db::sqlite().await.unwrap()).await;
    c.google.google().set_consent(emulators::google::ConsentMode::Page);
    let key = c.app.tenant("Salon").await;
    let salon = c.app.salon(&key).await;
    let anna = salon.employees[0].clone();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(port, profile.path()).await;
    let base = c.app.base.clone();

    // Signed out: the dashboard sends us to the sign-in page; a wrong key is refused.
    client.goto(&format!("{base}/dashboard")).await.unwrap();
    assert_eq!(path(&client).await, "/dashboard/login");
    shot(&client, "01-sign-in").await;
    client.find(Locator::Id("api_key")).await.unwrap().send_keys("sw_wrong").await.unwrap();
    click(&client, "button[type=submit]").await;
    assert!(text(&client).await.contains("was not accepted"));
    client.find(Locator::Id("api_key")).await.unwrap().send_keys(&key).await.unwrap();
    click(&client, "button[type=submit]").await;
    assert_eq!(path(&client).await, "/dashboard/calendars");
    assert!(text(&client).await.contains("never connected"));
    shot(&client, "02-calendars-before").await;

    // Connect Anna's Google calendar through the emulator's consent page.
    let connect = format!(
        "form[action='/dashboard/calendars/connect']:has(input[value='{anna}']):has(input[value='google']) button"
    );
    click(&client, &connect).await;
    assert!(text(&client).await.contains("Emulated Google consent"));
    shot(&client, "03-google-consent").await;
    click(&client, "button[value=allow]").await;
    assert!(text(&client).await.contains("Google Calendar connected"), "{}", text(&client).await);
    shot(&client, "04-connected").await;
    click(&client, "a[href='/dashboard/calendars']").await;
    assert!(text(&client).await.contains("active"));
    shot(&client, "05-calendars-active").await;

    // A booking made through the API shows in Anna's week.
    let booking = c.app.book(&key, &salon, &monday_at(10, 0).to_rfc3339(), Some(&anna)).await.expect(201);
    let booking_id = booking["id"].as_str().unwrap().to_owned();
    let event_id = providers_google::event_id_for_booking(&booking_id);
    eventually(Duration::from_secs(10), "booking on Google", || async {
        c.google.google().stored_event(GOOGLE_USER, &event_id).is_some()
    })
    .await;
    let week =
        format!("{base}/dashboard/bookings?employee_id={anna}&service_id={}&week={}", salon.service, next_monday());
    client.goto(&week).await.unwrap();
    let page = text(&client).await;
    assert!(page.contains("booked: Cleo") && page.contains("free"), "{page}");
    shot(&client, "06-week").await;

    // An external event over the booking: a conflict with alternatives; move it.
    c.google
        .google()
        .seed_event(
            GOOGLE_USER,
            json!({"summary": "Dentist", "start": {"dateTime": monday_at(10, 0).to_rfc3339()},
                   "end": {"dateTime": monday_at(11, 0).to_rfc3339()}}),
        )
        .unwrap();
    eventually(Duration::from_secs(5), "conflict listed", || async {
        client.goto(&format!("{base}/dashboard/conflicts")).await.unwrap();
        text(&client).await.contains(&booking_id)
    })
    .await;
    client.goto(&week).await.unwrap();
    assert!(text(&client).await.contains("busy (calendar)"));
    shot(&client, "07-week-with-external-event").await;
    client.goto(&format!("{base}/dashboard/conflicts")).await.unwrap();
    shot(&client, "08-conflicts").await;
    click(&client, "form[action='/dashboard/conflicts/reschedule'] button").await;
    let page = text(&client).await;
    assert!(page.contains("was moved") && page.contains("No conflicts"), "{page}");
    let moved = c.app.get(&format!("/api/bookings/{booking_id}"), &key).await.expect(200);
    assert_ne!(moved["start"], booking["start"]);

    // A sync that fails for good (the grant was revoked at Google) can be retried.
    c.google.google().revoke_all_grants();
    c.app.post(&format!("/api/bookings/{booking_id}/cancel"), &key, json!({})).await.expect(200);
    eventually(Duration::from_secs(15), "a dead sync event", || async {
        c.app.get("/api/calendar/sync-status", &key).await.expect(200)["dead"].as_u64().unwrap_or(0) > 0
    })
    .await;
    client.goto(&format!("{base}/dashboard/sync?status=dead")).await.unwrap();
    assert!(text(&client).await.contains("needs attention"));
    shot(&client, "09-sync-health").await;
    click(&client, "#log form[action='/dashboard/sync/retry'] button").await;
    assert!(text(&client).await.contains("Requeued 1 event"), "{}", text(&client).await);

    client.goto(&format!("{base}/dashboard/webhooks")).await.unwrap();
    assert!(text(&client).await.contains("Webhook endpoints"));
    shot(&client, "10-webhooks").await;

    // Disconnect after the confirmation page.
    client.goto(&format!("{base}/dashboard/calendars")).await.unwrap();
    click(&client, "a[href*='/dashboard/calendars/disconnect']").await;
    assert!(text(&client).await.contains("Bookings stay confirmed"));
    shot(&client, "11-disconnect-confirm").await;
    click(&client, "button.danger").await;
    let page = text(&client).await;
    assert!(page.contains("Disconnected google") && page.contains("never connected"), "{page}");
    shot(&client, "12-calendars-after").await;

    // At phone width the pages still work (tables scroll, navigation wraps).
    client.set_window_size(390, 844).await.unwrap();
    client.goto(&week).await.unwrap();
    assert!(text(&client).await.contains("Bookings: anna"));
    shot(&client, "13-phone-week").await;
    client.set_window_size(1280, 1000).await.unwrap();

    // Forms need the session's CSRF token: a forged post is refused, signing out works.
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let forged = no_redirects
        .post(format!("{base}/dashboard/sync/retry"))
        .header("cookie", "slotwise_session=forged")
        .form(&[("csrf", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 303, "no session: to the sign-in page");
    click(&client, "form[action='/dashboard/logout'] button").await;
    assert_eq!(path(&client).await, "/dashboard/login");
    client.goto(&format!("{base}/dashboard/calendars")).await.unwrap();
    assert_eq!(path(&client).await, "/dashboard/login");
    client.close().await.unwrap();
}
