#!/usr/bin/env node
'use strict';
// Writes one answer and one up-vote on it for model "example", then prints the response id:
//   node clients/typescript/example.js --bootstrap-servers HOST:PORT
const {KaizenProducer, newId} = require('./kaizen-wire');

async function main() {
  const at = process.argv.indexOf('--bootstrap-servers');
  if (at < 0 || !process.argv[at + 1]) {
    console.error('usage: node example.js --bootstrap-servers HOST:PORT');
    process.exit(2);
  }
  const producer = new KaizenProducer({bootstrapServers: process.argv[at + 1]});
  await producer.connect();
  try {
    const responseId = newId();
    await producer.logResponse({responseId, modelId: 'example', modelVersion: 0,
      prompt: [{role: 'user', content: 'What is Kaizen?'}], completion: 'Continuous improvement.'});
    await producer.vote({eventId: newId(), responseId, userId: 'example-user', modelId: 'example', vote: 'UP'});
    console.log(responseId);
  } finally {
    await producer.disconnect();
  }
}

main().catch((e) => {
  console.error(`example.js: ${e.message}`);
  process.exit(1);
});
