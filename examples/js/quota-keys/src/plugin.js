// API keys, each with its own rate quota and expiry.
//
// The keys file holds one key per line, as its SHA-256 (what `prism token
// new` prints beside a new token), so it holds no secret:
//
//   # name        sha256 of the key                                                 quota     expires
//   search-team   9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08  120/min   2027-06-30
//   nightly-etl   60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752  10000/day never
//   admin         fd61a03af4f77d870fc21e05e7e80678095c92d808cfb3b5c279ee04c74aca13  unlimited 2027-01-01T12:00:00Z
//
// A caller sends its key as `X-Api-Key: <key>` or `Authorization: Bearer
// <key>` and is the key's name. A key past its expiry, or over its quota in
// the current window (a second, minute, hour or day, aligned to the clock),
// is refused: the caller gets 401 and the audit log says which and why.
//
// Every request must reach the plugin to be counted, so it declares no cache
// headers; and counts live in the instance, so run one instance
// (PRISM_AUTHN_PLUGIN_INSTANCES=1) for quotas that hold across all calls.
// Counts start again when the plugin is reloaded.
import {
  Settings,
  badCredentials,
  bearerToken,
  constantTimeEqual,
  fileSetting,
  header,
  identity,
  metadata,
  noCredentials,
  refused,
  sha256Hex,
} from 'prism-plugin-sdk';

const PERIODS = { s: 1, sec: 1, second: 1, min: 60, minute: 60, h: 3600, hour: 3600, d: 86400, day: 86400 };

/** The configured keys: { name, digest, limit, period, per, expires }. */
let keys = [];
/** Per key name: the window being counted, { start, used }. */
const windows = new Map();

function quota(text) {
  if (text === 'unlimited') return { limit: null, period: null, per: null };
  const m = /^(\d+)\/([a-z]+)$/.exec(text);
  if (!m || !(m[2] in PERIODS) || Number(m[1]) < 1) return undefined;
  return { limit: Number(m[1]), period: PERIODS[m[2]], per: m[2] };
}

/** Seconds since the epoch, null for `never`, undefined if unreadable. */
function expiry(text) {
  if (text === 'never') return null;
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})Z)?$/.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h = 0, mi = 0, s = 0] = m.slice(1).map((v) => (v === undefined ? undefined : Number(v)));
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(ms);
  if (back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) return undefined;
  return ms / 1000;
}

function iso(seconds) {
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}

export const authenticator = {
  metadata() {
    return metadata({
      name: 'quota-keys',
      kind: 'authn',
      version: '0.1.0',
      description: 'API keys (X-Api-Key or Bearer), each with a rate quota and an expiry',
      settings: [fileSetting('keys-file', 'lines of: name sha256-of-key quota expires')],
      // No cache: every request is counted and checked against the clock.
      cacheKeyHeaders: [],
    });
  },

  configure(config) {
    const source = new Settings(config).requireText('keys', 'keys-file');
    const parsed = [];
    for (const [line, text] of source.lines()) {
      const fields = text.split(/\s+/);
      if (fields.length !== 4) {
        throw source.error(line, `expected 4 fields (name, sha256 of the key, quota, expires), found ${fields.length}`);
      }
      const [name, digest, quotaText, expiresText] = fields;
      if (!/^[A-Za-z0-9._@-]+$/.test(name)) throw source.error(line, `the name ${JSON.stringify(name)} has characters other than letters, digits and ._@-`);
      if (!/^[0-9a-f]{64}$/i.test(digest)) throw source.error(line, 'the second field must be the SHA-256 of the key: 64 hex digits');
      const q = quota(quotaText);
      if (!q) throw source.error(line, `quota ${JSON.stringify(quotaText)}: write N/s, N/min, N/hour, N/day or unlimited`);
      const expires = expiry(expiresText);
      if (expires === undefined) throw source.error(line, `expires ${JSON.stringify(expiresText)}: write YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or never`);
      if (parsed.some((k) => k.name === name)) throw source.error(line, `the name ${name} is given twice`);
      if (parsed.some((k) => k.digest === digest.toLowerCase())) throw source.error(line, `this key is also ${parsed.find((k) => k.digest === digest.toLowerCase()).name}'s`);
      parsed.push({ name, digest: digest.toLowerCase(), expires, ...q });
    }
    keys = parsed;
    windows.clear();
  },

  authenticate(request) {
    const key = header(request, 'x-api-key') ?? bearerToken(request);
    if (!key) throw noCredentials();
    // Hash once (the digests compared have one length); compare with every
    // key, so the time taken does not say which matched.
    const digest = sha256Hex(key);
    let found;
    for (const entry of keys) {
      if (constantTimeEqual(digest, entry.digest) && !found) found = entry;
    }
    if (!found) throw badCredentials();

    const now = Number(request.receivedAt);
    if (found.expires !== null && now >= found.expires) {
      throw refused(`key ${found.name} expired at ${iso(found.expires)}`);
    }
    if (found.limit !== null) {
      const start = now - (now % found.period);
      let window = windows.get(found.name);
      if (!window || window.start !== start) {
        window = { start, used: 0 };
        windows.set(found.name, window);
      }
      if (window.used >= found.limit) {
        throw refused(`key ${found.name} is over its quota of ${found.limit}/${found.per} (the window ends in ${start + found.period - now} s)`);
      }
      window.used += 1;
    }
    return identity(found.name, { attributes: { key: found.name } });
  },
};
