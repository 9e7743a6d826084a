//! Repository behaviour on both backends: migrations, round trips, tenant isolation,
//! the booking transaction, idempotency, secrets and the availability loader.

mod common;

use anyhow::{Result, ensure};
use chrono::{NaiveDate, TimeDelta};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::json;
use store::{
    Actor, BookingFilter, BookingStatus, CancelBooking, ConnectionStatus, CryptoError, ExternalEvent, HistoryAction,
    IdempotencyBegin, IdempotencyCompletion, JobDetails, NewCalendarConnection, NewNotification, NewTimeOff, Provider,
    QueueKind, RescheduleBooking, Store, StoreError, SyncOperation, TokenCipher,
};

use common::{TestDb, at, booking_at, fixture};

on_both_backends!(
    migrations_apply_to_an_empty_database_and_are_idempotent,
    tenant_catalogue_and_schedule_round_trip,
    tenant_ids_never_reach_another_tenants_rows,
    booking_writes_history_outbox_and_idempotency_in_one_transaction,
    booking_respects_buffers_and_half_open_intervals,
    cancel_is_idempotent_and_releases_the_slot,
    reschedule_never_conflicts_with_itself_and_changes_nothing_on_conflict,
    failed_booking_transaction_leaves_nothing_behind,
    idempotency_begin_complete_replay_and_reuse,
    connection_tokens_are_encrypted_at_rest,
    availability_inputs_cover_the_window,
    the_database_itself_refuses_double_booking,
    bulk_edit_is_all_or_nothing,
);

async fn migrations_apply_to_an_empty_database_and_are_idempotent(db: &TestDb) -> Result<()> {
    let applied = db.raw_texts("SELECT CAST(version AS TEXT) FROM _sqlx_migrations").await?;
    ensure!(applied == ["1", "2", "3", "4"], "applied migrations: {applied:?}");
    // Opening the same database again runs no migration twice.
    let again = Store::connect(&db.url, TokenCipher::from_base64_key(&db.key)?).await?;
    again.ping().await?;
    again.close().await;
    for table in [
        "tenants",
        "api_keys",
        "services",
        "employees",
        "employee_services",
        "business_hours",
        "employee_schedules",
        "special_dates",
        "holidays",
        "time_off",
        "bookings",
        "booking_history",
        "idempotency_keys",
        "calendar_connections",
        "external_events",
        "calendar_sync_events",
        "notifications",
        "oauth_states",
        "dashboard_sessions",
    ] {
        let sql: &'static str = Box::leak(format!("SELECT CAST(COUNT(*) AS TEXT) FROM {table}").into_boxed_str());
        ensure!(db.raw_texts(sql).await? == ["0"], "{table} is not empty");
    }
    Ok(())
}

