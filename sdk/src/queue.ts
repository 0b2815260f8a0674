import type { EventContext } from "./catalog.js";
import { byteLength } from "./time.js";
import type { Consent, KeyValueStorage } from "./types.js";

/** One event as `POST /v1/events` takes it; kept as is in the queue so a resend is the same event. */
export interface WireEvent {
  readonly event_id: string;
  readonly event_name: string;
  readonly event_category: string;
  readonly user_id: string;
  readonly session_id: string;
  readonly timestamp: string;
  readonly properties: Readonly<Record<string, unknown>>;
  readonly context: EventContext;
  // Only these two, never a device id, advertising id or address: see README "What is never sent".
  readonly privacy: { readonly consent_given: boolean; readonly ip_anonymized: boolean };
}

export interface Session {
  readonly id: string;
  readonly lastEventAt: number;
}

/** Everything that outlives the app's process, saved whole on every change. */
export interface State {
  userId: string | null;
  consent: Consent | null;
  session: Session | null;
  queue: WireEvent[];
}

export const CONSENT_EVENT = "user_consent_update";
export const MAX_EVENT_BYTES = 32 * 1024;
export const MAX_BATCH_EVENTS = 1000;
// The service's 1 MiB, less room for the envelope `{"batch":[...],"sent_at":"..."}`.
export const MAX_BODY_BYTES = 1024 * 1024 - 1024;

const VERSION = 1;

export function emptyState(): State {
  return { userId: null, consent: null, session: null, queue: [] };
}

/**
 * Reads and writes the state, one write at a time. Changes made while a write is under way are
 * saved together by the next one, so an app tracking many events at once costs a few writes, not
 * one per event; each `save` resolves once a write holding its change has finished.
 */
export class Persistence {
  private writing: Promise<void> = Promise.resolve();
  private next: Promise<void> | null = null;

  constructor(
    private readonly storage: KeyValueStorage,
    private readonly key: string,
    private readonly onFailure: (message: string) => void,
  ) {}

  async load(): Promise<State> {
    try {
      const text = await this.storage.getItem(this.key);
      if (text === null) return emptyState();
      const saved = JSON.parse(text) as { v?: number; state?: State };
      return saved.v === VERSION && saved.state ? saved.state : emptyState();
    } catch (error) {
      this.onFailure(`could not read the saved queue: ${String(error)}`);
      return emptyState();
    }
  }

  save(state: State): Promise<void> {
    if (this.next === null) {
      this.next = this.writing.then(async () => {
        // One timer tick first: calls made together (an app tracking in a loop) are applied by then.
        await new Promise((resolve) => setTimeout(resolve, 0));
        this.next = null;
        // Serialized when the write starts, so it holds every change made until then.
        const text = JSON.stringify({ v: VERSION, state });
        return this.storage.setItem(this.key, text).catch((error: unknown) => {
          this.onFailure(`could not save the queue: ${String(error)}`);
        });
      });
      this.writing = this.next;
    }
    return this.next;
  }

  settled(): Promise<void> {
    return this.writing;
  }
}

/** The front of the queue that fits one request: at most `maxEvents` events and the service's 1 MiB. */
export function nextBatch(queue: readonly WireEvent[], maxEvents: number): WireEvent[] {
  const batch: WireEvent[] = [];
  let bytes = 0;
  for (const event of queue) {
    if (batch.length >= Math.min(maxEvents, MAX_BATCH_EVENTS)) break;
    const size = byteLength(JSON.stringify(event)) + 1;
    if (batch.length > 0 && bytes + size > MAX_BODY_BYTES) break;
    batch.push(event);
    bytes += size;
  }
  return batch;
}

/**
 * The queue after a withdrawal of analytics consent by `userId`: their tracked events not yet sent
 * are dropped, and the withdrawal goes in after their last queued consent update (so the choices
 * reach the service in the order made) or, when there is none, at the front.
 */
export function withWithdrawal(queue: readonly WireEvent[], inFlight: ReadonlySet<string>, withdrawal: WireEvent): WireEvent[] {
  const kept = queue.filter(
    (e) => inFlight.has(e.event_id) || e.user_id !== withdrawal.user_id || e.event_name === CONSENT_EVENT,
  );
  let at = 0;
  kept.forEach((e, i) => {
    if (inFlight.has(e.event_id) || (e.user_id === withdrawal.user_id && e.event_name === CONSENT_EVENT)) at = i + 1;
  });
  return [...kept.slice(0, at), withdrawal, ...kept.slice(at)];
}

/** Drops the oldest tracked events (never a consent update or one in flight) down to `max`; how many went. */
export function trimmed(queue: WireEvent[], inFlight: ReadonlySet<string>, max: number): number {
  let excess = queue.length - max;
  if (excess <= 0) return 0;
  let dropped = 0;
  for (let i = 0; i < queue.length && excess > 0; ) {
    const event = queue[i] as WireEvent;
    if (event.event_name !== CONSENT_EVENT && !inFlight.has(event.event_id)) {
      queue.splice(i, 1);
      excess--;
      dropped++;
    } else i++;
  }
  return dropped;
}
