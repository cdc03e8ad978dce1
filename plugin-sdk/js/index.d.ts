// Types of prism-plugin-sdk (index.js), for editors and TypeScript users.
// The records mirror wit/auth.wit (prism:auth@0.2.0) as ComponentizeJS
// passes them: camelCase fields, variants as { tag, val }.

export declare const API_VERSION: string;
export declare const READ_ACTIONS: readonly string[];

export type SettingSource = 'value' | 'file' | 'url';
export interface SettingSpec { key: string; description: string; source: SettingSource }
export interface PluginMetadata {
  names: string[];
  kind: 'authn' | 'authz';
  apiVersion: string;
  version: string;
  description: string;
  settings: SettingSpec[];
  cacheKeyHeaders: string[];
}
export interface Config {
  settings: { key: string; value: string }[];
  files: { key: string; path: string; contents: Uint8Array }[];
}
export interface ConfigErrorRecord { file?: string; line?: number; message: string }
export interface PluginErrorRecord { message: string }
export interface HttpRequest {
  method: string;
  path: string;
  headers: [string, string][];
  clientAddress?: string;
  clientCertificateSubject?: string;
  /** Seconds since the Unix epoch when the host received the request. */
  receivedAt: bigint;
}
export interface Identity {
  userId: string;
  tenant?: string;
  databases?: string[];
  attributes: [string, string][];
}
export interface Resource { tenant?: string; database?: string; collection?: string; collectionId?: string }
export type AuthnError =
  | { tag: 'no-credentials' }
  | { tag: 'bad-credentials' }
  | { tag: 'malformed' | 'refused' | 'unknown-key' | 'internal'; val: string };
export type Decision = { tag: 'allow' } | { tag: 'allow-where'; val: string } | { tag: 'deny'; val: string };

export interface Authenticator {
  metadata(): PluginMetadata;
  /** Throws a ConfigErrorRecord (configError) to refuse the configuration. */
  configure(config: Config): void;
  /** Throws an AuthnError (noCredentials(), badCredentials(), ...). */
  authenticate(request: HttpRequest): Identity;
}
export interface Authorizer {
  metadata(): PluginMetadata;
  configure(config: Config): void;
  authorize(identity: Identity, action: string, resource: Resource): Decision;
}

export declare function setting(key: string, description: string): SettingSpec;
export declare function fileSetting(key: string, description: string): SettingSpec;
export declare function urlSetting(key: string, description: string): SettingSpec;
export declare function metadata(options: {
  name: string;
  aliases?: string[];
  kind: 'authn' | 'authz';
  version?: string;
  description?: string;
  settings?: SettingSpec[];
  cacheKeyHeaders?: string[];
}): PluginMetadata;
export declare function pluginError(message: string): PluginErrorRecord;
export declare function configError(message: string, at?: { file?: string; line?: number }): ConfigErrorRecord;

export declare class ConfigFile {
  readonly key: string;
  readonly path: string;
  readonly text: string;
  error(line: number, message: string): ConfigErrorRecord;
  lines(): IterableIterator<[number, string]>;
}
export declare class Settings {
  constructor(config: Config);
  get(key: string, fallback?: string): string | undefined;
  require(key: string): string;
  list(key: string): string[];
  number(key: string, fallback: number, range?: { min?: number; max?: number }): number;
  file(key: string): ConfigFile | undefined;
  requireText(key: string, fileKey: string): ConfigFile;
}

export declare function header(request: HttpRequest, name: string): string | undefined;
export declare function bearerToken(request: HttpRequest, name?: string): string | undefined;
export declare function basicCredentials(request: HttpRequest): { user: string; password: string } | undefined;
export declare function identity(
  userId: string,
  options?: { tenant?: string; databases?: string[]; attributes?: Record<string, string> | [string, string][] },
): Identity;
export declare function noCredentials(): AuthnError;
export declare function badCredentials(): AuthnError;
export declare function malformed(reason: string): AuthnError;
export declare function refused(reason: string): AuthnError;
export declare function unknownKey(reason: string): AuthnError;
export declare function internal(reason: string): AuthnError;

export declare function allow(): Decision;
export declare function allowWhere(where: string | Record<string, unknown>): Decision;
export declare function deny(reason: string): Decision;
export declare function attribute(identity: Identity, name: string): string | undefined;
export declare function attributes(identity: Identity, name: string): string[];

export declare function utf8(value: string | Uint8Array): Uint8Array;
export declare function decodeUtf8(bytes: Uint8Array, what?: string): string;
export declare function constantTimeEqual(a: string | Uint8Array, b: string | Uint8Array): boolean;
export declare function sha256(data: string | Uint8Array): Uint8Array;
export declare function sha256Hex(data: string | Uint8Array): string;
export declare function toHex(bytes: Uint8Array): string;
export declare function base64Decode(text: string): Uint8Array;