async fn tenant_catalogue_and_schedule_round_trip(db: &TestDb) -> Result<()> {
    let s = &db.store;
    let f = fixture(s, "Salon").await?;
    let tenant = s.tenant(&f.tenant).await?;
    ensure!(tenant.name == "Salon" && tenant.timezone == "Europe/Berlin");
    ensure!(s.tenant_by_api_key(&f.api_key).await?.map(|t| t.id) == Some(f.tenant.clone()));
    ensure!(s.tenant_by_api_key(&SecretString::from("sw_wrong")).await?.is_none());
    let raw_keys = db.raw_texts("SELECT key_hash FROM api_keys").await?;
    ensure!(!raw_keys.iter().any(|k| k.contains(f.api_key.expose_secret())), "API key stored in clear");
    let second = s.add_api_key(&f.tenant).await?;
    ensure!(s.tenant_by_api_key(&second).await?.is_some());
    ensure!(s.revoke_api_keys(&f.tenant).await? == 2);
    ensure!(s.tenant_by_api_key(&f.api_key).await?.is_none());
    s.set_stale_calendar_policy(&f.tenant, store::StaleCalendarPolicy::Ignore).await?;
    ensure!(s.tenant(&f.tenant).await?.stale_calendar_policy == store::StaleCalendarPolicy::Ignore);

    let service = s.service(&f.tenant, &f.service).await?;
    ensure!(service.settings.duration_min == 60 && service.settings.buffer_after_min == 10);
    ensure!(s.list_services(&f.tenant).await?.len() == 1);
    let employee = s.employee(&f.tenant, &f.employee).await?;
    ensure!(employee.service_ids == [f.service.clone()] && employee.email == "ada@example.com");
    s.set_employee_services(&f.tenant, &f.employee, &[]).await?;
    ensure!(s.employee(&f.tenant, &f.employee).await?.service_ids.is_empty());
    let unknown = store::ServiceId::generate();
    ensure!(matches!(
        s.set_employee_services(&f.tenant, &f.employee, &[unknown]).await,
        Err(StoreError::NotFound { entity: "service" })
    ));

    let weekly = json!({"mon": [["09:00", "17:00"]], "tue": [["09:00", "12:00"], ["13:00", "17:00"]]});
    let breaks = json!({"mon": [["12:00", "13:00"]]});
    ensure!(s.business_hours(&f.tenant).await?.is_none());
    s.set_business_hours(&f.tenant, "Europe/Berlin", &weekly, &breaks).await?;
    s.set_business_hours(&f.tenant, "Europe/Paris", &weekly, &breaks).await?;
    let hours = s.business_hours(&f.tenant).await?.expect("set");
    ensure!(hours.timezone == "Europe/Paris" && hours.weekly == weekly && hours.breaks == breaks);
    s.set_employee_schedule(&f.tenant, &f.employee, "Europe/Berlin", &weekly, &json!({})).await?;
    ensure!(s.employee_schedule(&f.tenant, &f.employee).await?.expect("set").weekly == weekly);

    let date = NaiveDate::from_ymd_opt(2030, 1, 8).expect("date");
    let special = s.add_special_date(&f.tenant, None, date, &json!([["10:00", "14:00"]])).await?;
    let holiday = s.add_holiday(&f.tenant, Some(&f.employee), date, "Birthday").await?;
    let time_off = s
        .add_time_off(
            &f.tenant,
            &f.employee,
            NewTimeOff {
                start: at(60),
                end: at(120),
                rrule: Some("FREQ=WEEKLY;COUNT=4".into()),
                exdates: vec![at(60 + 7 * 24 * 60)],
                reason: Some("Gym".into()),
            },
        )
        .await?;
    ensure!(matches!(
        s.add_time_off(
            &f.tenant,
            &f.employee,
            NewTimeOff { start: at(5), end: at(5), rrule: None, exdates: vec![], reason: None }
        )
        .await,
        Err(StoreError::InvalidInput(_))
    ));
    let inputs = s.load_availability_inputs(&f.tenant, std::slice::from_ref(&f.employee), at(0), at(24 * 60)).await?;
    ensure!(inputs.special_dates == [special]);
    ensure!(inputs.employees[0].holidays == [holiday]);
    ensure!(inputs.employees[0].time_off == [time_off]);
    Ok(())
}

async fn tenant_ids_never_reach_another_tenants_rows(db: &TestDb) -> Result<()> {
    let s = &db.store;
    let a = fixture(s, "A").await?;
    let b = fixture(s, "B").await?;
    let b_conn = s.upsert_connection(&b.tenant, &new_connection(&b.employee, "b-token")).await?;
    let b_booking = s.create_booking(&b.tenant, &booking_at(&b, at(0))).await?;
    s.create_booking(&a.tenant, &booking_at(&a, at(0))).await?;

    ensure!(matches!(s.service(&a.tenant, &b.service).await, Err(StoreError::NotFound { .. })));
    ensure!(matches!(s.employee(&a.tenant, &b.employee).await, Err(StoreError::NotFound { .. })));
    ensure!(matches!(s.booking(&a.tenant, &b_booking.id).await, Err(StoreError::NotFound { .. })));
    ensure!(matches!(s.booking_history(&a.tenant, &b_booking.id).await, Err(StoreError::NotFound { .. })));
    ensure!(matches!(s.connection(&a.tenant, &b_conn.id).await, Err(StoreError::NotFound { .. })));
    ensure!(matches!(
        s.cancel_booking(
            &a.tenant,
            &b_booking.id,
            &CancelBooking { reason: None, actor: Actor::Api, notifications: vec![] }
        )
        .await,
        Err(StoreError::NotFound { .. })
    ));
    ensure!(matches!(
        s.reschedule_booking(&a.tenant, &b_booking.id, &reschedule_to(at(600))).await,
        Err(StoreError::NotFound { .. })
    ));
    // A booking in tenant A may not name tenant B's service or employee.
    let mut cross = booking_at(&a, at(600));
    cross.service_id = b.service.clone();
    ensure!(matches!(s.create_booking(&a.tenant, &cross).await, Err(StoreError::NotFound { entity: "service" })));
    let mut cross = booking_at(&a, at(600));
    cross.employee_id = b.employee.clone();
    ensure!(matches!(s.create_booking(&a.tenant, &cross).await, Err(StoreError::NotFound { entity: "employee" })));
    ensure!(matches!(
        s.load_availability_inputs(&a.tenant, std::slice::from_ref(&b.employee), at(0), at(60)).await,
        Err(StoreError::NotFound { .. })
    ));

    let listed = s.list_bookings(&a.tenant, &window(None)).await?;
    ensure!(listed.len() == 1 && listed[0].employee_id == a.employee);
    ensure!(s.list_employees(&a.tenant).await?.iter().all(|e| e.id == a.employee));
    ensure!(s.list_services(&a.tenant).await?.iter().all(|x| x.id == a.service));
    ensure!(s.list_connections(&a.tenant, None).await?.is_empty());
    ensure!(s.queue(QueueKind::CalendarSync).list(&a.tenant, None, 100).await?.is_empty());
    ensure!(s.queue(QueueKind::CalendarSync).list(&b.tenant, None, 100).await?.len() == 1);
    // Same employee interval in two tenants: both confirmed, no interference.
    ensure!(s.list_bookings(&b.tenant, &window(None)).await?.len() == 1);
    Ok(())
}

