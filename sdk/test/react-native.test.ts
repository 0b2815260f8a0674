import assert from "node:assert/strict";
import { test } from "node:test";

import { flushWhenOnline, trackAppState } from "../src/react-native.js";
import { GRANTED, USER, harness } from "./support.js";

test("the AppState adapter flushes on background and starts a new session after 30 minutes away", async () => {
  const { client, requests, clock } = harness();
  let listener: (state: string) => void = () => undefined;
  let removed = false;
  const stop = trackAppState(client, { addEventListener: (_type, l) => ((listener = l), { remove: () => void (removed = true) }) });
  await client.identify(USER);
  await client.setConsent(GRANTED);
  await client.track("post_liked", { post_id: "a" });
  listener("background");
  const deadline = Date.now() + 5000;
  while (requests.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.equal(requests.length, 1);
  clock.t += 31 * 60_000;
  listener("active");
  await client.track("post_liked", { post_id: "b" });
  await client.flush();
  const [a, b] = requests.flatMap((r) => r.body.batch).filter((e) => e.event_name === "post_liked");
  assert.notEqual(a!.session_id, b!.session_id);
  stop();
  assert.ok(removed);
});

test("the NetInfo adapter flushes when the device comes back online", async () => {
  const { client, requests } = harness();
  let listener: (state: { isConnected: boolean | null }) => void = () => undefined;
  flushWhenOnline(client, { addEventListener: (l) => ((listener = l), () => undefined) });
  await client.identify(USER);
  await client.setConsent(GRANTED);
  listener({ isConnected: true });
  assert.equal(requests.length, 0); // online all along: nothing to do
  listener({ isConnected: false });
  listener({ isConnected: true });
  const deadline = Date.now() + 5000;
  while (requests.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.equal(requests.length, 1);
});
