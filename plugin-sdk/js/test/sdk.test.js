import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';

import * as sdk from '../index.js';

const request = (headers) => ({ method: 'GET', path: '/', headers, receivedAt: 0n });

test('sha256 agrees with Node for lengths around the block boundaries', () => {
  for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000]) {
    const text = 'é'.repeat(n).slice(0, n) + 'x'.repeat(n % 7);
    assert.equal(sdk.sha256Hex(text), createHash('sha256').update(text, 'utf8').digest('hex'), `length ${n}`);
  }
});

test('constantTimeEqual is equality, whatever the lengths', () => {
  assert.ok(sdk.constantTimeEqual('s3cret', 's3cret'));
  assert.ok(!sdk.constantTimeEqual('s3cret', 's3creT'));
  assert.ok(!sdk.constantTimeEqual('s3cret', 's3cret!'));
  assert.ok(!sdk.constantTimeEqual('', 'a'));
  assert.ok(sdk.constantTimeEqual('', ''));
  assert.ok(sdk.constantTimeEqual(sdk.sha256('k'), sdk.sha256('k')));
  assert.ok(!sdk.constantTimeEqual(sdk.sha256('k'), sdk.sha256('K')));
});

test('basic credentials are read, and unreadable ones are malformed', () => {
  const basic = (v) => request([['authorization', v]]);
  const b64 = (s) => Buffer.from(s, 'utf8').toString('base64');
  assert.deepEqual(sdk.basicCredentials(basic(`Basic ${b64('alice:pa:ss')}`)), { user: 'alice', password: 'pa:ss' });
  assert.deepEqual(sdk.basicCredentials(basic(`basic ${b64('zoë:pw')}`)), { user: 'zoë', password: 'pw' });
  assert.equal(sdk.basicCredentials(basic('Bearer abc')), undefined);
  assert.equal(sdk.basicCredentials(request([])), undefined);
  assert.throws(() => sdk.basicCredentials(basic('Basic !!!')), (e) => e.tag === 'malformed');
  assert.throws(() => sdk.basicCredentials(basic(`Basic ${b64('nocolon')}`)), (e) => e.tag === 'malformed');
});

test('bearer tokens come from Authorization or a header of their own', () => {
  assert.equal(sdk.bearerToken(request([['authorization', 'Bearer  tok ']])), 'tok');
  assert.equal(sdk.bearerToken(request([['authorization', 'Basic x']])), undefined);
  assert.equal(sdk.bearerToken(request([['x-chroma-token', 'tok2']]), 'X-Chroma-Token'), 'tok2');
  assert.throws(() => sdk.bearerToken(request([['authorization', 'Bearer ']])), (e) => e.tag === 'malformed');
});

test('variants carry the contract’s kebab-case tags', () => {
  assert.deepEqual(sdk.allowWhere({ owner: 'alice' }), { tag: 'allow-where', val: '{"owner":"alice"}' });
  assert.deepEqual(sdk.deny('no'), { tag: 'deny', val: 'no' });
  assert.deepEqual(sdk.badCredentials(), { tag: 'bad-credentials' });
  assert.deepEqual(sdk.unknownKey('kid'), { tag: 'unknown-key', val: 'kid' });
  assert.deepEqual(sdk.noCredentials(), { tag: 'no-credentials' });
});

test('metadata fills the contract version and refuses what the host would', () => {
  const m = sdk.metadata({ name: 'keys', aliases: ['k'], kind: 'authn', settings: [sdk.fileSetting('keys-file', 'k')], cacheKeyHeaders: ['X-Key'] });
  assert.equal(m.apiVersion, sdk.API_VERSION);
  assert.deepEqual(m.names, ['keys', 'k']);
  assert.deepEqual(m.cacheKeyHeaders, ['x-key']);
  assert.throws(() => sdk.metadata({ name: 'Keys', kind: 'authn' }), (e) => /name/.test(e.message));
  assert.throws(() => sdk.metadata({ name: 'keys', kind: 'both' }), (e) => /kind/.test(e.message));
});

test('settings: values, numbers, lists, files with line numbers', () => {
  const s = new sdk.Settings({
    settings: [{ key: 'admins', value: 'a, b,,c' }, { key: 'n', value: '12' }, { key: 'bad', value: '1.5' }],
    files: [{ key: 'keys-file', path: '/etc/keys.txt', contents: new TextEncoder().encode('# c\n\nteam:k\n  x  \n') }],
  });
  assert.deepEqual(s.list('admins'), ['a', 'b', 'c']);
  assert.equal(s.number('n', 1, { min: 1, max: 20 }), 12);
  assert.equal(s.number('absent', 7), 7);
  assert.throws(() => s.number('bad', 1), (e) => /whole number/.test(e.message));
  assert.throws(() => s.require('absent'), (e) => e.message.includes('absent'));
  const file = s.requireText('keys', 'keys-file');
  assert.deepEqual([...file.lines()], [[3, 'team:k'], [4, 'x']]);
  assert.deepEqual(file.error(4, 'no colon'), { file: '/etc/keys.txt', line: 4, message: 'no colon' });
  const bad = new sdk.Settings({ settings: [], files: [{ key: 'f', path: 'p', contents: new Uint8Array([0xff]) }] });
  assert.throws(() => bad.file('f'), (e) => /UTF-8/.test(e.message));
});

test('identity attributes from an object or pairs; attribute lookups', () => {
  const id = sdk.identity('alice', { attributes: { team: 'search' } });
  assert.deepEqual(id, { userId: 'alice', tenant: undefined, databases: undefined, attributes: [['team', 'search']] });
  const roles = sdk.identity('bob', { attributes: [['role', 'r1'], ['role', 'r2']] });
  assert.deepEqual(sdk.attributes(roles, 'role'), ['r1', 'r2']);
  assert.equal(sdk.attribute(roles, 'role'), 'r1');
  assert.equal(sdk.attribute(roles, 'team'), undefined);
});