async fn booking_writes_history_outbox_and_idempotency_in_one_transaction(db: &TestDb) -> Result<()> {
    let s = &db.store;
    let f = fixture(s, "Salon").await?;
    let conn = s.upsert_connection(&f.tenant, &new_connection(&f.employee, "tok")).await?;
    ensure!(s.begin_idempotent(&f.tenant, "key-1", "hash-1").await? == IdempotencyBegin::Started);
    let mut new = booking_at(&f, at(9 * 60));
    new.notes = Some("first visit".into());
    new.notifications = vec![notification("grace@example.com"), notification("ada@example.com")];
    new.idempotency =
        Some(IdempotencyCompletion { key: "key-1".into(), status: 201, body: format!("{{\"id\":\"{}\"}}", new.id) });
    let booking = s.create_booking(&f.tenant, &new).await?;
    ensure!(booking.status == BookingStatus::Confirmed);
    ensure!(booking.end - booking.start == TimeDelta::minutes(60));
    ensure!(booking.buffer_before_min == 10 && booking.buffer_after_min == 10);
    ensure!(s.booking(&f.tenant, &booking.id).await? == booking);

    let history = s.booking_history(&f.tenant, &booking.id).await?;
    ensure!(history.len() == 1 && history[0].action == HistoryAction::Created && history[0].actor == Actor::Api);
    ensure!(history[0].from.is_none() && history[0].to == Some(booking.slot()));

    let sync = s.queue(QueueKind::CalendarSync).list(&f.tenant, Some(&booking.id), 10).await?;
    ensure!(sync.len() == 1, "one sync event per active connection");
    let JobDetails::CalendarSync(event) = &sync[0].details else { anyhow::bail!("wrong details") };
    ensure!(event.operation == SyncOperation::Create && event.connection_id.as_ref() == Some(&conn.id));
    ensure!(event.provider == Provider::Google && sync[0].status == store::JobStatus::Pending);
    let notes = s.queue(QueueKind::Notifications).list(&f.tenant, Some(&booking.id), 10).await?;
    ensure!(notes.len() == 2);

    match s.begin_idempotent(&f.tenant, "key-1", "hash-1").await? {
        IdempotencyBegin::Completed { status: 201, body } => {
            ensure!(body.contains(booking.id.as_str()))
        }
        other => anyhow::bail!("expected a replay, got {other:?}"),
    }

    // An errored connection gets no outbox row.
    s.record_connection_sync(&f.tenant, &conn.id, ConnectionStatus::Error, None, Some("401")).await?;
    let second = s.create_booking(&f.tenant, &booking_at(&f, at(12 * 60))).await?;
    ensure!(s.queue(QueueKind::CalendarSync).list(&f.tenant, Some(&second.id), 10).await?.is_empty());

    let filtered = s.list_bookings(&f.tenant, &BookingFilter { limit: 1, ..window(None) }).await?;
    ensure!(filtered.len() == 1 && filtered[0].id == booking.id);
    let next = s
        .list_bookings(
            &f.tenant,
            &BookingFilter { limit: 10, after: Some((booking.start, booking.id.clone())), ..window(None) },
        )
        .await?;
    ensure!(next.len() == 1 && next[0].id == second.id);
    Ok(())
}

