export { createAnalytics, memoryStorage, SESSION_TIMEOUT_MS } from "./client.js";
export { EVENT_CATEGORIES } from "./catalog.js";
export type { CatalogProperties, EventContext, EventName } from "./catalog.js";
export type {
  Analytics,
  AnalyticsError,
  AnalyticsOptions,
  Consent,
  FieldError,
  FlushResult,
  KeyValueStorage,
  TrackedEventName,
} from "./types.js";
