import assert from "node:assert/strict";
import { test } from "node:test";

import { memoryStorage } from "../src/index.js";
import { GRANTED, USER, WITHDRAWN, harness } from "./support.js";

const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test("queued events survive a restart of the app and are sent by the next process", async () => {
  const storage = memoryStorage();
  const first = harness(["network"], { storage, maxAttemptsPerFlush: 1 });
  await first.client.identify(USER);
  await first.client.setConsent(GRANTED);
  await first.client.track("wave_joined", { wave_id: "w-1" });
  await first.client.track("post_liked", { post_id: "p-1" });
  const offline = await first.client.flush();
  assert.equal(offline.pending, 3);
  await first.client.shutdown();

  const second = harness([], { storage });
  const result = await second.client.flush();
  assert.deepEqual(result, { accepted: 3, duplicates: 0, notCollected: 0, rejected: 0, refused: 0, pending: 0 });
  const sent = second.requests[0]!.body.batch;
  assert.deepEqual(sent.map((e) => e.event_id), first.requests[0]!.body.batch.map((e) => e.event_id));
  assert.deepEqual(sent.map((e) => e.event_name), ["user_consent_update", "wave_joined", "post_liked"]);
});

test("nothing is queued for a person before analytics consent, and a refusal is still sent", async () => {
  const { client, requests } = harness();
  assert.equal(await client.track("wave_joined", { wave_id: "w-1" }), false); // no person yet
  await client.identify(USER);
  assert.equal(await client.track("wave_joined", { wave_id: "w-1" }), false); // no consent yet
  await client.setConsent(WITHDRAWN);
  assert.equal(await client.track("wave_joined", { wave_id: "w-1" }), false);
  await client.flush();
  const sent = requests.flatMap((r) => r.body.batch);
  assert.deepEqual(sent.map((e) => [e.event_name, e.properties.analytics, e.privacy.consent_given]), [["user_consent_update", false, false]]);
});

test("a withdrawal drops the person's queued events and is sent first, after their earlier choices", async () => {
  const { client, requests } = harness();
  await client.identify(USER);
  await client.setConsent(GRANTED);
  await client.track("wave_joined", { wave_id: "w-1" });
  await client.track("wave_left", { wave_id: "w-1", duration_seconds: 60 });
  await client.setConsent(WITHDRAWN);
  await client.flush();
  const sent = requests.flatMap((r) => r.body.batch);
  assert.deepEqual(sent.map((e) => [e.event_name, e.properties.analytics]), [
    ["user_consent_update", true],
    ["user_consent_update", false],
  ]);
});

test("event_id is a UUID v4 kept across retries; sent_at is set at each send; timestamp has the device offset", async () => {
  process.env.TZ = "Europe/Berlin";
  const { client, requests, clock } = harness(["network"]);
  await client.identify(USER);
  await client.setConsent(GRANTED);
  await client.track("post_liked", { post_id: "p-1" });
  clock.t += 5_000;
  await client.flush();
  assert.equal(requests.length, 2);
  const [first, second] = requests.map((r) => r.body);
  assert.deepEqual(second!.batch.map((e) => e.event_id), first!.batch.map((e) => e.event_id));
  for (const e of first!.batch) assert.match(e.event_id, UUID4);
  assert.notEqual(first!.sent_at, second!.sent_at);
  assert.equal(Date.parse(second!.sent_at) - Date.parse(first!.sent_at), (await retryWait(requests)) ?? 0);
  assert.equal(first!.batch[1]!.timestamp, "2026-12-03T11:00:00.000+01:00");
});

async function retryWait(requests: { body: { sent_at: string } }[]): Promise<number | null> {
  return requests.length > 1 ? Date.parse(requests[1]!.body.sent_at) - Date.parse(requests[0]!.body.sent_at) : null;
}

test("a new session after 30 minutes without an event, or after 30 minutes in the background", async () => {
  const { client, requests, clock } = harness();
  await client.identify(USER);
  await client.setConsent(GRANTED);
  await client.track("post_liked", { post_id: "a" });
  clock.t += 29 * 60_000;
  await client.track("post_liked", { post_id: "b" }); // same session: under 30 minutes
  clock.t += 30 * 60_000;
  await client.track("post_liked", { post_id: "c" }); // new: 30 minutes without an event
  client.background();
  clock.t += 10 * 60_000;
  client.foreground(); // back after 10 minutes: same session
  await client.track("post_liked", { post_id: "d" });
  client.background();
  clock.t += 30 * 60_000;
  client.foreground(); // back after 30 minutes: new session
  await client.track("post_liked", { post_id: "e" });
  await client.flush();
  const sessions = requests.flatMap((r) => r.body.batch).filter((e) => e.event_name === "post_liked").map((e) => e.session_id);
  assert.equal(sessions[0], sessions[1]);
  assert.notEqual(sessions[2], sessions[1]);
  assert.equal(sessions[3], sessions[2]);
  assert.notEqual(sessions[4], sessions[3]);
});