async fn booking_respects_buffers_and_half_open_intervals(db: &TestDb) -> Result<()> {
    let s = &db.store;
    let f = fixture(s, "Salon").await?;
    // [09:00, 10:00) held as [08:50, 10:10).
    s.create_booking(&f.tenant, &booking_at(&f, at(9 * 60))).await?;
    // 10:05 start holds [09:55, ...): overlaps the buffer after.
    ensure!(matches!(s.create_booking(&f.tenant, &booking_at(&f, at(10 * 60 + 5))).await, Err(StoreError::SlotTaken)));
    // 07:45 ends 08:45 + 10 = 08:55 > 08:50: overlaps the buffer before.
    ensure!(matches!(s.create_booking(&f.tenant, &booking_at(&f, at(7 * 60 + 45))).await, Err(StoreError::SlotTaken)));
    // 10:20 holds [10:10, 11:30): touches, does not overlap.
    s.create_booking(&f.tenant, &booking_at(&f, at(10 * 60 + 20))).await?;
    // 07:40 holds [07:30, 08:50): touches.
    s.create_booking(&f.tenant, &booking_at(&f, at(7 * 60 + 40))).await?;
    ensure!(common::assert_no_overlap(s, &f, &f.employee).await? == 3);
    let other = store::EmployeeId::generate();
    let counts =
        s.count_confirmed_bookings(&f.tenant, &[f.employee.clone(), other.clone()], at(8 * 60), at(24 * 60)).await?;
    ensure!(counts == [(f.employee.clone(), 2), (other, 0)], "counts: {counts:?}");
    Ok(())
}

async fn cancel_is_idempotent_and_releases_the_slot(db: &TestDb) -> Result<()> {
    let s = &db.store;
    let f = fixture(s, "Salon").await?;
    s.upsert_connection(&f.tenant, &new_connection(&f.employee, "tok")).await?;
    let booking = s.create_booking(&f.tenant, &booking_at(&f, at(9 * 60))).await?;
    let cancel = CancelBooking {
        reason: Some("ill".into()),
        actor: Actor::Api,
        notifications: vec![notification("grace@example.com")],
    };
    let (cancelled, changed) = s.cancel_booking(&f.tenant, &booking.id, &cancel).await?;
    ensure!(changed && cancelled.status == BookingStatus::Cancelled && cancelled.sequence == 1);
    ensure!(cancelled.cancel_reason.as_deref() == Some("ill"));
    let (again, changed) = s.cancel_booking(&f.tenant, &booking.id, &cancel).await?;
    ensure!(!changed && again == cancelled, "a repeated cancel returns the booking unchanged");
    ensure!(s.booking_history(&f.tenant, &booking.id).await?.len() == 2, "the repeat writes no history");
    let sync = s.queue(QueueKind::CalendarSync).list(&f.tenant, Some(&booking.id), 10).await?;
    ensure!(sync.len() == 2, "create + one delete, nothing for the repeat");
    ensure!(matches!(&sync[0].details, JobDetails::CalendarSync(e) if e.operation == SyncOperation::Delete));
    ensure!(s.queue(QueueKind::Notifications).list(&f.tenant, Some(&booking.id), 10).await?.len() == 1);
    // The slot is free again.
    s.create_booking(&f.tenant, &booking_at(&f, at(9 * 60))).await?;
    ensure!(matches!(
        s.reschedule_booking(&f.tenant, &booking.id, &reschedule_to(at(20 * 60))).await,
        Err(StoreError::Conflict(_))
    ));
    Ok(())
}

