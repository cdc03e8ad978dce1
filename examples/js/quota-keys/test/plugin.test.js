// The example's logic, run natively in Node: `npm test`.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';

import { authenticator } from '../src/plugin.js';

const sha = (key) => createHash('sha256').update(key).digest('hex');
const configure = (text) => authenticator.configure({ settings: [{ key: 'keys', value: text }], files: [] });
const at = (seconds, key) => ({ method: 'GET', path: '/', headers: [['x-api-key', key]], receivedAt: BigInt(seconds) });
const T = Date.UTC(2026, 11, 2, 10, 0, 0) / 1000; // on a minute boundary

test('a key is its name, by header or bearer token', () => {
  configure(`search ${sha('k1')} unlimited never\n`);
  assert.equal(authenticator.authenticate(at(T, 'k1')).userId, 'search');
  const bearer = { method: 'GET', path: '/', headers: [['authorization', 'Bearer k1']], receivedAt: BigInt(T) };
  assert.equal(authenticator.authenticate(bearer).userId, 'search');
  assert.throws(() => authenticator.authenticate(at(T, 'k2')), { tag: 'bad-credentials' });
  assert.throws(() => authenticator.authenticate({ ...at(T, ''), headers: [] }), { tag: 'no-credentials' });
});

test('a quota holds within its window and starts again in the next', () => {
  configure(`etl ${sha('k')} 3/min never\n`);
  for (let i = 0; i < 3; i++) authenticator.authenticate(at(T + i, 'k'));
  assert.throws(() => authenticator.authenticate(at(T + 59, 'k')), (e) => e.tag === 'refused' && /quota of 3\/min.*ends in 1 s/.test(e.val));
  assert.equal(authenticator.authenticate(at(T + 60, 'k')).userId, 'etl');
});

test('a key expires at its date', () => {
  configure(`old ${sha('k')} unlimited 2026-12-02T10:00:00Z\n`);
  assert.equal(authenticator.authenticate(at(T - 1, 'k')).userId, 'old');
  assert.throws(() => authenticator.authenticate(at(T, 'k')), (e) => e.tag === 'refused' && /expired at 2026-12-02T10:00:00Z/.test(e.val));
});

test('bad lines are refused with their numbers', () => {
  const cases = [
    [`# keys\n\nx ${sha('a')} 3/min`, 3, /4 fields/],
    [`x abc 3/min never`, 1, /64 hex digits/],
    [`x ${sha('a')} 3/fortnight never`, 1, /quota/],
    [`x ${sha('a')} 3/min 2026-02-30`, 1, /expires/],
    [`x ${sha('a')} 3/min never\nx ${sha('b')} 3/min never`, 2, /twice/],
    [`x ${sha('a')} 3/min never\ny ${sha('a')} 3/min never`, 2, /also x's/],
  ];
  for (const [text, line, message] of cases) {
    assert.throws(() => configure(text), (e) => e.line === line && message.test(e.message), text);
  }
});
