// A Prism authentication plugin: callers send `X-Team-Key: <key>` and are
// the team the key belongs to. Replace the logic with your own.
//
// `npm run build` writes my-authn-plugin.wasm; README.md says how to run it.
import {
  Settings,
  badCredentials,
  constantTimeEqual,
  fileSetting,
  header,
  identity,
  metadata,
  noCredentials,
  sha256,
} from 'prism-plugin-sdk';

// The plugin's state lives at module level: the host configures each
// instance once, then calls it again and again.
let teams = [];

export const authenticator = {
  metadata() {
    return metadata({
      name: 'my-authn-plugin',
      kind: 'authn',
      version: '0.1.0',
      description: 'one shared key per team, in the X-Team-Key header',
      settings: [fileSetting('keys-file', 'lines of team:key')],
      // The answer depends on this header only, so Prism may cache it.
      cacheKeyHeaders: ['x-team-key'],
    });
  },

  configure(config) {
    // The file's contents (the host read it), or the inline setting `keys`
    // in tests.
    const source = new Settings(config).requireText('keys', 'keys-file');
    const parsed = [];
    for (const [line, text] of source.lines()) {
      const colon = text.indexOf(':');
      const team = text.slice(0, colon).trim();
      const key = text.slice(colon + 1).trim();
      if (colon < 0 || !team || !key) throw source.error(line, 'expected team:key');
      // Only the key's digest is kept, and compared.
      parsed.push({ team, digest: sha256(key) });
    }
    teams = parsed;
  },

  authenticate(request) {
    const key = header(request, 'x-team-key');
    if (key === undefined) throw noCredentials();
    // Hash once; compare with every key, so the time taken does not say
    // which matched.
    const digest = sha256(key);
    let found;
    for (const entry of teams) {
      if (constantTimeEqual(digest, entry.digest) && !found) found = entry;
    }
    if (!found) throw badCredentials();
    return identity(found.team, { attributes: { team: found.team } });
  },
};