async fn reschedule_never_conflicts_with_itself_and_changes_nothing_on_conflict(db: &TestDb) -> Result<()> {
    let s = &db.store;
    let f = fixture(s, "Salon").await?;
    s.upsert_connection(&f.tenant, &new_connection(&f.employee, "tok")).await?;
    let booking = s.create_booking(&f.tenant, &booking_at(&f, at(9 * 60))).await?;
    let other = s.create_booking(&f.tenant, &booking_at(&f, at(12 * 60))).await?;
    // 30 minutes later overlaps only its own old interval.
    let moved = s.reschedule_booking(&f.tenant, &booking.id, &reschedule_to(at(9 * 60 + 30))).await?;
    ensure!(moved.id == booking.id && moved.start == at(9 * 60 + 30) && moved.end == at(10 * 60 + 30));
    ensure!(moved.sequence == 1);
    // Onto the other booking: refused, nothing changes.
    ensure!(matches!(
        s.reschedule_booking(&f.tenant, &booking.id, &reschedule_to(at(11 * 60 + 30))).await,
        Err(StoreError::SlotTaken)
    ));
    ensure!(s.booking(&f.tenant, &booking.id).await? == moved);
    ensure!(s.booking(&f.tenant, &other.id).await? == other);
    let history = s.booking_history(&f.tenant, &booking.id).await?;
    ensure!(history.len() == 2 && history[1].action == HistoryAction::Rescheduled);
    ensure!(history[1].from == Some(booking.slot()) && history[1].to == Some(moved.slot()));
    let sync = s.queue(QueueKind::CalendarSync).list(&f.tenant, Some(&booking.id), 10).await?;
    ensure!(
        sync.len() == 2
            && matches!(&sync[0].details, JobDetails::CalendarSync(e) if e.operation == SyncOperation::Update)
    );
    // To another employee: delete on the old calendar (none for the new one, unconnected).
    let second = s
        .create_employee(
            &f.tenant,
            store::NewEmployee {
                name: "Bob".into(),
                email: "b@example.com".into(),
                timezone: "UTC".into(),
                service_ids: vec![f.service.clone()],
            },
        )
        .await?;
    let change = RescheduleBooking { employee_id: Some(second.id.clone()), ..reschedule_to(at(12 * 60)) };
    let handed = s.reschedule_booking(&f.tenant, &booking.id, &change).await?;
    ensure!(handed.employee_id == second.id && handed.start == at(12 * 60));
    let sync = s.queue(QueueKind::CalendarSync).list(&f.tenant, Some(&booking.id), 10).await?;
    ensure!(
        sync.len() == 3
            && matches!(&sync[0].details, JobDetails::CalendarSync(e) if e.operation == SyncOperation::Delete)
    );
    Ok(())
}

async fn failed_booking_transaction_leaves_nothing_behind(db: &TestDb) -> Result<()> {
    let s = &db.store;
    let f = fixture(s, "Salon").await?;
    s.upsert_connection(&f.tenant, &new_connection(&f.employee, "tok")).await?;
    // The idempotency key was never begun, so completing it fails at the very end.
    let mut new = booking_at(&f, at(9 * 60));
    new.notifications = vec![notification("grace@example.com")];
    new.idempotency = Some(IdempotencyCompletion { key: "never-begun".into(), status: 201, body: "{}".into() });
    ensure!(matches!(s.create_booking(&f.tenant, &new).await, Err(StoreError::Conflict(_))));
    ensure!(matches!(s.booking(&f.tenant, &new.id).await, Err(StoreError::NotFound { .. })));
    for sql in [
        "SELECT CAST(COUNT(*) AS TEXT) FROM bookings",
        "SELECT CAST(COUNT(*) AS TEXT) FROM booking_history",
        "SELECT CAST(COUNT(*) AS TEXT) FROM calendar_sync_events",
        "SELECT CAST(COUNT(*) AS TEXT) FROM notifications",
    ] {
        ensure!(db.raw_texts(sql).await? == ["0"], "{sql} after a rolled-back booking");
    }
    // The slot is still free.
    s.create_booking(&f.tenant, &booking_at(&f, at(9 * 60))).await?;
    Ok(())
}

async fn idempotency_begin_complete_replay_and_reuse(db: &TestDb) -> Result<()> {
    let s = &db.store;
    let f = fixture(s, "Salon").await?;
    let other = fixture(s, "Other").await?;
    ensure!(s.begin_idempotent(&f.tenant, "k", "h1").await? == IdempotencyBegin::Started);
    ensure!(s.begin_idempotent(&f.tenant, "k", "h1").await? == IdempotencyBegin::InFlight);
    ensure!(s.begin_idempotent(&f.tenant, "k", "h2").await? == IdempotencyBegin::HashMismatch);
    // Keys are per tenant.
    ensure!(s.begin_idempotent(&other.tenant, "k", "h2").await? == IdempotencyBegin::Started);
    let completion = IdempotencyCompletion { key: "k".into(), status: 409, body: "{\"error\":{}}".into() };
    s.complete_idempotent(&f.tenant, &completion).await?;
    ensure!(matches!(s.complete_idempotent(&f.tenant, &completion).await, Err(StoreError::Conflict(_))));
    ensure!(
        s.begin_idempotent(&f.tenant, "k", "h1").await?
            == IdempotencyBegin::Completed { status: 409, body: "{\"error\":{}}".into() }
    );
    ensure!(s.begin_idempotent(&f.tenant, "k", "h2").await? == IdempotencyBegin::HashMismatch);
    let record = s.idempotency_record(&f.tenant, "k").await?.expect("stored");
    ensure!(record.request_hash == "h1" && record.response == Some((409, "{\"error\":{}}".into())));
    // A 5xx releases the key so that the client may retry.
    ensure!(s.begin_idempotent(&f.tenant, "k5", "h").await? == IdempotencyBegin::Started);
    s.release_idempotent(&f.tenant, "k5").await?;
    ensure!(s.begin_idempotent(&f.tenant, "k5", "other").await? == IdempotencyBegin::Started);
    // Purge removes what is older than the cutoff.
    ensure!(s.purge_idempotency_before(chrono::Utc::now() - TimeDelta::hours(1)).await? == 0);
    ensure!(s.purge_idempotency_before(chrono::Utc::now() + TimeDelta::hours(1)).await? == 3);
    ensure!(s.begin_idempotent(&f.tenant, "k", "h2").await? == IdempotencyBegin::Started);
    Ok(())
}

