// Types of kaizen-wire.js: Kaizen's wire format for TypeScript chat backends.
import type {Producer, Kafka, KafkaConfig, RecordMetadata} from 'kafkajs';
import type {Type} from 'avsc';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool' | string;
  content: string;
}

export type Vote = 'UP' | 'DOWN' | 'CLEAR';

/** A ResponseLogged record as Avro encodes it (field names as in schemas/ResponseLogged.avsc). */
export interface ResponseLoggedRecord {
  response_id: string;
  model_id: string;
  model_version: number;
  prompt: ChatMessage[];
  completion: string;
  /** Milliseconds since the epoch, UTC. */
  created_at: number;
}

/** A FeedbackEvent record as Avro encodes it (field names as in schemas/FeedbackEvent.avsc). */
export interface FeedbackEventRecord {
  event_id: string;
  response_id: string;
  user_id: string;
  model_id: string;
  vote: Vote;
  /** Milliseconds since the epoch, UTC. */
  event_time: number;
  prompt: ChatMessage[] | null;
  completion: string | null;
  attributes: Record<string, string> | null;
}

export interface ResponseFields {
  responseId: string;
  modelId: string;
  modelVersion: number;
  prompt: ChatMessage[];
  completion: string;
  /** Default: now. */
  createdAt?: Date | number;
}

export interface FeedbackFields {
  /** A retry must reuse it, so the vote counts once. */
  eventId: string;
  responseId: string;
  userId: string;
  modelId: string;
  vote: Vote;
  /** Default: now. */
  eventTime?: Date | number;
  /** The answer's text, for products that send it with the vote; otherwise the job joins it from chat-responses. */
  prompt?: ChatMessage[];
  completion?: string;
  attributes?: Record<string, string>;
}

/** The repository's schemas/ folder, or KAIZEN_SCHEMAS. */
export const SCHEMAS: string;

/** CRC-64-AVRO of a schema's parsing canonical form. */
export function fingerprint(canonicalForm: string): bigint;

/** Single-object encoding of one record type with one writer schema (an .avsc file). */
export class Codec<T> {
  constructor(schemaFile: string, schemasDir?: string);
  readonly type: Type;
  readonly header: Buffer;
  encode(record: T): Buffer;
}

/** schemaFile picks another released version (schemas/history/). */
export function responses(schemasDir?: string, schemaFile?: string): Codec<ResponseLoggedRecord>;
export function feedback(schemasDir?: string, schemaFile?: string): Codec<FeedbackEventRecord>;
export function responseRecord(fields: ResponseFields): ResponseLoggedRecord;
export function feedbackRecord(fields: FeedbackFields): FeedbackEventRecord;
export function newId(): string;

export interface ProducerOptions {
  /** HOST:PORT[,HOST:PORT…] */
  bootstrapServers: string;
  responsesTopic?: string;
  feedbackTopic?: string;
  schemasDir?: string;
  clientId?: string;
  /** Merged into kafkajs's own configuration (ssl, sasl, …). */
  kafka?: Partial<KafkaConfig>;
}

/** Sends answers and votes as serving does: keyed by response id, idempotent, acknowledged by all in-sync replicas. */
export class KaizenProducer {
  constructor(options: ProducerOptions);
  readonly kafka: Kafka;
  readonly producer: Producer;
  connect(): Promise<void>;
  logResponse(fields: ResponseFields): Promise<RecordMetadata[]>;
  vote(fields: FeedbackFields): Promise<RecordMetadata[]>;
  sendResponse(record: ResponseLoggedRecord, codec?: Codec<ResponseLoggedRecord>): Promise<RecordMetadata[]>;
  sendFeedback(record: FeedbackEventRecord, codec?: Codec<FeedbackEventRecord>): Promise<RecordMetadata[]>;
  disconnect(): Promise<void>;
}