test("batches keep to maxBatchSize and to the service's 1 MiB; an event over 32 KiB is dropped at track", async () => {
  const { client, requests, errors } = harness([], { maxBatchSize: 1000 });
  await client.identify(USER);
  await client.setConsent(GRANTED);
  const big = "x".repeat(30 * 1024);
  for (let i = 0; i < 40; i++) await client.track("wave_feedback_submitted", { wave_id: "w", rating: 5, comment: big });
  assert.equal(await client.track("wave_feedback_submitted", { wave_id: "w", rating: 5, comment: big + big }), false);
  assert.equal(errors[0]?.kind, "too_large");
  await client.flush();
  assert.ok(requests.length >= 2);
  for (const r of requests) assert.ok(new TextEncoder().encode(JSON.stringify(r.body)).length <= 1024 * 1024);
  assert.equal(requests.flatMap((r) => r.body.batch).length, 41);

  const small = harness([], { maxBatchSize: 2 });
  await small.client.identify(USER);
  await small.client.setConsent(GRANTED);
  for (let i = 0; i < 4; i++) await small.client.track("post_liked", { post_id: `p${i}` });
  await small.client.flush();
  assert.deepEqual(small.requests.map((r) => r.body.batch.length), [2, 2, 1]);
});

test("Retry-After is honoured on 429 and 503; other failures back off exponentially with jitter, capped", async () => {
  const { client, sleeps, requests } = harness(
    [
      { status: 429, headers: { "retry-after": "7" } },
      { status: 503, headers: { "retry-after": "1" } },
      "network",
      { status: 500 },
      "network",
      "network",
    ],
    { retryBaseMs: 1000, retryMaxMs: 3000, maxAttemptsPerFlush: 10 },
  );
  await client.identify(USER);
  await client.setConsent(GRANTED);
  const result = await client.flush();
  assert.equal(result.accepted, 1);
  assert.equal(requests.length, 7);
  assert.deepEqual(sleeps.slice(0, 2), [7000, 1000]);
  // Failures 3 to 6 in a row: base * 2^(n-1) is 4000 and more, capped at 3000; jitter takes half to all of it.
  assert.equal(sleeps.length, 6);
  for (const ms of sleeps.slice(2)) assert.ok(ms >= 1500 && ms <= 3000, `${ms} within [1500, 3000]`);
});

test("a flush gives up after maxAttemptsPerFlush failures in a row and keeps the events", async () => {
  const { client, sleeps } = harness(["network", "network", "network"], { maxAttemptsPerFlush: 3, retryBaseMs: 1000 });
  await client.identify(USER);
  await client.setConsent(GRANTED);
  assert.equal((await client.flush()).pending, 1);
  assert.equal(sleeps.length, 2); // no wait after the last attempt of the call
  assert.ok(sleeps[0]! >= 500 && sleeps[0]! <= 1000 && sleeps[1]! >= 1000 && sleeps[1]! <= 2000, String(sleeps));
  assert.equal((await client.flush()).accepted, 1);
});

test("400 and 413 are reported with the service's reason and the batch leaves the queue", async () => {
  for (const status of [400, 413]) {
    const { client, errors, requests } = harness([{ status, body: { error: "bad_request", detail: "request body: nope" } }]);
    await client.identify(USER);
    await client.setConsent(GRANTED);
    const result = await client.flush();
    assert.deepEqual([result.refused, result.pending, requests.length], [1, 0, 1]);
    assert.deepEqual(errors.map((e) => e.kind), ["refused"]);
    assert.equal(errors[0]!.kind === "refused" && errors[0]!.message, `${status}: request body: nope`);
  }
});

test("per-event rejections reach onError with the service's path and message; the rest are counted", async () => {
  const { client, errors } = harness([
    {
      status: 200,
      body: {
        accepted: 1,
        duplicates: 1,
        not_collected: 0,
        rejected: [{ index: 2, event_id: null, errors: [{ path: "properties.wave_id", message: "must be at least 1 character" }] }],
      },
    },
  ]);
  await client.identify(USER);
  await client.setConsent(GRANTED);
  await client.track("wave_joined", { wave_id: "w-1" });
  await client.track("wave_joined", { wave_id: "" });
  const result = await client.flush();
  assert.deepEqual(result, { accepted: 1, duplicates: 1, notCollected: 0, rejected: 1, refused: 0, pending: 0 });
  assert.equal(errors.length, 1);
  const [error] = errors;
  assert.ok(error?.kind === "rejected");
  assert.equal(error.eventName, "wave_joined");
  assert.deepEqual(error.errors, [{ path: "properties.wave_id", message: "must be at least 1 character" }]);
});

