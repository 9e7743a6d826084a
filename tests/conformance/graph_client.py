#!/usr/bin/env python3
"""Conformance: the official Microsoft Graph Python SDK (PyPI msgraph-sdk) against our Microsoft emulator.

Runs a scripted session through the SDK's own request builders and models — create an event with a
transactionId (twice: one event), get, patch, calendarView with paging, a delta round to a deltaLink and a
second delta round after a change (the SDK asks for `/me/calendarView/delta()`), a subscription (the emulator
performs the validation handshake against NOTIFICATION_URL before answering), delete. Every call must
succeed and every answer must deserialize into the SDK's models with the fields this script relies on.

Environment (set by crates/emulators/tests/graph_conformance.rs):
  GRAPH_BASE_URL      http://127.0.0.1:PORT/v1.0 of the emulator
  ACCESS_TOKEN        an access token the emulator issued (handed to the SDK by a static credential)
  NOTIFICATION_URL    a receiver that answers the validation handshake
Exit status 0 = conformant; otherwise the first failure is printed.
"""

import asyncio
import datetime
import os
import sys
import time

from azure.core.credentials import AccessToken
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphServiceClient
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
from msgraph.generated.models.event import Event
from msgraph.generated.models.free_busy_status import FreeBusyStatus
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.subscription import Subscription
from msgraph.generated.users.item.calendar_view.calendar_view_request_builder import CalendarViewRequestBuilder
from msgraph.generated.users.item.calendar_view.delta.delta_request_builder import DeltaRequestBuilder

GRAPH = os.environ["GRAPH_BASE_URL"].rstrip("/")
TOKEN = os.environ["ACCESS_TOKEN"]
NOTIFY = os.environ["NOTIFICATION_URL"]
START, END = "2030-01-01T00:00:00Z", "2030-03-01T00:00:00Z"


class EmulatorCredential:
    """An azure.core TokenCredential that hands the SDK the emulator's token."""

    def get_token(self, *scopes, **kwargs):
        return AccessToken(TOKEN, int(time.time()) + 3600)


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def event(subject, day, hour, transaction_id=None):
    return Event(
        subject=subject,
        body=ItemBody(content_type=BodyType.Text, content="conformance"),
        start=DateTimeTimeZone(date_time=f"2030-01-{day:02}T{hour:02}:00:00", time_zone="UTC"),
        end=DateTimeTimeZone(date_time=f"2030-01-{day:02}T{hour:02}:30:00", time_zone="UTC"),
        show_as=FreeBusyStatus.Busy,
        transaction_id=transaction_id,
    )


def utc_prefer(config):
    config.headers.add("Prefer", 'outlook.timezone="UTC"')
    return config


async def delta_round(client, first_config=None, link=None):
    """Follows nextLinks to the deltaLink; returns (items, deltaLink, pages)."""
    builder = client.me.calendar_view.delta
    page = await (builder.with_url(link).get() if link else builder.get(request_configuration=first_config))
    items, pages = list(page.value or []), 1
    while page.odata_next_link:
        check(page.odata_next_link.startswith(GRAPH), f"nextLink {page.odata_next_link} not absolute under {GRAPH}")
        page = await builder.with_url(page.odata_next_link).get()
        items.extend(page.value or [])
        pages += 1
    check(page.odata_delta_link, "round ended without @odata.deltaLink")
    return items, page.odata_delta_link, pages


async def session():
    client = GraphServiceClient(credentials=EmulatorCredential(), scopes=["https://graph.microsoft.com/.default"])
    client.request_adapter.base_url = GRAPH

    # Create with a transactionId; the retried create returns the same event.
    created = await client.me.events.post(event("conformance", 7, 9, transaction_id="conformance-tx-1"))
    check(created.id and created.transaction_id == "conformance-tx-1", f"create answer: {created}")
    again = await client.me.events.post(event("conformance", 7, 9, transaction_id="conformance-tx-1"))
    check(again.id == created.id, "a repeated transactionId created a second event")
    for i in range(6):
        await client.me.events.post(event(f"filler {i}", 8 + i, 10))

    got = await client.me.events.by_event_id(created.id).get()
    check(got.subject == "conformance" and got.start.time_zone == "UTC", f"get answer: {got}")
    patched = await client.me.events.by_event_id(created.id).patch(Event(subject="patched"))
    check(patched.subject == "patched" and patched.change_key != got.change_key, "patch did not apply")

    # calendarView with small pages: 7 events in pages of 3.
    query = CalendarViewRequestBuilder.CalendarViewRequestBuilderGetQueryParameters(
        start_date_time=START, end_date_time=END, top=3
    )
    page = await client.me.calendar_view.get(request_configuration=utc_prefer(RequestConfiguration(query_parameters=query)))
    seen, pages = list(page.value), 1
    while page.odata_next_link:
        page = await client.me.calendar_view.with_url(page.odata_next_link).get()
        seen.extend(page.value)
        pages += 1
    check(len(seen) == 7 and pages == 3, f"calendarView gave {len(seen)} events in {pages} pages")

    # Delta: a full round, then a change, then the second round sees only that change.
    dq = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(start_date_time=START, end_date_time=END)
    config = RequestConfiguration(query_parameters=dq)
    config.headers.add("Prefer", "odata.maxpagesize=3")
    items, delta_link, pages = await delta_round(client, first_config=config)
    check(len(items) == 7 and pages >= 3, f"first delta round: {len(items)} items in {pages} pages")
    await client.me.events.by_event_id(created.id).patch(Event(subject="patched again"))
    items, delta_link, _ = await delta_round(client, link=delta_link)
    check([e.id for e in items] == [created.id], f"second delta round: {[e.id for e in items]}")

    # Subscription: the emulator validates NOTIFICATION_URL before it answers 201.
    expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=2)
    sub = await client.subscriptions.post(
        Subscription(
            change_type="created,updated,deleted",
            notification_url=NOTIFY,
            lifecycle_notification_url=NOTIFY,
            resource="me/events",
            expiration_date_time=expiry,
            client_state="conformance-state",
        )
    )
    check(sub.id and sub.client_state == "conformance-state", f"subscription answer: {sub}")

    # Delete: the event is gone, and the next delta round reports it as @removed.
    await client.me.events.by_event_id(created.id).delete()
    items, _, _ = await delta_round(client, link=delta_link)
    removed = [e for e in items if "@removed" in (e.additional_data or {})]
    check([e.id for e in removed] == [created.id], f"delete not reported as @removed: {items}")
    await client.subscriptions.by_subscription_id(sub.id).delete()


def main():
    try:
        asyncio.run(session())
    except Exception as e:  # noqa: BLE001 - report whatever the SDK raised
        print(f"graph conformance FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print("graph conformance: 1 passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
