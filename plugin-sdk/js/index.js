// Prism's plugin SDK for JavaScript: the records and variants of the
// `prism:auth@0.2.0` contract (wit/auth.wit) as plain functions, and the
// helpers most plugins need (credentials from headers, constant-time
// comparison, SHA-256, settings and files with line numbers).
//
// A plugin is an ES module exporting `authenticator` or `authorizer`, an
// object with `metadata()`, `configure(config)` and `authenticate(request)`
// or `authorize(identity, action, resource)`. ComponentizeJS turns it into a
// component (`prism-plugin-build`, in build.js). Conventions of that
// binding, which this module hides:
//   - records are objects with camelCase fields (`apiVersion`);
//   - variants are `{ tag, val }` with the WIT case name in kebab-case
//     (`{ tag: 'allow-where', val }`): a wrong tag traps the plugin;
//   - a function returning `result<T, E>` returns T, and throws E.
//
// Everything here runs the same in Node (for a plugin's tests) and in the
// component, where there is no filesystem, network, clock or randomness.

/** The contract version these helpers speak. */
export const API_VERSION = '0.2.0';

// ---------------------------------------------------------------- metadata

/** A setting whose value is given as is. */
export function setting(key, description) {
  return { key, description, source: 'value' };
}

/** A setting naming a file: the host reads it and hands over its contents. */
export function fileSetting(key, description) {
  return { key, description, source: 'file' };
}

/** A setting naming an https:// URL: the host fetches it for the plugin. */
export function urlSetting(key, description) {
  return { key, description, source: 'url' };
}

/**
 * What a plugin says about itself.
 *
 * `kind` is 'authn' or 'authz'. `cacheKeyHeaders` (authn only): the
 * lower-case headers the answer depends on, so the host may cache a
 * successful authentication; leave it empty when the answer depends on time,
 * the client's address or state the plugin keeps (a quota).
 */
export function metadata({
  name,
  aliases = [],
  kind,
  version = '0.1.0',
  description = '',
  settings = [],
  cacheKeyHeaders = [],
}) {
  if (typeof name !== 'string' || !/^[a-z0-9][a-z0-9._-]*$/.test(name)) {
    throw pluginError(`metadata: name must be lower-case letters, digits, '.', '_' or '-', got ${JSON.stringify(name)}`);
  }
  if (kind !== 'authn' && kind !== 'authz') {
    throw pluginError(`metadata: kind must be 'authn' or 'authz', got ${JSON.stringify(kind)}`);
  }
  for (const s of settings) {
    if (!['value', 'file', 'url'].includes(s.source)) {
      throw pluginError(`metadata: setting ${s.key}: use setting(), fileSetting() or urlSetting()`);
    }
  }
  return {
    names: [name, ...aliases],
    kind,
    apiVersion: API_VERSION,
    version,
    description,
    settings,
    cacheKeyHeaders: cacheKeyHeaders.map((h) => h.toLowerCase()),
  };
}

/** The error `metadata()` or `authorize()` throws when the plugin itself fails. */
export function pluginError(message) {
  return { message: String(message) };
}

// ------------------------------------------------------------ configuration

/** The error `configure()` throws: the host refuses to start (or to reload) and shows it. */
export function configError(message, { file, line } = {}) {
  return { file: file ?? undefined, line: line ?? undefined, message: String(message) };
}

/** A file the host read for a `fileSetting` (or fetched for a `urlSetting`). */
export class ConfigFile {
  constructor(key, path, text) {
    this.key = key;
    this.path = path;
    this.text = text;
  }

  /** A `configError` naming this file and a 1-based line. */
  error(line, message) {
    return configError(message, { file: this.path, line });
  }

  /**
   * The lines that say something, as `[lineNumber, text]` (trimmed; blank
   * lines and `#` comments left out).
   */
  *lines() {
    const all = this.text.split(/\r?\n/);
    for (let i = 0; i < all.length; i++) {
      const text = all[i].trim();
      if (text && !text.startsWith('#')) yield [i + 1, text];
    }
  }
}

/** The settings and files a plugin was configured with, by key. */
export class Settings {
  constructor(config) {
    this.values = new Map(config.settings.map((s) => [s.key, s.value]));
    this.files = new Map(config.files.map((f) => [f.key, f]));
  }

  /** A setting's value, or `fallback` when it is not set. */
  get(key, fallback = undefined) {
    return this.values.has(key) ? this.values.get(key) : fallback;
  }

