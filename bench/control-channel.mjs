#!/usr/bin/env node
// Control-channel throughput: JSON-RPC round trips per second to a real tideline-agent
// (auth, schema validation, dispatch, handler) against an anchor run in the same script: a
// bare ws server on the same TLS certificate that answers every frame with the agent's own
// reply bytes. The ratio agent/anchor is the cost of our protocol layer over raw wss.
// Usage: npm run build && node bench/control-channel.mjs [--requests N]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket, { WebSocketServer } from 'ws';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { requests: { type: 'string', default: '20000' } } });
const total = Number(values.requests);
const dir = mkdtempSync(join(tmpdir(), 'tideline-bench-'));
const agentBin = join(root, 'bin/tideline-agent.mjs');

const init = spawnSync(
  process.execPath,
  [agentBin, 'init', '--data-dir', join(dir, 'agent'), '--site', 'Bench'],
  {
    encoding: 'utf8',
  },
);
const token = init.stdout.match(/^token: (\S+)$/m)?.[1];
if (init.status !== 0 || !token) throw new Error(`init failed: ${init.stderr}`);

const agent = spawn(
  process.execPath,
  [agentBin, 'run', '--data-dir', join(dir, 'agent'), '--listen', '127.0.0.1:0'],
  {
    stdio: ['ignore', 'pipe', 'inherit'],
  },
);
const agentPort = await new Promise((resolve, reject) => {
  const lines = createInterface({ input: agent.stdout });
  lines.on('line', (line) => {
    try {
      const entry = JSON.parse(line);
      if (entry.msg === 'listening') resolve(entry.port);
    } catch {
      /* not a log line */
    }
  });
  agent.on('exit', (code) => reject(new Error(`agent exited ${code}`)));
});

function connect(port, headers = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://127.0.0.1:${port}/`, { headers, rejectUnauthorized: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** Sends `total` requests keeping `depth` in flight; returns requests per second. */
function measure(ws, depth, frame) {
  return new Promise((resolve) => {
    let sent = 0;
    let done = 0;
    const started = process.hrtime.bigint();
    const sendOne = () => ws.send(frame(sent++));
    ws.on('message', function onMessage() {
      done++;
      if (sent < total) sendOne();
      if (done === total) {
        ws.off('message', onMessage);
        resolve(total / (Number(process.hrtime.bigint() - started) / 1e9));
      }
    });
    for (let i = 0; i < depth && sent < total; i++) sendOne();
  });
}

const request = (id) => `{"jsonrpc":"2.0","id":${id},"method":"site.details"}`;
const client = await connect(agentPort, { Authorization: `Bearer ${token}` });
const helloReply = new Promise((resolve) => client.once('message', resolve));
client.send(
  JSON.stringify({
    jsonrpc: '2.0',
    id: 0,
    method: 'hello',
    params: { protocolVersion: 1, client: { product: 'bench', version: '1' } },
  }),
);
await helloReply;
const sample = await new Promise((resolve) => {
  client.once('message', (data) => resolve(String(data)));
  client.send(request(1));
});

// The anchor answers with the agent's own reply, so both move the same bytes.
const tls = {
  key: readFileSync(join(dir, 'agent/tls/key.pem')),
  cert: readFileSync(join(dir, 'agent/tls/cert.pem')),
};
const https = createServer(tls);
const wss = new WebSocketServer({ server: https });
wss.on('connection', (ws) => ws.on('message', () => ws.send(sample)));
await new Promise((resolve) => https.listen(0, '127.0.0.1', resolve));
const anchor = await connect(https.address().port);

console.log(`control channel: site.details round trips, ${total} requests each, wss on 127.0.0.1`);
for (const depth of [1, 16]) {
  const anchorRate = await measure(anchor, depth, request);
  const agentRate = await measure(client, depth, request);
  console.log(
    `  ${String(depth).padStart(2)} in flight: agent ${agentRate.toFixed(0)} req/s, anchor (bare ws) ${anchorRate.toFixed(0)} req/s, ratio ${(agentRate / anchorRate).toFixed(2)}`,
  );
}

client.close();
anchor.close();
wss.close();
https.close();
agent.kill('SIGTERM');
await new Promise((resolve) => agent.once('exit', resolve));
rmSync(dir, { recursive: true, force: true });
