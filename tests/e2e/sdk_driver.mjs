// Drives the BUILT SDK (sdk/dist) in Node for tests/e2e/test_sdk_served.py, as an app would, with a
// file-backed storage so a later run of this script is the same app after a restart.
//
// argv[2] is a JSON config: {endpoint, token, storageDir, context, options, steps, loseAnswerOf?}.
// Steps: ["identify", id], ["consent", {...}], ["track", name, properties, count?], ["flush"].
// Prints JSON lines: {"answered": n} when the answer of request n is withheld (then waits for a line
// on stdin, and fails that request as a dropped connection does), and last {"done": true, ...}.
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";

import { createAnalytics } from "../../sdk/dist/index.js";

const config = JSON.parse(process.argv[2]);
const out = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);

await mkdir(config.storageDir, { recursive: true });
const file = (key) => join(config.storageDir, `${encodeURIComponent(key)}.json`);
const storage = {
  async getItem(key) {
    try {
      return await readFile(file(key), "utf8");
    } catch (error) {
      if (error.code === "ENOENT") return null;
      throw error;
    }
  },
  async setItem(key, value) {
    // Write, then rename: a process killed mid-write leaves the previous queue, never half of one.
    await writeFile(`${file(key)}.tmp`, value);
    await rename(`${file(key)}.tmp`, file(key));
  },
  async removeItem(key) {
    await rm(file(key), { force: true });
  },
};

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const statuses = {};
const count = (what) => (statuses[what] = (statuses[what] ?? 0) + 1);
let requests = 0;

async function observedFetch(url, init) {
  const number = ++requests;
  let response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    count("network");
    throw error;
  }
  count(response.status);
  if (config.loseAnswerOf === number) {
    out({ answered: number, status: response.status });
    await lines.next(); // the test kills the service, then lets this go on
    throw new TypeError("fetch failed: the connection dropped before the answer arrived");
  }
  return response;
}

const errors = [];
const waits = [];
const client = createAnalytics({
  endpoint: config.endpoint,
  token: config.token,
  storage,
  context: config.context,
  fetch: observedFetch,
  onError: (error) => (error.kind === "retrying" ? waits.push(error) : errors.push(error)),
  ...config.options,
});

const results = [];
let queued = 0;
for (const [action, ...args] of config.steps) {
  if (action === "identify") await client.identify(args[0]);
  else if (action === "consent") await client.setConsent(args[0]);
  else if (action === "track") {
    // As an app does: without waiting for one event to be saved before tracking the next.
    const done = await Promise.all(Array.from({ length: args[2] ?? 1 }, () => client.track(args[0], args[1])));
    queued += done.filter(Boolean).length;
  } else if (action === "flush") results.push(await client.flush());
  else throw new Error(`unknown step ${action}`);
}
await client.shutdown();
out({ done: true, results, errors, waits, statuses, queued });
process.exit(0);