  /** A setting's value; a `configError` naming it when it is not set. */
  require(key) {
    const value = this.get(key);
    if (value === undefined || value === '') throw configError(`the setting ${key} is required`);
    return value;
  }

  /** A comma-separated setting as a list (empty items dropped). */
  list(key) {
    return (this.get(key) ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  }

  /** A whole-number setting within [min, max]. */
  number(key, fallback, { min = -Infinity, max = Infinity } = {}) {
    const raw = this.get(key);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      const bounds = `${Number.isFinite(min) ? ` from ${min}` : ''}${Number.isFinite(max) ? ` to ${max}` : ''}`;
      throw configError(`the setting ${key} must be a whole number${bounds}, got ${JSON.stringify(raw)}`);
    }
    return n;
  }

  /** A file setting's contents as a `ConfigFile`, or undefined when not set. */
  file(key) {
    const f = this.files.get(key);
    return f ? new ConfigFile(key, f.path, decodeUtf8(f.contents, f.path)) : undefined;
  }

  /**
   * The contents for `key`: the file named by `fileKey` when that is set,
   * else the setting `key` itself (so tests and small setups can give the
   * text inline); a `configError` when neither is.
   */
  requireText(key, fileKey) {
    const file = this.file(fileKey);
    if (file) return file;
    const inline = this.get(key);
    if (inline !== undefined) return new ConfigFile(key, `setting ${key}`, inline);
    throw configError(`set ${fileKey} (a file) or ${key}`);
  }
}

// ------------------------------------------------------------ authentication

/** The first value of a request header (names are lower-case), or undefined. */
export function header(request, name) {
  const wanted = name.toLowerCase();
  for (const [key, value] of request.headers) {
    if (key === wanted) return value;
  }
  return undefined;
}

/**
 * The token of `Authorization: Bearer <token>` (header 'authorization', the
 * default) or of a header that carries the token alone (`X-Chroma-Token`).
 * Undefined when the header is absent; throws `malformed` when it is there
 * but unreadable.
 */
export function bearerToken(request, name = 'authorization') {
  const value = header(request, name);
  if (value === undefined) return undefined;
  let token = value.trim();
  if (name.toLowerCase() === 'authorization') {
    const m = /^bearer(?:\s+(.*))?$/i.exec(token);
    if (!m) return undefined;
    token = (m[1] ?? '').trim();
  }
  if (!token) throw malformed(`empty token in ${name}`);
  return token;
}

/**
 * `{ user, password }` from `Authorization: Basic ...`; undefined when there
 * is no Basic authorization; throws `malformed` when it cannot be read.
 */
