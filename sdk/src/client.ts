import { type CatalogProperties, EVENT_CATEGORIES, type EventName } from "./catalog.js";
import {
  CONSENT_EVENT,
  MAX_EVENT_BYTES,
  Persistence,
  type State,
  type WireEvent,
  emptyState,
  nextBatch,
  trimmed,
  withWithdrawal,
} from "./queue.js";
import { abortableSleep, byteLength, uuid4, withOffset } from "./time.js";
import { type Outcome, Transport } from "./transport.js";
import type {
  Analytics,
  AnalyticsError,
  AnalyticsOptions,
  Consent,
  FlushResult,
  KeyValueStorage,
  TrackedEventName,
} from "./types.js";

/** The service's session stitching timeout: a gap this long, in use or in the background, starts a new session. */
export const SESSION_TIMEOUT_MS = 30 * 60 * 1000;

/** An in-memory storage: the default, and handy in tests. Nothing survives the process. */
export function memoryStorage(): KeyValueStorage {
  const items = new Map<string, string>();
  return {
    getItem: async (key) => items.get(key) ?? null,
    setItem: async (key, value) => void items.set(key, value),
    removeItem: async (key) => void items.delete(key),
  };
}

const zero = (): FlushResult => ({ accepted: 0, duplicates: 0, notCollected: 0, rejected: 0, refused: 0, pending: 0 });

function added(total: FlushResult, more: FlushResult): void {
  total.accepted += more.accepted;
  total.duplicates += more.duplicates;
  total.notCollected += more.notCollected;
  total.rejected += more.rejected;
  total.refused += more.refused;
  total.pending = more.pending;
}

class Client implements Analytics {
  private state: State = emptyState();
  private readonly ready: Promise<void>;
  private readonly persistence: Persistence;
  private readonly transport: Transport;
  private readonly inFlight = new Set<string>();
  private readonly stop = new AbortController();
  private changes: Promise<unknown> = Promise.resolve();
  private delivering: Promise<FlushResult> | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  private backgroundSince: number | null = null;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;

  constructor(private readonly options: AnalyticsOptions) {
    if ((options.maxBatchSize ?? 100) > 1000) throw new RangeError("maxBatchSize: at most 1000 (the service's limit)");
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? abortableSleep;
    const fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
    const url = `${options.endpoint.replace(/\/+$/, "")}/v1/events`;
    this.transport = new Transport(url, options.token, fetchFn, this.now);
    this.persistence = new Persistence(
      options.storage ?? memoryStorage(),
      options.storageKey ?? "addvalue-analytics",
      (message) => this.report({ kind: "storage", message }),
    );
    this.ready = this.persistence.load().then((state) => {
      this.state = state;
    });
    const interval = options.flushIntervalMs ?? 30_000;
    if (interval > 0) {
      this.timer = setInterval(() => this.deliverSoon(), interval);
      (this.timer as { unref?: () => void }).unref?.();
    }
  }

  async identify(userId: string): Promise<void> {
    await this.change(() => {
      if (this.state.userId === userId) return false;
      // Consent belongs to a person: the next one starts with none until the app sets theirs.
      this.state.userId = userId;
      this.state.consent = null;
      this.state.session = null;
      return true;
    });
  }

  async reset(): Promise<void> {
    await this.change(() => {
      this.state.userId = null;
      this.state.consent = null;
      this.state.session = null;
      return true;
    });
  }

  async setConsent(consent: Consent): Promise<void> {
    await this.change(() => {
      const userId = this.state.userId;
      if (userId === null) throw new Error("setConsent: call identify(userId) first; consent is a person's");
      const { analytics, personalization, marketing, location } = consent;
      const update = this.event(CONSENT_EVENT, { analytics, personalization, marketing, location }, userId, analytics);
      const withdrawn = this.state.consent?.analytics !== false && !analytics;
      this.state.queue = withdrawn ? withWithdrawal(this.state.queue, this.inFlight, update) : [...this.state.queue, update];
      this.state.consent = { analytics, personalization, marketing, location };
      this.trimQueue();
      return true;
    });
  }

  async track<N extends TrackedEventName>(name: N, properties: CatalogProperties[N]): Promise<boolean> {
    const queued = await this.change(() => {
      const userId = this.state.userId;
      // Nothing is kept for a person before their analytics consent, not even in the queue.
      if (userId === null || this.state.consent?.analytics !== true) return false;
      const event = this.event(name, properties as Record<string, unknown>, userId, true);
      const bytes = byteLength(JSON.stringify(event));
      if (bytes > MAX_EVENT_BYTES) {
        this.report({ kind: "too_large", eventName: name, bytes });
        return false;
      }
      this.state.queue.push(event);
      this.trimQueue();
      return true;
    });
    if (queued && this.state.queue.length >= (this.options.flushAt ?? 20)) this.deliverSoon();
    return queued;
  }

  async flush(): Promise<FlushResult> {
    await this.ready;
    const total = zero();
    // A delivery already under way (flushAt, the timer) is joined, and what it sent is counted too.
    while (this.delivering) added(total, await this.delivering);
    added(total, await this.deliver());
    return total;
  }

  background(): void {
    this.backgroundSince = this.now();
    this.deliverSoon();
  }

