// A Prism authorization plugin: everyone may read; a team may change only
// the collections named `<team>-...` (the team is the identity's `team`
// attribute, as the authn template sets it, else the user id); the users in
// `admins` may do anything. Replace the rules with your own.
//
// `npm run build` writes my-authz-plugin.wasm; README.md says how to run it.
import { READ_ACTIONS, Settings, allow, attribute, deny, metadata, setting } from 'prism-plugin-sdk';

// The plugin's state lives at module level: the host configures each
// instance once, then calls it again and again.
let admins = [];

export const authorizer = {
  metadata() {
    return metadata({
      name: 'my-authz-plugin',
      kind: 'authz',
      version: '0.1.0',
      description: 'everyone reads; a team writes to <team>-* collections; admins do anything',
      settings: [setting('admins', 'comma-separated user ids that may do anything')],
    });
  },

  configure(config) {
    admins = new Settings(config).list('admins');
  },

  authorize(identity, action, resource) {
    if (admins.includes(identity.userId) || READ_ACTIONS.includes(action)) return allow();
    const team = attribute(identity, 'team') ?? identity.userId;
    const owned = resource.collection?.startsWith(`${team}-`) ?? false;
    if (owned && (action.startsWith('collection:') || action === 'db:create_collection')) return allow();
    return deny(`${team} may change only collections named ${team}-* (${action})`);
  },
};
