"""Test driver: records as JSON lines on stdin, each {"kind": "response"|"feedback", "record": {...}, "schema_file": optional},
times in epoch milliseconds. `encode` prints each one's bytes in hex; `send BOOTSTRAP RESPONSES FEEDBACK` sends them in order."""

import json
import sys
from datetime import datetime, timedelta, timezone

import kaizen_wire

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def parse(raw):
    line = json.loads(raw)
    record = dict(line["record"])
    for field in ("event_time", "created_at"):
        if field in record:
            record[field] = EPOCH + timedelta(milliseconds=record[field])
    make = kaizen_wire.feedback if line["kind"] == "feedback" else kaizen_wire.responses
    return line["kind"], record, make(schema_file=line.get("schema_file"))


if sys.argv[1] == "encode":
    for raw in sys.stdin:
        _, record, codec = parse(raw)
        print(codec.encode(record).hex())
else:
    producer = kaizen_wire.KaizenProducer(sys.argv[2], responses_topic=sys.argv[3], feedback_topic=sys.argv[4])
    for raw in sys.stdin:
        kind, record, codec = parse(raw)
        (producer.send_feedback if kind == "feedback" else producer.send_response)(record, codec)
    producer.flush()
