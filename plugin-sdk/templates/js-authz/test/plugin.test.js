// The plugin's logic, run natively in Node: `npm test`.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { authorizer } from '../src/plugin.js';

authorizer.configure({ settings: [{ key: 'admins', value: 'root' }], files: [] });
const alice = { userId: 'alice', attributes: [['team', 'search']] };
const on = (collection) => ({ tenant: 'default_tenant', database: 'default_database', collection });

test('a team writes its own collections and reads all', () => {
  assert.equal(authorizer.authorize(alice, 'collection:add', on('search-docs')).tag, 'allow');
  assert.equal(authorizer.authorize(alice, 'collection:query', on('ads-docs')).tag, 'allow');
  assert.equal(authorizer.authorize(alice, 'collection:add', on('ads-docs')).tag, 'deny');
});

test('admins do anything', () => {
  const root = { userId: 'root', attributes: [] };
  assert.equal(authorizer.authorize(root, 'collection:delete', on('ads-docs')).tag, 'allow');
});
