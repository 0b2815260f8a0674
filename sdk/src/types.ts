import type { CatalogProperties, EventContext, EventName } from "./catalog.js";

/** An async key-value store: AsyncStorage as it is, or any object with these three methods. */
export interface KeyValueStorage {
  getItem(key: string): Promise<string | null>;
  setItem(key: string, value: string): Promise<void>;
  removeItem(key: string): Promise<void>;
}

/** The four purposes of the catalog; `analytics` is needed for any collection. */
export interface Consent {
  readonly analytics: boolean;
  readonly personalization: boolean;
  readonly marketing: boolean;
  readonly location: boolean;
}

/** The names `track` takes: every catalog event but the consent update, which `setConsent` sends. */
export type TrackedEventName = Exclude<EventName, "user_consent_update">;

/** One field the service refused, as it named it (`properties.wave_id`) and why. */
export interface FieldError {
  readonly path: string;
  readonly message: string;
}

/** What went wrong, given to `onError`; events named here are no longer queued unless `kind` is `retrying`. */
export type AnalyticsError =
  | { readonly kind: "rejected"; readonly eventId: string; readonly eventName: string; readonly errors: readonly FieldError[] }
  | { readonly kind: "refused"; readonly status: number; readonly message: string; readonly eventIds: readonly string[] }
  | { readonly kind: "too_large"; readonly eventName: string; readonly bytes: number }
  | { readonly kind: "queue_full"; readonly dropped: number }
  | { readonly kind: "retrying"; readonly status: number | null; readonly message: string; readonly retryInMs: number }
  | { readonly kind: "storage"; readonly message: string };

/** What a `flush()` call delivered, as the service counted it, including a delivery under way when it was called. */
export interface FlushResult {
  /** Stored now. */
  accepted: number;
  /** Already stored by an earlier send whose answer was lost: not stored twice. */
  duplicates: number;
  /** Received for a person without analytics consent on the server: counted, not stored. */
  notCollected: number;
  /** Refused by the service's checks (each reported to `onError`), kept in its quarantine. */
  rejected: number;
  /** Dropped because the service refused a whole request (400 or 413; reported to `onError`). */
  refused: number;
  /** Still queued: the service could not be reached in this call's attempts; sent later. */
  pending: number;
}

export interface AnalyticsOptions {
  /** The service's base URL, e.g. `https://analytics.example.com`; events go to `<endpoint>/v1/events`. */
  readonly endpoint: string;
  /** The person's bearer token, or a function giving it (called again once after a 401). */
  readonly token: string | (() => string | Promise<string>);
  /** Where the queue and the session live between launches; in memory when absent (lost on exit). */
  readonly storage?: KeyValueStorage;
  /** The storage key; change it only to run two clients on one storage. Default `addvalue-analytics`. */
  readonly storageKey?: string;
  /** The device and app: device type, platform, app version, locale and IANA time zone. */
  readonly context: EventContext;
  /** Queue length that starts a flush at once. Default 20. */
  readonly flushAt?: number;
  /** Time between automatic flushes; 0 turns the timer off. Default 30 000. */
  readonly flushIntervalMs?: number;
  /** Events per request, at most 1 000 (the service's limit). Default 100. */
  readonly maxBatchSize?: number;
  /** Queued events kept at most; beyond it the oldest tracked events are dropped and reported. Default 10 000. */
  readonly maxQueueSize?: number;
  /** First retry delay; doubled per failure, with jitter. Default 1 000. */
  readonly retryBaseMs?: number;
  /** Longest retry delay (a `Retry-After` from the service is honoured whatever its length). Default 60 000. */
  readonly retryMaxMs?: number;
  /** Failed attempts in a row after which a `flush()` resolves, leaving the events queued. Default 6. */
  readonly maxAttemptsPerFlush?: number;
  /** The `fetch` to use; the global one by default. */
  readonly fetch?: typeof fetch;
  /** The clock, in milliseconds since the epoch. Default `Date.now`. */
  readonly now?: () => number;
  /** How the client waits between retries; replace it in tests. Default `setTimeout`. */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Told of every error; delivery goes on. */
  readonly onError?: (error: AnalyticsError) => void;
}

/** The client `createAnalytics` returns. */
export interface Analytics {
  /** The person events are tracked for (a UUID); a different person starts with no consent and a new session. */
  identify(userId: string): Promise<void>;
  /** Record the person's choice: always sent; a withdrawal of `analytics` drops their queued events and goes first. */
  setConsent(consent: Consent): Promise<void>;
  /** Queue one catalog event; false when not queued (no person, no analytics consent, or over 32 KiB). */
  track<N extends TrackedEventName>(name: N, properties: CatalogProperties[N]): Promise<boolean>;
  /** Send what is queued, with retries; resolves with the service's counts. */
  flush(): Promise<FlushResult>;
  /** Forget the person, their consent and session (on sign-out); queued events are still sent. */
  reset(): Promise<void>;
  /** The app went to the background: flush now. */
  background(): void;
  /** The app is active again: a new session after 30 minutes away. */
  foreground(): void;
  /** Stop timers and retries, abort a request in flight (its events stay queued), and save the queue. */
  shutdown(): Promise<void>;
}