async fn connection_tokens_are_encrypted_at_rest(db: &TestDb) -> Result<()> {
    let s = &db.store;
    let f = fixture(s, "Salon").await?;
    let conn = s.upsert_connection(&f.tenant, &new_connection(&f.employee, "ya29.plain-access")).await?;
    ensure!(conn.access_token.expose_secret() == "ya29.plain-access");
    ensure!(conn.refresh_token.as_ref().map(|t| t.expose_secret().to_owned()) == Some("1//plain-refresh".into()));
    let secret = SecretString::from("channel-token-plain");
    s.set_connection_channel(
        &f.tenant,
        &conn.id,
        Some(store::ChannelRecord { id: "chan-1", resource_id: None, secret: &secret, expires_at: at(10_000) }),
    )
    .await?;
    s.update_connection_tokens(&f.tenant, &conn.id, &SecretString::from("ya29.rotated-plain"), None, Some(at(60)))
        .await?;
    s.record_connection_sync(&f.tenant, &conn.id, ConnectionStatus::Active, Some("sync-1"), None).await?;

    let raw = db
        .raw_texts("SELECT access_token || '|' || refresh_token || '|' || channel_secret FROM calendar_connections")
        .await?;
    ensure!(raw.len() == 1);
    for plain in ["ya29", "plain", "channel-token"] {
        ensure!(!raw[0].contains(plain), "plaintext {plain:?} in the raw row");
    }
    ensure!(raw[0].starts_with(s.cipher().current_key_id()));

    let by_channel = s.connection_by_channel("chan-1").await?.expect("found");
    ensure!(by_channel.tenant_id == f.tenant && by_channel.access_token.expose_secret() == "ya29.rotated-plain");
    ensure!(by_channel.refresh_token.map(|t| t.expose_secret().to_owned()) == Some("1//plain-refresh".into()));
    ensure!(by_channel.channel_secret.map(|t| t.expose_secret().to_owned()) == Some("channel-token-plain".into()));
    ensure!(by_channel.sync_token.as_deref() == Some("sync-1") && by_channel.last_sync_at.is_some());
    let debug = format!("{conn:?}");
    ensure!(!debug.contains("plain-access") && !debug.contains("plain-refresh"), "secret in Debug: {debug}");

    // Another key cannot read the tokens: a typed error, not garbage.
    let (wrong, _) = common::cipher_and_key();
    let other = Store::connect(&db.url, wrong).await?;
    ensure!(matches!(
        other.connection(&f.tenant, &conn.id).await,
        Err(StoreError::Crypto(CryptoError::UnknownKey { .. }))
    ));
    other.close().await;

    // External events round trip and go with the connection.
    let event = ExternalEvent {
        provider_event_id: "ev1".into(),
        start: at(60),
        end: at(120),
        all_day: false,
        blocks_time: true,
        etag: Some("\"1\"".into()),
        raw_status: "confirmed".into(),
    };
    s.upsert_external_events(&f.tenant, &conn.id, std::slice::from_ref(&event)).await?;
    let updated = ExternalEvent { end: at(180), etag: Some("\"2\"".into()), ..event };
    s.upsert_external_events(&f.tenant, &conn.id, std::slice::from_ref(&updated)).await?;
    ensure!(s.list_external_events(&f.tenant, &conn.id).await? == [updated]);
    ensure!(s.delete_external_events(&f.tenant, &conn.id, &["ev1".into(), "nope".into()]).await? == 1);
    s.upsert_external_events(
        &f.tenant,
        &conn.id,
        &[ExternalEvent { provider_event_id: "ev2".into(), ..event_at(0, 30) }],
    )
    .await?;
    s.delete_connection(&f.tenant, &conn.id).await?;
    ensure!(db.raw_texts("SELECT provider_event_id FROM external_events").await?.is_empty());
    ensure!(s.connection_by_channel("chan-1").await?.is_none());
    Ok(())
}

