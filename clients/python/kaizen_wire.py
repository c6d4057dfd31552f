"""Kaizen's wire format for Python chat backends.

Writes ResponseLogged (topic chat-responses) and FeedbackEvent (topic chat-feedback) records as
Kaizen's job reads them: Avro single-object encoding (0xC3 0x01, the CRC-64-AVRO fingerprint of
the writer schema's parsing canonical form, little-endian, then the binary body), from the .avsc
files of the repository's schemas/ folder. Needs Debian's python3-avro and, to send,
python3-confluent-kafka.

    producer = KaizenProducer("localhost:9092")
    producer.log_response("r-1", "support-bot", 3, [{"role": "user", "content": "Hi"}], "Hello!")
    producer.vote("e-1", "r-1", "user-42", "support-bot", "UP")
    producer.flush()
"""

import io
import json
import os
import re
import uuid
from datetime import datetime, timezone
from pathlib import Path

import avro.errors
import avro.io
import avro.schema

# The repository's schemas/ folder; KAIZEN_SCHEMAS points elsewhere when this file is copied out.
SCHEMAS = Path(os.environ.get("KAIZEN_SCHEMAS", Path(__file__).resolve().parent.parent.parent / "schemas"))

MARKER = b"\xc3\x01"
_EMPTY = 0xC15D213AA4D7A795  # the spec's CRC-64-AVRO seed
_TABLE = []
for _i in range(256):
    _fp = _i
    for _ in range(8):
        _fp = (_fp >> 1) ^ (_EMPTY & -(_fp & 1))
    _TABLE.append(_fp)


def fingerprint(canonical_form):
    """CRC-64-AVRO (Rabin) of a schema's parsing canonical form, as the Avro specification defines it."""
    fp = _EMPTY
    for byte in canonical_form.encode("utf-8"):
        fp = (fp >> 8) ^ _TABLE[(fp ^ byte) & 0xFF]
    return fp


def canonical_form(schema):
    """The schema's parsing canonical form. python3-avro 1.11 leaves a primitive with a logical type
    (timestamp-millis) as {"type":"long"}; the specification, and so Java, writes it "long"."""
    return re.sub(r'\{"type":"(null|boolean|int|long|float|double|bytes|string)"\}', r'"\1"', schema.canonical_form)


def _load(path, schemas_dir):
    """Parses an .avsc; schemas/ defines ChatMessage in a file of its own, a released version inline."""
    schema = json.loads(Path(path).read_text(encoding="utf-8"))
    try:
        return avro.schema.make_avsc_object(schema, avro.schema.Names())
    except avro.errors.SchemaParseException:
        names = avro.schema.Names()
        avro.schema.make_avsc_object(json.loads((schemas_dir / "ChatMessage.avsc").read_text(encoding="utf-8")), names)
        return avro.schema.make_avsc_object(schema, names)


class Codec:
    """Encodes one record type in single-object encoding with one writer schema (an .avsc file)."""

    def __init__(self, schema_file, schemas_dir=SCHEMAS):
        self.schema = _load(schema_file, Path(schemas_dir))
        self.header = MARKER + fingerprint(canonical_form(self.schema)).to_bytes(8, "little")
        self._writer = avro.io.DatumWriter(self.schema)

    def encode(self, record):
        """The record (a dict of the schema's fields) as bytes for Kafka; raises on a field of the wrong type."""
        out = io.BytesIO()
        out.write(self.header)
        self._writer.write(record, avro.io.BinaryEncoder(out))
        return out.getvalue()


def responses(schemas_dir=SCHEMAS, schema_file=None):
    """The ResponseLogged codec; schema_file picks another released version (schemas/history/)."""
    return Codec(schema_file or Path(schemas_dir) / "ResponseLogged.avsc", schemas_dir)


def feedback(schemas_dir=SCHEMAS, schema_file=None):
    """The FeedbackEvent codec; schema_file picks another released version (schemas/history/)."""
    return Codec(schema_file or Path(schemas_dir) / "FeedbackEvent.avsc", schemas_dir)


def _time(at):
    return at if at is not None else datetime.now(timezone.utc)


def _messages(prompt):
    return [{"role": m["role"], "content": m["content"]} for m in prompt]


def response_record(response_id, model_id, model_version, prompt, completion, created_at=None):
    """A ResponseLogged: one answer as it was served. prompt is a list of {"role", "content"} dicts."""
    return {"response_id": response_id, "model_id": model_id, "model_version": model_version,
            "prompt": _messages(prompt),
            "completion": completion, "created_at": _time(created_at)}


def feedback_record(event_id, response_id, user_id, model_id, vote, event_time=None, prompt=None, completion=None,
                    attributes=None):
    """A FeedbackEvent: vote is "UP", "DOWN" or "CLEAR"; a retry must reuse event_id so the vote counts once."""
    return {"event_id": event_id, "response_id": response_id, "user_id": user_id, "model_id": model_id,
            "vote": vote, "event_time": _time(event_time),
            "prompt": None if prompt is None else _messages(prompt),
            "completion": completion, "attributes": attributes}


class KaizenProducer:
    """Sends answers and votes to Kafka as serving does: keyed by response id, idempotent, acks from all replicas."""

    def __init__(self, bootstrap_servers, responses_topic="chat-responses", feedback_topic="chat-feedback",
                 schemas_dir=SCHEMAS, **config):
        from confluent_kafka import Producer

        settings = {"bootstrap.servers": bootstrap_servers, "enable.idempotence": True, "acks": "all",
                    # The Java client's partitioner: an answer and its votes land where serving would put them.
                    "partitioner": "murmur2_random"}
        settings.update(config)
        self._producer = Producer(settings)
        self.responses_topic = responses_topic
        self.feedback_topic = feedback_topic
        self._responses = responses(schemas_dir)
        self._feedback = feedback(schemas_dir)
        self._errors = []

    def log_response(self, response_id, model_id, model_version, prompt, completion, created_at=None):
        self.send_response(response_record(response_id, model_id, model_version, prompt, completion, created_at))

    def vote(self, event_id, response_id, user_id, model_id, vote, event_time=None, **text):
        self.send_feedback(feedback_record(event_id, response_id, user_id, model_id, vote, event_time, **text))

    def send_response(self, record, codec=None):
        self._send(self.responses_topic, record["response_id"], (codec or self._responses).encode(record))

    def send_feedback(self, record, codec=None):
        self._send(self.feedback_topic, record["response_id"], (codec or self._feedback).encode(record))

    def _send(self, topic, key, value):
        self._producer.produce(topic, value=value, key=key.encode("utf-8"), on_delivery=self._delivered)
        self._producer.poll(0)

    def _delivered(self, error, message):
        if error is not None:
            self._errors.append(f"{message.topic()}: {error}")

    def flush(self, timeout=30.0):
        """Waits until every record is acknowledged; raises if any could not be written."""
        left = self._producer.flush(timeout)
        if left or self._errors:
            raise RuntimeError(f"{left} records unsent, errors: {self._errors}")


def new_id():
    return str(uuid.uuid4())
