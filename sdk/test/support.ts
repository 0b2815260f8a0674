import { createAnalytics, memoryStorage, type AnalyticsError, type AnalyticsOptions, type KeyValueStorage } from "../src/index.js";

export const USER = "0b6f7a4e-2f55-4c6b-9a34-7d4b1f0e9c11";
export const CONTEXT = {
  device_type: "mobile",
  platform: "ios",
  app_version: "2.4.1",
  locale: "en-US",
  timezone: "Europe/Berlin",
} as const;
export const GRANTED = { analytics: true, personalization: false, marketing: false, location: false };
export const WITHDRAWN = { analytics: false, personalization: false, marketing: false, location: false };

/** A scripted answer of the fake service; `network` fails the fetch as a dropped connection does. */
export type Answer = "network" | { status: number; body?: unknown; headers?: Record<string, string> };

export interface SentRequest {
  url: string;
  headers: Record<string, string>;
  body: { batch: Record<string, any>[]; sent_at: string };
}

/** A fake `POST /v1/events`: answers from the script, then 200 with every event accepted. */
export function fakeService(script: Answer[] = []) {
  const requests: SentRequest[] = [];
  const fetch = (async (url: string, init: RequestInit) => {
    const body = JSON.parse(String(init.body)) as SentRequest["body"];
    requests.push({ url, headers: init.headers as Record<string, string>, body });
    const answer = script.shift() ?? { status: 200, body: { accepted: body.batch.length, duplicates: 0, not_collected: 0, rejected: [] } };
    if (answer === "network") throw new TypeError("fetch failed");
    return new Response(JSON.stringify(answer.body ?? {}), { status: answer.status, headers: answer.headers ?? {} });
  }) as typeof globalThis.fetch;
  return { fetch, requests };
}

/** A client on a fake service, a settable clock and a recorded sleep (no real waiting, no races). */
export function harness(script: Answer[] = [], options: Partial<AnalyticsOptions> & { storage?: KeyValueStorage } = {}) {
  const service = fakeService(script);
  const clock = { t: Date.parse("2026-12-03T10:00:00Z") };
  const sleeps: number[] = [];
  const errors: AnalyticsError[] = [];
  const storage = options.storage ?? memoryStorage();
  const client = createAnalytics({
    endpoint: "https://analytics.test/",
    token: "token-1",
    context: CONTEXT,
    storage,
    flushIntervalMs: 0,
    flushAt: 1000,
    fetch: service.fetch,
    now: () => clock.t,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock.t += ms;
    },
    onError: (e) => errors.push(e),
    ...options,
  });
  return { client, clock, sleeps, errors, storage, ...service };
}
