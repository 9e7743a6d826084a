#!/usr/bin/env python3
"""Conformance: Google's official Python client (PyPI google-api-python-client) against our Google emulator.

Runs a scripted session — insert with a client id, get, patch, list with paging, incremental list with the
sync token, watch, stop, delete, freeBusy — through the client built from the discovery document that ships
in the wheel (static_discovery=True, nothing fetched from Google). Every call must succeed, and every
answer must carry only fields the discovery document declares, including the ones this script relies on.

Environment (set by crates/emulators/tests/conformance.rs):
  EMULATOR_BASE_URL   http://127.0.0.1:PORT of the emulator
  REFRESH_TOKEN       a refresh token the emulator issued
  CLIENT_ID, CLIENT_SECRET
  PUSH_ADDRESS        where the emulator should POST push notifications
Exit status 0 = conformant; otherwise the first failure is printed.
"""

import json
import os
import pathlib
import sys

import googleapiclient
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build

BASE = os.environ["EMULATOR_BASE_URL"].rstrip("/")
SCOPES = [
    "https://www.googleapis.com/auth/calendar.events",
    "https://www.googleapis.com/auth/calendar.freebusy",
]

DISCOVERY = json.loads(
    (pathlib.Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / "calendar.v3.json").read_text()
)
SCHEMAS = DISCOVERY["schemas"]


def check_schema(value, schema_name, path):
    """Every key of `value` must be declared by the schema (recursively for $ref objects and arrays)."""
    schema = SCHEMAS[schema_name]
    props = schema.get("properties", {})
    if not isinstance(value, dict):
        raise AssertionError(f"{path}: expected an object for {schema_name}, got {value!r}")
    for key, item in value.items():
        if key not in props:
            raise AssertionError(f"{path}.{key}: not in the discovery schema {schema_name}")
        check_property(item, props[key], f"{path}.{key}")


def check_property(value, prop, path):
    if "$ref" in prop:
        check_schema(value, prop["$ref"], path)
    elif prop.get("type") == "array" and isinstance(value, list):
        for i, item in enumerate(value):
            check_property(item, prop.get("items", {}), f"{path}[{i}]")
    elif prop.get("type") == "object" and isinstance(value, dict) and "properties" in prop:
        for key, item in value.items():
            if key not in prop["properties"]:
                raise AssertionError(f"{path}.{key}: not declared")
            check_property(item, prop["properties"][key], f"{path}.{key}")
    elif prop.get("type") == "string" and value is not None and not isinstance(value, str):
        raise AssertionError(f"{path}: expected a string, got {value!r}")


def require(value, fields, what):
    missing = [f for f in fields if f not in value]
    if missing:
        raise AssertionError(f"{what}: missing {missing} in {value}")


def main():
    creds = Credentials(
        token=None,
        refresh_token=os.environ["REFRESH_TOKEN"],
        client_id=os.environ["CLIENT_ID"],
        client_secret=os.environ["CLIENT_SECRET"],
        token_uri=f"{BASE}/token",
        scopes=SCOPES,
    )
    cal = build(
        "calendar",
        "v3",
        credentials=creds,
        static_discovery=True,
        client_options={"api_endpoint": f"{BASE}/calendar/v3/"},
    )
    events = cal.events()

    def timed(day, hour):
        return {"dateTime": f"2030-02-{day:02d}T{hour:02d}:00:00+01:00", "timeZone": "Europe/Berlin"}

    body = {
        "id": "conformance0001",
        "summary": "conformance",
        "start": timed(3, 9),
        "end": timed(3, 10),
        "extendedProperties": {"private": {"slotwiseBooking": "b-1"}},
    }
    inserted = events.insert(calendarId="primary", body=body, sendUpdates="none").execute()
    check_schema(inserted, "Event", "insert")
    require(inserted, ["kind", "etag", "id", "status", "htmlLink", "created", "updated", "start", "end", "iCalUID"], "insert")
    assert inserted["id"] == "conformance0001", inserted

    got = events.get(calendarId="primary", eventId="conformance0001").execute()
    check_schema(got, "Event", "get")
    assert got["etag"] == inserted["etag"], (got, inserted)

    patched = events.patch(calendarId="primary", eventId="conformance0001", body={"summary": "patched"}).execute()
    check_schema(patched, "Event", "patch")
    assert patched["summary"] == "patched" and patched["etag"] != inserted["etag"], patched

    for i in range(4):
        events.insert(calendarId="primary", body={"summary": f"e{i}", "start": timed(4 + i, 9), "end": timed(4 + i, 10)}).execute()

    request = events.list(calendarId="primary", singleEvents=True, maxResults=2)
    pages, items, sync_token = 0, [], None
    while request is not None:
        page = request.execute()
        check_schema(page, "Events", f"list page {pages}")
        require(page, ["kind", "etag", "items"], "list page")
        pages += 1
        items += page["items"]
        sync_token = page.get("nextSyncToken", sync_token)
        request = events.list_next(request, page)
    assert len(items) == 5 and pages == 3, (len(items), pages)
    assert sync_token, "the last page carries nextSyncToken"

    added = events.insert(calendarId="primary", body={"summary": "late", "start": timed(10, 9), "end": timed(10, 10)}).execute()
    events.delete(calendarId="primary", eventId="conformance0001").execute()
    delta = events.list(calendarId="primary", singleEvents=True, maxResults=2, syncToken=sync_token).execute()
    delta_items = list(delta["items"])
    while "nextPageToken" in delta:
        delta = events.list(
            calendarId="primary", singleEvents=True, maxResults=2, syncToken=sync_token, pageToken=delta["nextPageToken"]
        ).execute()
        delta_items += delta["items"]
    check_schema(delta, "Events", "incremental list")
    by_id = {e["id"]: e for e in delta_items}
    assert by_id.get(added["id"], {}).get("status") == "confirmed", delta_items
    assert by_id.get("conformance0001", {}).get("status") == "cancelled", delta_items
    assert "nextSyncToken" in delta, delta

    channel = events.watch(
        calendarId="primary",
        body={
            "id": "0b7c6a52-2d0e-4d64-9b43-3f3c5e0f1a77",
            "type": "web_hook",
            "address": os.environ["PUSH_ADDRESS"],
            "token": "conformance-token",
            "params": {"ttl": "3600"},
        },
    ).execute()
    check_schema(channel, "Channel", "watch")
    require(channel, ["kind", "id", "resourceId", "resourceUri", "expiration"], "watch")
    assert channel["kind"] == "api#channel", channel
    cal.channels().stop(body={"id": channel["id"], "resourceId": channel["resourceId"]}).execute()

    events.delete(calendarId="primary", eventId=added["id"]).execute()

    busy = cal.freebusy().query(
        body={"timeMin": "2030-02-01T00:00:00Z", "timeMax": "2030-02-15T00:00:00Z", "items": [{"id": "primary"}]}
    ).execute()
    check_schema(busy, "FreeBusyResponse", "freeBusy")
    require(busy, ["kind", "timeMin", "timeMax", "calendars"], "freeBusy")
    assert len(busy["calendars"]["primary"]["busy"]) == 4, busy

    print("google conformance: 1 passed, 0 failed")


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:  # noqa: BLE001 - report any failure with its message and exit non-zero
        print(f"google conformance failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
