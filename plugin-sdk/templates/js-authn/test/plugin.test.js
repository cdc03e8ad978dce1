// The plugin's logic, run natively in Node: `npm test`.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { authenticator } from '../src/plugin.js';

const configure = (keys) => authenticator.configure({ settings: [{ key: 'keys', value: keys }], files: [] });
const request = (headers) => ({ method: 'GET', path: '/api/v2/auth/identity', headers, receivedAt: 0n });

test('a key is its team', () => {
  configure('search:k1\nads:k2\n');
  const who = authenticator.authenticate(request([['x-team-key', 'k2']]));
  assert.equal(who.userId, 'ads');
  assert.deepEqual(who.attributes, [['team', 'ads']]);
});

test('a wrong key or none is refused', () => {
  configure('search:k1\n');
  assert.throws(() => authenticator.authenticate(request([['x-team-key', 'nope']])), { tag: 'bad-credentials' });
  assert.throws(() => authenticator.authenticate(request([])), { tag: 'no-credentials' });
});

test('a bad line is refused with its number', () => {
  assert.throws(() => configure('search:k1\n\nno-colon\n'), { line: 3, message: 'expected team:key' });
});
