// Reads one collection with the real JavaScript `chromadb` client (npm), for
// the Python e2e tests (tests/e2e/js_util.py): what a JS user sees.
//
// Usage: node tests/js/reads.mjs URL COLLECTION [HEADER:VALUE ...]
//   URL         http(s)://HOST:PORT of the server (e.g. http://127.0.0.1:8000)
//   COLLECTION  collection name (in the default tenant and database unless
//               JS_TENANT / JS_DATABASE say otherwise)
//   HEADER:VALUE  extra request headers, e.g. "Authorization:Bearer alice-token"
//
// Environment:
//   JS_QUERY_EMBEDDING  JSON list of numbers, the query embedding (default [1,0])
//   JS_GET_IDS          JSON list of ids for get({ids}) (default []: no call,
//                       get_by_ids is [])
//   JS_TENANT, JS_DATABASE  tenant / database (default: the client's defaults)
//
// Prints ONE JSON line on stdout:
//   {"get_ids", "count", "peek_ids", "query_ids", "get_by_ids"}  (id lists sorted)
// or, on any error, {"error": <class name>, "name": <error.name>, "message"}
// and exits 1. The client never embeds anything: embeddings are always given,
// and the collection gets an embedding function that refuses to run.
import { ChromaClient } from "chromadb";

// The client warns on stderr whenever a collection's stored configuration names
// the default embedding function and @chroma-core/default-embed is not
// installed (even when an embedding function is passed): expected here.
const DEFAULT_EMBED_WARNING = "Cannot instantiate a collection with the DefaultEmbeddingFunction";
const warn = console.warn.bind(console);
console.warn = (...args) => {
  if (typeof args[0] === "string" && args[0].startsWith(DEFAULT_EMBED_WARNING)) return;
  warn(...args);
};

// Sort by Unicode code point, as Python's sorted() does for str.
function byCodePoint(a, b) {
  const x = Array.from(a, (c) => c.codePointAt(0));
  const y = Array.from(b, (c) => c.codePointAt(0));
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i] - y[i];
  }
  return x.length - y.length;
}
const sorted = (ids) => [...ids].sort(byCodePoint);

function jsonEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  return JSON.parse(raw);
}

// Explicit embedding function, so that the client never tries to load
// @chroma-core/default-embed (not installed) for the collection.
const noEmbeddings = {
  name: "prism-tests-no-embeddings",
  async generate() {
    throw new Error("reads.mjs passes embeddings explicitly; nothing may be embedded");
  },
};

async function main(argv) {
  if (argv.length < 2) {
    throw new TypeError("usage: node reads.mjs URL COLLECTION [HEADER:VALUE ...]");
  }
  const [urlText, collectionName, ...headerArgs] = argv;
  const url = new URL(urlText);
  const ssl = url.protocol === "https:";
  const port = url.port ? Number(url.port) : ssl ? 443 : 80;
  const headers = {};
  for (const h of headerArgs) {
    const i = h.indexOf(":");
    if (i <= 0) throw new TypeError(`header must be NAME:VALUE, got ${JSON.stringify(h)}`);
    headers[h.slice(0, i).trim()] = h.slice(i + 1).trimStart();
  }
  const args = { host: url.hostname, port, ssl, headers };
  if (process.env.JS_TENANT) args.tenant = process.env.JS_TENANT;
  if (process.env.JS_DATABASE) args.database = process.env.JS_DATABASE;
  const client = new ChromaClient(args);

  const queryEmbedding = jsonEnv("JS_QUERY_EMBEDDING", [1, 0]);
  const getIds = jsonEnv("JS_GET_IDS", []);

  const collection = await client.getCollection({
    name: collectionName,
    embeddingFunction: noEmbeddings,
  });
  const all = await collection.get();
  const count = await collection.count();
  const peek = await collection.peek({ limit: 100 });
  const query = await collection.query({ queryEmbeddings: [queryEmbedding], nResults: 10 });
  // The client refuses get({ids: []}) itself (ChromaValueError "Expected 'ids'
  // to be a non-empty list"), so an empty JS_GET_IDS skips the call.
  const byIds = getIds.length ? await collection.get({ ids: getIds }) : { ids: [] };
  return {
    get_ids: sorted(all.ids),
    count,
    peek_ids: sorted(peek.ids),
    query_ids: sorted(query.ids[0] ?? []),
    get_by_ids: sorted(byIds.ids),
  };
}

try {
  const out = await main(process.argv.slice(2));
  process.stdout.write(JSON.stringify(out) + "\n");
} catch (err) {
  const e = err instanceof Error ? err : new Error(String(err));
  process.stdout.write(
    JSON.stringify({
      error: e.constructor?.name || "Error",
      name: e.name,
      message: e.message,
    }) + "\n",
  );
  process.exitCode = 1;
}