export function basicCredentials(request) {
  const value = header(request, 'authorization');
  if (value === undefined) return undefined;
  const m = /^basic\s+(.*)$/i.exec(value.trim());
  if (!m) return undefined;
  let decoded;
  try {
    decoded = decodeUtf8(base64Decode(m[1].trim()));
  } catch {
    throw malformed('Basic credentials are not base64 of UTF-8');
  }
  const colon = decoded.indexOf(':');
  if (colon < 0) throw malformed('Basic credentials without a colon');
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** The identity `authenticate()` returns. `attributes`: an object or [key, value] pairs. */
export function identity(userId, { tenant, databases, attributes = [] } = {}) {
  const pairs = Array.isArray(attributes)
    ? attributes.map(([k, v]) => [String(k), String(v)])
    : Object.entries(attributes).map(([k, v]) => [k, String(v)]);
  return { userId: String(userId), tenant: tenant ?? undefined, databases: databases ?? undefined, attributes: pairs };
}

// What `authenticate()` throws. The host answers the first three with
// Chroma's 403, `refused` and `unknownKey` with 401; every reason goes to
// the audit log, never to the caller.
/** No credentials this plugin understands. */
export const noCredentials = () => ({ tag: 'no-credentials' });
/** Credentials present and wrong (unknown user, bad password). */
export const badCredentials = () => ({ tag: 'bad-credentials' });
/** Credentials present and unreadable. */
export const malformed = (reason) => ({ tag: 'malformed', val: String(reason) });
/** Credentials readable and refused for a reason (expired, over quota). */
export const refused = (reason) => ({ tag: 'refused', val: String(reason) });
/** The credentials name a key the configuration lacks (the host refetches url settings). */
export const unknownKey = (reason) => ({ tag: 'unknown-key', val: String(reason) });
/** The plugin failed. */
export const internal = (reason) => ({ tag: 'internal', val: String(reason) });

// ------------------------------------------------------------- authorization

/** Allowed. */
export const allow = () => ({ tag: 'allow' });

/**
 * Allowed on the records matching `where` only (Chroma's filter language; an
 * object, or its JSON text). The host enforces it on every record operation.
 */
export function allowWhere(where) {
  return { tag: 'allow-where', val: typeof where === 'string' ? where : JSON.stringify(where) };
}

/** Denied; the reason goes to the audit log (callers see "Forbidden"). */
export const deny = (reason) => ({ tag: 'deny', val: String(reason) });

/** The first value of an identity's attribute, or undefined. */
export function attribute(ident, name) {
  const found = ident.attributes.find(([k]) => k === name);
  return found ? found[1] : undefined;
}

/** Every value of an identity's attribute (an identity may carry several `role`s). */
export function attributes(ident, name) {
  return ident.attributes.filter(([k]) => k === name).map(([, v]) => v);
}

/** Chroma's actions that change nothing. */
export const READ_ACTIONS = Object.freeze([
  'tenant:get_tenant',
  'db:get_database',
  'db:list_databases',
  'db:list_collections',
  'db:count_collections',
  'collection:get_collection',
  'collection:get',
  'collection:query',
  'collection:count',
  'collection:search',
  'collection:count_forks',
  'collection:get_collection_by_crn',
]);

// ------------------------------------------------------------------- secrets

/** UTF-8 bytes of a string (bytes are passed through). */
export function utf8(value) {
  return value instanceof Uint8Array ? value : new TextEncoder().encode(String(value));
}

/** A string from UTF-8 bytes; throws on invalid UTF-8. */
export function decodeUtf8(bytes, what = 'input') {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes));
  } catch {
    throw configError(`${what} is not UTF-8`);
  }
}

/**
 * Whether two strings (or byte arrays) are equal, in time that does not
 * depend on where they differ: compare secrets with this, never with `===`.
 * Different lengths answer false at once, so compare things of a fixed
 * length: SHA-256 digests (`sha256` the secrets when configured, and what a
 * caller sends once per request). Hashing runs at interpreter speed inside
 * the component (about 0.3 ms per short input), so hash once per request,
 * not once per comparison.
 */
export function constantTimeEqual(a, b) {
  const x = utf8(a);
  const y = utf8(b);
  if (x.length !== y.length) return false;
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

// The message schedule, reused: allocation is what an interpreter pays most for.
const SCHEDULE = new Uint32Array(64);

/** SHA-256 of a string (its UTF-8) or bytes, as 32 bytes. */
export function sha256(data) {
  const bytes = utf8(data);
  const bitLength = bytes.length * 8;
  const padded = new Uint8Array(((bytes.length + 9 + 63) >> 6) << 6);
  padded.set(bytes);
  padded[bytes.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(bitLength / 0x100000000));
  view.setUint32(padded.length - 4, bitLength >>> 0);
  const h = new Uint32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ]);
  const w = SCHEDULE;
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(off + i * 4);
    for (let i = 16; i < 64; i++) {
      const a = w[i - 15];
      const b = w[i - 2];
      const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
      const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    let [a, b, c, d, e, f, g, hh] = h;
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (hh + S1 + ch + K[i] + w[i]) >>> 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) >>> 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) >>> 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) >>> 0;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += hh;
  }
  const out = new Uint8Array(32);
  const outView = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) outView.setUint32(i * 4, h[i]);
  return out;
}

/** SHA-256 as lower-case hex (what `prism token new` prints for a token). */
export function sha256Hex(data) {
  return toHex(sha256(data));
}

/** Bytes as lower-case hex. */
export function toHex(bytes) {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Standard base64 (padding optional) to bytes; throws on anything else. */
export function base64Decode(text) {
  const clean = text.replace(/=+$/, '');
  if (/[^A-Za-z0-9+/]/.test(clean) || clean.length % 4 === 1) throw new Error('not base64');
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let bits = 0;
  let acc = 0;
  let j = 0;
  for (const ch of clean) {
    acc = (acc << 6) | B64.indexOf(ch);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[j++] = (acc >> bits) & 0xff;
    }
  }
  return out;
}