  foreground(): void {
    const since = this.backgroundSince;
    this.backgroundSince = null;
    if (since !== null && this.now() - since >= SESSION_TIMEOUT_MS) {
      void this.change(() => {
        this.state.session = null;
        return true;
      });
    }
  }

  async shutdown(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.stop.abort();
    await this.ready;
    await this.delivering;
    await this.changes.catch(() => undefined);
    await this.persistence.settled();
  }

  /**
   * Applies one change of the state after the ones before it, then resolves once the state holding it
   * is saved. The next change does not wait for that save: changes made meanwhile share the next write.
   */
  private async change<T>(apply: () => T): Promise<T> {
    const applied = this.changes.then(async () => {
      await this.ready;
      return apply();
    });
    this.changes = applied.catch(() => undefined);
    const result = await applied;
    if (result !== false) await this.persistence.save(this.state);
    return result;
  }

  private event(name: EventName, properties: Record<string, unknown>, userId: string, consentGiven: boolean): WireEvent {
    const at = this.now();
    const session = this.state.session;
    const id = session && at - session.lastEventAt < SESSION_TIMEOUT_MS ? session.id : uuid4();
    this.state.session = { id, lastEventAt: at };
    return {
      event_id: uuid4(), // made once, here, and kept across retries: a resend is a duplicate, never a second event
      event_name: name,
      event_category: EVENT_CATEGORIES[name],
      user_id: userId,
      session_id: id,
      timestamp: withOffset(at),
      properties,
      context: this.options.context,
      privacy: { consent_given: consentGiven, ip_anonymized: true },
    };
  }

  private trimQueue(): void {
    const dropped = trimmed(this.state.queue, this.inFlight, this.options.maxQueueSize ?? 10_000);
    if (dropped > 0) this.report({ kind: "queue_full", dropped });
  }

  private deliverSoon(): void {
    if (this.stop.signal.aborted || this.delivering) return;
    void this.ready.then(() => (this.delivering ? undefined : this.deliver()));
  }

  private deliver(): Promise<FlushResult> {
    const run = this.deliverAll().finally(() => {
      if (this.delivering === run) this.delivering = null;
    });
    this.delivering = run;
    return run;
  }

  private async deliverAll(): Promise<FlushResult> {
    const result = zero();
    let failures = 0;
    const maxAttempts = this.options.maxAttemptsPerFlush ?? 6;
    while (!this.stop.signal.aborted) {
      await this.changes;
      const batch = nextBatch(this.state.queue, this.options.maxBatchSize ?? 100);
      if (batch.length === 0) break;
      for (const e of batch) this.inFlight.add(e.event_id);
      const outcome = await this.transport.post((sentAt) => JSON.stringify({ batch, sent_at: withOffset(sentAt) }), this.stop.signal);
      if (outcome.type === "retry") {
        for (const e of batch) this.inFlight.delete(e.event_id);
        failures++;
        if (this.stop.signal.aborted || failures >= maxAttempts) break;
        const waitMs = outcome.afterMs ?? this.backoff(failures);
        this.report({ kind: "retrying", status: outcome.status, message: outcome.message, retryInMs: waitMs });
        await this.sleep(waitMs, this.stop.signal);
        continue;
      }
      failures = 0;
      await this.settle(batch, outcome, result);
    }
    result.pending = this.state.queue.length;
    return result;
  }

  /** Takes an answered batch off the queue and reports what the service refused in it. */
  private async settle(batch: WireEvent[], outcome: Exclude<Outcome, { type: "retry" }>, result: FlushResult): Promise<void> {
    const sent = new Set(batch.map((e) => e.event_id));
    await this.change(() => {
      this.state.queue = this.state.queue.filter((e) => !sent.has(e.event_id));
      for (const id of sent) this.inFlight.delete(id);
      return true;
    });
    if (outcome.type === "refused") {
      result.refused += batch.length;
      this.report({ kind: "refused", status: outcome.status, message: outcome.message, eventIds: [...sent] });
      return;
    }
    const { report } = outcome;
    result.accepted += report.accepted;
    result.duplicates += report.duplicates;
    result.notCollected += report.not_collected;
    result.rejected += report.rejected.length;
    for (const rejection of report.rejected) {
      const event = batch[rejection.index];
      this.report({
        kind: "rejected",
        eventId: rejection.event_id ?? event?.event_id ?? "",
        eventName: event?.event_name ?? "",
        errors: rejection.errors,
      });
    }
  }

  /** Exponential, capped, with jitter (half to all of the step), so many devices back off apart. */
  private backoff(failures: number): number {
    const base = this.options.retryBaseMs ?? 1000;
    const step = Math.min(this.options.retryMaxMs ?? 60_000, base * 2 ** (failures - 1));
    return Math.round(step / 2 + Math.random() * (step / 2));
  }

  private report(error: AnalyticsError): void {
    try {
      this.options.onError?.(error);
    } catch {
      // the app's handler failing must not stop delivery
    }
  }
}

/** A client for `POST <endpoint>/v1/events`; see the README for every option. */
export function createAnalytics(options: AnalyticsOptions): Analytics {
  return new Client(options);
}