test("a 401 asks for a fresh token once, then backs off", async () => {
  let calls = 0;
  const token = async () => `token-${++calls}`;
  const { client, requests, sleeps } = harness([{ status: 401 }, { status: 401 }, { status: 401 }], { token, maxAttemptsPerFlush: 5 });
  await client.identify(USER);
  await client.setConsent(GRANTED);
  assert.equal((await client.flush()).accepted, 1);
  assert.deepEqual(requests.map((r) => r.headers.authorization), ["Bearer token-1", "Bearer token-2", "Bearer token-2", "Bearer token-3"]);
  assert.equal(sleeps.length, 1);
});

test("beyond maxQueueSize the oldest tracked events are dropped and reported; consent updates are kept", async () => {
  const { client, errors, requests } = harness([], { maxQueueSize: 3 });
  await client.identify(USER);
  await client.setConsent(GRANTED);
  for (const post_id of ["a", "b", "c", "d"]) await client.track("post_liked", { post_id });
  await client.flush();
  const sent = requests.flatMap((r) => r.body.batch);
  assert.deepEqual(sent.map((e) => e.event_name === "post_liked" ? e.properties.post_id : e.event_name), ["user_consent_update", "c", "d"]);
  assert.deepEqual(errors, [{ kind: "queue_full", dropped: 1 }, { kind: "queue_full", dropped: 1 }]);
});

test("no device identifier, advertising id or address is sent: only the catalog's envelope", async () => {
  const { client, requests } = harness();
  await client.identify(USER);
  await client.setConsent(GRANTED);
  await client.track("microact_created", { microact_id: "m-1", category: "kindness" });
  await client.flush();
  const [request] = requests;
  assert.equal(request!.url, "https://analytics.test/v1/events");
  assert.deepEqual(Object.keys(request!.headers).sort(), ["authorization", "content-type"]);
  assert.deepEqual(Object.keys(request!.body).sort(), ["batch", "sent_at"]);
  for (const event of request!.body.batch) {
    assert.deepEqual(Object.keys(event).sort(), [
      "context", "event_category", "event_id", "event_name", "privacy", "properties", "session_id", "timestamp", "user_id",
    ]);
    assert.deepEqual(Object.keys(event.context).sort(), ["app_version", "device_type", "locale", "platform", "timezone"]);
    assert.deepEqual(event.privacy, { consent_given: true, ip_anonymized: true });
  }
  assert.equal(request!.body.batch[1]!.event_category, "microact");
});

test("reset forgets the person: nothing is tracked until the next identify and consent", async () => {
  const { client, requests } = harness();
  await client.identify(USER);
  await client.setConsent(GRANTED);
  await client.reset();
  assert.equal(await client.track("post_liked", { post_id: "a" }), false);
  await assert.rejects(client.setConsent(GRANTED), /identify/);
  await client.flush();
  assert.equal(requests.flatMap((r) => r.body.batch).length, 1);
});

test("flushAt starts a delivery without a flush call", async () => {
  const { client, requests } = harness([], { flushAt: 3 });
  await client.identify(USER);
  await client.setConsent(GRANTED);
  await client.track("post_liked", { post_id: "a" });
  await client.track("post_liked", { post_id: "b" });
  const deadline = Date.now() + 5000;
  while (requests.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.equal(requests.length, 1);
  await client.shutdown();
});

test("every change is saved before its call resolves; calls made at once share writes", async () => {
  const items = memoryStorage();
  let writes = 0;
  const storage = { ...items, setItem: async (key: string, value: string) => void (writes++, await items.setItem(key, value)) };
  const { client } = harness([], { storage });
  await client.identify(USER);
  await client.setConsent(GRANTED);
  await client.track("post_liked", { post_id: "one" });
  const saved = (): any[] => JSON.parse((storageText ?? "{}")).state?.queue ?? [];
  let storageText = await items.getItem("addvalue-analytics");
  assert.deepEqual(saved().map((e) => e.event_name), ["user_consent_update", "post_liked"]);
  writes = 0;
  await Promise.all(Array.from({ length: 500 }, (_, i) => client.track("post_liked", { post_id: `p${i}` })));
  storageText = await items.getItem("addvalue-analytics");
  assert.equal(saved().length, 502);
  assert.ok(writes <= 3, `${writes} writes for 500 events tracked at once`);
});

test("a flush joins a delivery under way and counts what it sent", async () => {
  const { client, requests } = harness([], { flushAt: 2, maxBatchSize: 1 });
  await client.identify(USER);
  await client.setConsent(GRANTED);
  await client.track("post_liked", { post_id: "a" }); // queue of 2: a delivery starts
  const result = await client.flush();
  assert.equal(result.accepted, 2);
  assert.equal(requests.length, 2);
});