async fn availability_inputs_cover_the_window(db: &TestDb) -> Result<()> {
    let s = &db.store;
    let f = fixture(s, "Salon").await?;
    let day = 24 * 60;
    let inside = s.create_booking(&f.tenant, &booking_at(&f, at(day + 9 * 60))).await?;
    // Ends 07:55 of day 1, its buffer reaches 08:05: busy inside the window.
    let buffer_only = s.create_booking(&f.tenant, &booking_at(&f, at(day + 7 * 60 - 5))).await?;
    s.create_booking(&f.tenant, &booking_at(&f, at(5 * day))).await?;
    let cancelled = s.create_booking(&f.tenant, &booking_at(&f, at(day + 12 * 60))).await?;
    s.cancel_booking(
        &f.tenant,
        &cancelled.id,
        &CancelBooking { reason: None, actor: Actor::Api, notifications: vec![] },
    )
    .await?;
    let conn = s.upsert_connection(&f.tenant, &new_connection(&f.employee, "tok")).await?;
    s.upsert_external_events(
        &f.tenant,
        &conn.id,
        &[
            ExternalEvent { provider_event_id: "in".into(), ..event_at(day + 14 * 60, day + 15 * 60) },
            ExternalEvent { provider_event_id: "out".into(), ..event_at(3 * day, 3 * day + 60) },
            ExternalEvent { provider_event_id: "allday".into(), all_day: true, blocks_time: false, ..event_at(0, day) },
        ],
    )
    .await?;
    let weekly_off = s
        .add_time_off(
            &f.tenant,
            &f.employee,
            NewTimeOff {
                start: at(-7 * day),
                end: at(-7 * day + 60),
                rrule: Some("FREQ=WEEKLY".into()),
                exdates: vec![],
                reason: None,
            },
        )
        .await?;
    s.add_time_off(
        &f.tenant,
        &f.employee,
        NewTimeOff { start: at(-3 * day), end: at(-2 * day), rrule: None, exdates: vec![], reason: None },
    )
    .await?;
    s.add_holiday(&f.tenant, None, NaiveDate::from_ymd_opt(2030, 3, 1).expect("date"), "far away").await?;

    // The window is day 1 08:00 to day 2 00:00.
    let inputs =
        s.load_availability_inputs(&f.tenant, std::slice::from_ref(&f.employee), at(day + 8 * 60), at(2 * day)).await?;
    let e = &inputs.employees[0];
    let ids: Vec<_> = e.bookings.iter().map(|b| b.id.clone()).collect();
    ensure!(ids == [buffer_only.id.clone(), inside.id.clone()], "bookings: {ids:?}");
    ensure!(e.bookings[1].buffer_before_min == 10);
    let events: Vec<_> = e.external_events.iter().map(|x| x.provider_event_id.as_str()).collect();
    ensure!(events == ["allday", "in"], "events: {events:?}");
    ensure!(!e.external_events[0].blocks_time);
    ensure!(e.time_off.len() == 1 && e.time_off[0].id == weekly_off.id);
    ensure!(inputs.holidays.is_empty());
    ensure!(e.calendars.len() == 1 && e.calendars[0].status == ConnectionStatus::Active);
    ensure!(e.employee.timezone == "Europe/Berlin" && inputs.tenant.timezone == "Europe/Berlin");
    Ok(())
}

