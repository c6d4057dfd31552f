'use strict';
// Test driver: records as JSON lines on stdin, each {"kind": "response"|"feedback", "record": {...}, "schema_file": optional},
// times in epoch milliseconds. `encode` prints each one's bytes in hex; `send BOOTSTRAP RESPONSES FEEDBACK` sends them in order.
const wire = require(process.env.KAIZEN_WIRE);

function parse(raw) {
  const line = JSON.parse(raw);
  const make = line.kind === 'feedback' ? wire.feedback : wire.responses;
  return {kind: line.kind, record: line.record, codec: make(undefined, line.schema_file)};
}

async function main() {
  const lines = require('fs').readFileSync(0, 'utf8').split('\n').filter((l) => l.trim());
  if (process.argv[2] === 'encode') {
    lines.map(parse).forEach(({record, codec}) => console.log(codec.encode(record).toString('hex')));
    return;
  }
  const producer = new wire.KaizenProducer({bootstrapServers: process.argv[3], responsesTopic: process.argv[4],
    feedbackTopic: process.argv[5]});
  await producer.connect();
  try {
    for (const {kind, record, codec} of lines.map(parse)) {
      await (kind === 'feedback' ? producer.sendFeedback(record, codec) : producer.sendResponse(record, codec));
    }
  } finally {
    await producer.disconnect();
  }
}

main().catch((e) => {
  console.error(e.stack);
  process.exit(1);
});
