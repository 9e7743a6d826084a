//! `--demo`: a tenant with hours, services, employees, a holiday and some
//! bookings, so a newcomer has something to query right away.

use std::path::Path;

use anyhow::Context as _;
use availability_core as core;
use chrono::{Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::{Application, Config, engine};

const KEY_FILE: &str = ".slotwise-demo-key";

/// The provider emulators the demo serves in-process; they stop when this is dropped.
pub struct DemoEmulators {
    google: emulators::EmulatorHandle,
    microsoft: emulators::microsoft::MicrosoftServer,
}

impl std::fmt::Debug for DemoEmulators {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoEmulators")
            .field("google", &self.google.google_base_url())
            .field("microsoft", &self.microsoft.urls().base)
            .finish()
    }
}

/// Starts the Google and Microsoft emulators on free local ports and points the
/// configuration's providers at them — unless the person configured a real provider
/// (`GOOGLE_CLIENT_ID` or `MICROSOFT_CLIENT_ID`), which is then left alone. Google's
/// emulator shows a consent page (Allow / Deny); Microsoft's approves at once.
pub fn start_emulators(config: &mut Config) -> anyhow::Result<Option<DemoEmulators>> {
    if config.providers.google.is_some() || config.providers.outlook.is_some() {
        return Ok(None);
    }
    let google_settings = emulators::google::GoogleConfig {
        consent: emulators::google::ConsentMode::Page,
        ..emulators::google::GoogleConfig::default()
    };
    let google = emulators::Emulator::start(emulators::EmulatorConfig { google_port: 0, google: google_settings })
        .context("start the Google emulator")?;
    let microsoft = emulators::microsoft::MicrosoftEmulator::start(0, emulators::microsoft::MicrosoftConfig::default())
        .context("start the Microsoft emulator")?;
    let vars = emulators::provider_settings(&google, &microsoft);
    config.providers = provider_setup::ProviderSetup::load(&config.public_url, |name| {
        vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
    })
    .context("configure the providers for the emulators")?;
    Ok(Some(DemoEmulators { google, microsoft }))
}

/// Fills in what the demo needs and a newcomer has not set: an operator token
/// and an encryption key kept in `.slotwise-demo-key` so the demo database
/// stays readable across runs.
pub fn prepare(config: &mut Config) {
    if config.operator_token.is_none() {
        config.operator_token = Some(SecretString::from(format!("demo-operator-{}", uuid::Uuid::new_v4().simple())));
    }
    if config.encryption_key.is_none() {
        let key = match std::fs::read_to_string(Path::new(KEY_FILE)) {
            Ok(k) if !k.trim().is_empty() => SecretString::from(k.trim().to_owned()),
            _ => {
                let k = store::TokenCipher::generate_key();
                if let Err(e) = std::fs::write(KEY_FILE, k.expose_secret()) {
                    tracing::warn!(error = %e, "could not keep the demo encryption key");
                }
                k
            }
        };
        config.encryption_key = Some(key);
    }
}

