"""An SMTP sink for slotwise's tests (started by tests/api/notifications.rs).

aiosmtpd listens on 127.0.0.1 on a free port, printed as the first line of stdout.
Each message received is written to OUT_DIR/NNNN.json: the envelope, the headers,
every leaf MIME part, and each text/calendar part parsed with the `icalendar` package
(an iCalendar parser independent of the Rust writer).

Usage: python3 smtp_sink.py OUT_DIR
"""

import asyncio
import email
import email.policy
import json
import os
import sys

import icalendar
from aiosmtpd.smtp import SMTP


def parse_calendar(text):
    cal = icalendar.Calendar.from_ical(text)
    events = list(cal.walk("VEVENT"))
    event = events[0]
    return {
        "version": str(cal.get("VERSION")),
        "method": str(cal.get("METHOD")),
        "events": len(events),
        "uid": str(event.get("UID")),
        "sequence": int(event.get("SEQUENCE")),
        "status": str(event.get("STATUS")),
        "dtstart": event.decoded("DTSTART").isoformat(),
        "dtend": event.decoded("DTEND").isoformat(),
        "summary": str(event.get("SUMMARY")),
        "organizer": str(event.get("ORGANIZER")),
    }


class Handler:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        record = {"mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos), "parts": []}
        try:
            msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
            record["subject"] = str(msg["subject"])
            record["message_id"] = str(msg["message-id"])
            record["to"] = str(msg["to"])
            record["content_type"] = msg.get_content_type()
            for part in msg.walk():
                if part.is_multipart():
                    continue
                body = part.get_content()
                if isinstance(body, bytes):
                    body = body.decode("utf-8")
                entry = {
                    "content_type": part.get_content_type(),
                    "params": {k: v for k, v in (part.get_params() or [])[1:]},
                    "filename": part.get_filename(),
                    "body": body,
                }
                if entry["content_type"] == "text/calendar":
                    entry["parsed"] = parse_calendar(body)
                record["parts"].append(entry)
        except Exception as error:  # reported to the test, which fails with it
            record["error"] = repr(error)
        self.count += 1
        name = os.path.join(self.out_dir, "%04d.json" % self.count)
        with open(name + ".partial", "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.rename(name + ".partial", name)
        return "250 OK"


async def main():
    handler = Handler(sys.argv[1])
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler, hostname="sink"), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