/// Below the store's own re-check: on PostgreSQL the exclusion constraint refuses an
/// overlapping confirmed row written by any client; on SQLite the database runs in WAL
/// mode so that readers never block the serialised writers.
async fn the_database_itself_refuses_double_booking(db: &TestDb) -> Result<()> {
    let s = &db.store;
    let f = fixture(s, "Salon").await?;
    let booking = s.create_booking(&f.tenant, &booking_at(&f, at(9 * 60))).await?;
    if !db.is_postgres() {
        ensure!(db.raw_texts("PRAGMA journal_mode").await? == ["wal"]);
        return Ok(());
    }
    let insert = |id: &str, status: &str, start: &str, end: &str| {
        format!(
            "INSERT INTO bookings (tenant_id, id, service_id, employee_id, status, start_at, end_at,
                buffer_before_min, buffer_after_min, buffered_start, buffered_end, customer_name,
                customer_email, created_at, updated_at)
             VALUES ('{t}', '{id}', '{s}', '{e}', '{status}', '{start}', '{end}', 0, 0, '{start}', '{end}',
                'x', 'x@example.com', now(), now())",
            t = f.tenant,
            s = f.service,
            e = f.employee,
        )
    };
    // Touches the buffered interval [08:50, 10:10): allowed.
    let start = booking.buffered_end().to_rfc3339();
    let end = (booking.buffered_end() + TimeDelta::hours(1)).to_rfc3339();
    ensure!(db.raw_execute(insert("touching", "confirmed", &start, &end)).await?.is_none());
    // Overlaps by a minute: refused by the exclusion constraint.
    let start = (booking.buffered_end() - TimeDelta::minutes(1)).to_rfc3339();
    let refused = db.raw_execute(insert("overlap", "confirmed", &start, &end)).await?;
    ensure!(
        refused == Some(("23P01".into(), Some("bookings_no_overlap".into()))),
        "expected an exclusion violation, got {refused:?}"
    );
    // Cancelled rows are outside the constraint.
    ensure!(db.raw_execute(insert("cancelled", "cancelled", &start, &end)).await?.is_none());
    Ok(())
}

async fn bulk_edit_is_all_or_nothing(db: &TestDb) -> Result<()> {
    let s = &db.store;
    let f = fixture(s, "Salon").await?;
    let second = s
        .create_employee(
            &f.tenant,
            store::NewEmployee {
                name: "Bob".into(),
                email: "bob@example.com".into(),
                timezone: "Europe/Berlin".into(),
                service_ids: vec![],
            },
        )
        .await?;
    let date = NaiveDate::from_ymd_opt(2030, 1, 7).expect("date");
    let mut edit = store::BulkEdit {
        employee_ids: vec![f.employee.clone(), second.id.clone(), store::EmployeeId::generate()],
        schedule: Some(store::HoursInput {
            timezone: "Europe/Berlin".into(),
            weekly: json!({"mon": [["08:00", "12:00"]]}),
            breaks: json!({}),
        }),
        holidays: vec![(date, "Closed".into())],
        special_dates: vec![(date, json!([]))],
        time_off: vec![NewTimeOff { start: at(60), end: at(90), rrule: None, exdates: vec![], reason: None }],
    };
    // An unknown employee: nothing is written for anyone.
    ensure!(matches!(s.apply_bulk_edit(&f.tenant, &edit).await, Err(StoreError::NotFound { .. })));
    ensure!(s.employee_schedule(&f.tenant, &f.employee).await?.is_none());
    edit.employee_ids.pop();
    ensure!(s.apply_bulk_edit(&f.tenant, &edit).await? == 2);
    let inputs =
        s.load_availability_inputs(&f.tenant, &[f.employee.clone(), second.id.clone()], at(0), at(24 * 60)).await?;
    for e in &inputs.employees {
        ensure!(e.schedule.as_ref().map(|h| &h.weekly) == Some(&json!({"mon": [["08:00", "12:00"]]})));
        ensure!(e.holidays.len() == 1 && e.special_dates.len() == 1 && e.time_off.len() == 1);
    }
    Ok(())
}

fn new_connection(employee: &store::EmployeeId, token: &str) -> NewCalendarConnection {
    NewCalendarConnection {
        employee_id: employee.clone(),
        provider: Provider::Google,
        calendar_id: "primary".into(),
        access_token: SecretString::from(token.to_owned()),
        refresh_token: Some(SecretString::from("1//plain-refresh")),
        token_expires_at: Some(at(60)),
    }
}

fn notification(recipient: &str) -> NewNotification {
    NewNotification {
        channel: "email".into(),
        recipient: recipient.into(),
        template: "booking.created".into(),
        payload: json!({"lang": "en"}),
    }
}

fn reschedule_to(start: chrono::DateTime<chrono::Utc>) -> RescheduleBooking {
    RescheduleBooking { start, employee_id: None, actor: Actor::Api, notifications: vec![], idempotency: None }
}

fn window(employee: Option<store::EmployeeId>) -> BookingFilter {
    BookingFilter { from: at(-10_000), to: at(10_000), employee_id: employee, status: None, after: None, limit: 100 }
}

fn event_at(start: i64, end: i64) -> ExternalEvent {
    ExternalEvent {
        provider_event_id: String::new(),
        start: at(start),
        end: at(end),
        all_day: false,
        blocks_time: true,
        etag: None,
        raw_status: "confirmed".into(),
    }
}
