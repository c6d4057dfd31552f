'use strict';
// Kaizen's wire format for TypeScript and JavaScript chat backends (types: kaizen-wire.d.ts).
//
// Writes ResponseLogged (topic chat-responses) and FeedbackEvent (topic chat-feedback) records as
// Kaizen's job reads them: Avro single-object encoding (0xC3 0x01, the CRC-64-AVRO fingerprint of
// the writer schema's parsing canonical form, little-endian, then the binary body), from the .avsc
// files of the repository's schemas/ folder, with avsc; sent with kafkajs.

const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const avro = require('avsc');

// The repository's schemas/ folder; KAIZEN_SCHEMAS points elsewhere when this file is copied out.
const SCHEMAS = process.env.KAIZEN_SCHEMAS || path.resolve(__dirname, '..', '..', 'schemas');

const EMPTY = 0xc15d213aa4d7a795n; // the spec's CRC-64-AVRO seed
const TABLE = Array.from({length: 256}, (_, i) => {
  let fp = BigInt(i);
  for (let j = 0; j < 8; j++) {
    fp = (fp >> 1n) ^ (EMPTY & -(fp & 1n));
  }
  return fp;
});

/** CRC-64-AVRO (Rabin) of a schema's parsing canonical form, as the Avro specification defines it. */
function fingerprint(canonicalForm) {
  let fp = EMPTY;
  for (const byte of Buffer.from(canonicalForm, 'utf8')) {
    fp = (fp >> 8n) ^ TABLE[Number((fp ^ BigInt(byte)) & 0xffn)];
  }
  return fp;
}

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/** Encodes one record type in single-object encoding with one writer schema (an .avsc file). */
class Codec {
  constructor(schemaFile, schemasDir = SCHEMAS) {
    // schemas/ defines ChatMessage in a file of its own, a released version inline.
    const schema = readJson(schemaFile);
    try {
      this.type = avro.Type.forSchema(schema);
    } catch (e) {
      const registry = {};
      avro.Type.forSchema(readJson(path.join(schemasDir, 'ChatMessage.avsc')), {registry});
      this.type = avro.Type.forSchema(schema, {registry});
    }
    this.header = Buffer.alloc(10);
    this.header.writeUInt8(0xc3, 0);
    this.header.writeUInt8(0x01, 1);
    // schema() is the Parsing Canonical Form, as an object whose keys are in the form's order.
    this.header.writeBigUInt64LE(fingerprint(JSON.stringify(this.type.schema())), 2);
  }

  /** The record as bytes for Kafka; throws when a field has the wrong type. */
  encode(record) {
    return Buffer.concat([this.header, this.type.toBuffer(record)]);
  }
}

function responses(schemasDir = SCHEMAS, schemaFile = undefined) {
  return new Codec(schemaFile || path.join(schemasDir, 'ResponseLogged.avsc'), schemasDir);
}

function feedback(schemasDir = SCHEMAS, schemaFile = undefined) {
  return new Codec(schemaFile || path.join(schemasDir, 'FeedbackEvent.avsc'), schemasDir);
}

function millis(at) {
  return at === undefined || at === null ? Date.now() : at instanceof Date ? at.getTime() : at;
}

function messages(prompt) {
  return prompt.map((m) => ({role: m.role, content: m.content}));
}

/** A ResponseLogged: one answer as it was served. */
function responseRecord({responseId, modelId, modelVersion, prompt, completion, createdAt}) {
  return {response_id: responseId, model_id: modelId, model_version: modelVersion, prompt: messages(prompt),
    completion, created_at: millis(createdAt)};
}

/** A FeedbackEvent: vote is UP, DOWN or CLEAR; a retry must reuse eventId so the vote counts once. */
function feedbackRecord({eventId, responseId, userId, modelId, vote, eventTime, prompt, completion, attributes}) {
  // A union's branch is named in avsc's unwrapped form: null or the value itself.
  return {event_id: eventId, response_id: responseId, user_id: userId, model_id: modelId, vote,
    event_time: millis(eventTime), prompt: prompt ? messages(prompt) : null, completion: completion ?? null,
    attributes: attributes ?? null};
}

/** Sends answers and votes to Kafka as serving does: keyed by response id, idempotent, acks from all replicas. */
class KaizenProducer {
  constructor({bootstrapServers, responsesTopic = 'chat-responses', feedbackTopic = 'chat-feedback',
    schemasDir = SCHEMAS, clientId = 'kaizen-wire', kafka = {}}) {
    const {Kafka, logLevel} = require('kafkajs');
    this.kafka = new Kafka({clientId, brokers: bootstrapServers.split(','), logLevel: logLevel.WARN, ...kafka});
    // kafkajs's default partitioner is the Java client's (murmur2): an answer and its votes land where serving would put them.
    this.producer = this.kafka.producer({idempotent: true, maxInFlightRequests: 1});
    this.responsesTopic = responsesTopic;
    this.feedbackTopic = feedbackTopic;
    this.responses = responses(schemasDir);
    this.feedback = feedback(schemasDir);
  }

  connect() {
    return this.producer.connect();
  }

  logResponse(fields) {
    return this.sendResponse(responseRecord(fields));
  }

  vote(fields) {
    return this.sendFeedback(feedbackRecord(fields));
  }

  sendResponse(record, codec = this.responses) {
    return this.send(this.responsesTopic, record.response_id, codec.encode(record));
  }

  sendFeedback(record, codec = this.feedback) {
    return this.send(this.feedbackTopic, record.response_id, codec.encode(record));
  }

  /** Resolves once the broker acknowledged the record from all in-sync replicas. */
  send(topic, key, value) {
    return this.producer.send({topic, acks: -1, messages: [{key, value}]});
  }

  disconnect() {
    return this.producer.disconnect();
  }
}

function newId() {
  return crypto.randomUUID();
}

module.exports = {SCHEMAS, Codec, KaizenProducer, feedback, feedbackRecord, fingerprint, newId, responseRecord, responses};