/// Seeds a fresh demo tenant and prints where to go.
pub async fn seed_and_print(
    app: &Application,
    config: &Config,
    emulators: Option<&DemoEmulators>,
) -> anyhow::Result<()> {
    let store = app.store();
    let (tenant, key) = store.create_tenant("Demo Salon", "Europe/Berlin").await?;
    let weekly = json!({
        "mon": [["09:00", "18:00"]], "tue": [["09:00", "18:00"]], "wed": [["09:00", "18:00"]],
        "thu": [["09:00", "20:00"]], "fri": [["09:00", "18:00"]], "sat": [["10:00", "14:00"]]
    });
    let breaks = json!({"mon": [["12:30", "13:00"]], "tue": [["12:30", "13:00"]], "wed": [["12:30", "13:00"]],
                        "thu": [["12:30", "13:00"]], "fri": [["12:30", "13:00"]]});
    store.set_business_hours(&tenant.id, "Europe/Berlin", &weekly, &breaks).await?;
    let service = |name: &str, duration: u32, step: u32, before: u32, after: u32| store::NewService {
        name: name.to_owned(),
        duration_min: duration,
        buffer_before_min: before,
        buffer_after_min: after,
        slot_step_min: step,
        min_notice_min: 60,
        horizon_days: 60,
    };
    let haircut = store.create_service(&tenant.id, service("Haircut", 30, 15, 0, 10)).await?;
    let colour = store.create_service(&tenant.id, service("Colouring", 90, 30, 15, 15)).await?;
    let both = vec![haircut.id.clone(), colour.id.clone()];
    let mut staff = Vec::new();
    for (name, email, zone, services) in [
        ("Anna Berger", "anna@demo.example", "Europe/Berlin", both.clone()),
        ("Ben Okafor", "ben@demo.example", "Europe/Berlin", vec![haircut.id.clone()]),
        ("Chloé Martin", "chloe@demo.example", "Europe/Paris", both.clone()),
    ] {
        staff.push(
            store
                .create_employee(
                    &tenant.id,
                    store::NewEmployee {
                        name: name.into(),
                        email: email.into(),
                        timezone: zone.into(),
                        service_ids: services,
                    },
                )
                .await?,
        );
    }
    // Chloé works Tuesday to Saturday.
    let chloe_week = json!({"tue": [["10:00", "18:00"]], "wed": [["10:00", "18:00"]], "thu": [["10:00", "18:00"]],
                            "fri": [["10:00", "18:00"]], "sat": [["10:00", "14:00"]]});
    store.set_employee_schedule(&tenant.id, &staff[2].id, "Europe/Paris", &chloe_week, &json!({})).await?;
    let today = Utc::now().with_timezone(&chrono_tz::Europe::Berlin).date_naive();
    store.add_holiday(&tenant.id, None, today + Duration::days(10), "Salon closed (demo holiday)").await?;

    // A few bookings on the first free haircut slots of the coming days.
    let ids: Vec<store::EmployeeId> = staff.iter().map(|e| e.id.clone()).collect();
    let (from, to) = (Utc::now(), Utc::now() + Duration::days(7));
    let rows =
        store.load_availability_inputs(&tenant.id, &ids, from - Duration::days(2), to + Duration::days(2)).await?;
    let inputs = engine::convert(&rows, (from, to), Utc::now(), None).map_err(|e| anyhow::anyhow!("{e}"))?;
    let rules = engine::rules(&haircut).map_err(|e| anyhow::anyhow!("{e}"))?;
    let window = core::Interval::new(from, to, "window")?;
    let found =
        core::available_slots(&inputs.business, &rules, &inputs.employees, &core::Query { window, now: Utc::now() });
    let mut booked = 0;
    for (i, slot) in found.merged().iter().enumerate().filter(|(i, _)| i % 9 == 4).take(5) {
        let employee =
            store::EmployeeId::parse(slot.employee_ids[i % slot.employee_ids.len()]).context("employee id")?;
        let result = store
            .create_booking(
                &tenant.id,
                &store::NewBooking {
                    id: store::BookingId::generate(),
                    service_id: haircut.id.clone(),
                    employee_id: employee,
                    start: slot.start,
                    customer: store::Customer {
                        name: format!("Demo customer {}", booked + 1),
                        email: format!("customer{}@demo.example", booked + 1),
                        timezone: Some("Europe/Berlin".into()),
                    },
                    notes: None,
                    actor: store::Actor::Api,
                    notifications: Vec::new(),
                    idempotency: None,
                },
            )
            .await;
        if result.is_ok() {
            booked += 1;
        }
    }

    let base = &config.public_url;
    let base = if base.ends_with(":0") { format!("http://{}", app.address()) } else { base.clone() };
    let base = if config.bind.port() == 0 || !base.contains(&app.address().port().to_string()) {
        format!("http://{}", app.address())
    } else {
        base
    };
    let k = key.expose_secret();
    let anna = &staff[0].id;
    let calendars = match emulators {
        Some(e) => format!(
            "\nCalendars (local emulators, no account needed: Google {google}, Microsoft {microsoft}).\n\
             Connect Anna's Google calendar: ask for the consent URL, open it in a browser and press Allow:\n  \
             curl -s -H 'Authorization: Bearer {k}' '{base}/api/google-calendar/oauth?employee_id={anna}'\n\
             (Outlook: the same under /api/outlook-calendar/oauth; its emulator approves at once.)\n\
             Then bookings appear in the emulated calendar and its events block Anna's time:\n  \
             curl -s -H 'Authorization: Bearer {k}' '{base}/api/calendar/sync-status'\n",
            google = e.google.google_base_url(),
            microsoft = e.microsoft.urls().base,
        ),
        None => "\nCalendars: the GOOGLE_* / MICROSOFT_* settings of the environment are used.\n".to_owned(),
    };
    println!(
        "\nslotwise demo is running.\n\n  API          {base}/api\n  dashboard    {base}/dashboard  (sign in with the tenant key)\n  API docs     {base}/docs  (OpenAPI: {base}/api/openapi.json)\n  health       {base}/healthz\n  tenant key   {k}\n  operator     {}\n\n\
         Demo Salon (Europe/Berlin): services Haircut ({haircut}) and Colouring ({colour}); employees Anna, Ben, Chloé;\n\
         {booked} bookings seeded; a holiday on {}.\n\nTry:\n  curl -H 'Authorization: Bearer {k}' '{base}/api/availability?service_id={haircut}&from={today}&to={}'\n{calendars}",
        config.operator_token.as_ref().map(|t| t.expose_secret().to_owned()).unwrap_or_default(),
        today + Duration::days(10),
        today + Duration::days(2),
        haircut = haircut.id,
        colour = colour.id,
    );
    Ok(())
}
