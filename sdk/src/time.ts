const pad = (n: number, width = 2): string => String(n).padStart(width, "0");

/** RFC 3339 with the device's own offset (`2026-12-03T16:24:54.123+01:00`), as the catalog's `timestamp` wants. */
export function withOffset(ms: number): string {
  const date = new Date(ms);
  const offset = -date.getTimezoneOffset();
  const local = new Date(ms + offset * 60_000);
  const sign = offset >= 0 ? "+" : "-";
  const away = Math.abs(offset);
  return `${local.toISOString().slice(0, 23)}${sign}${pad(Math.floor(away / 60))}:${pad(away % 60)}`;
}

/** A random UUID v4: `crypto.randomUUID` where there is one, else built from `crypto.getRandomValues`. */
export function uuid4(): string {
  const c = (globalThis as { crypto?: Crypto }).crypto;
  if (c && typeof c.randomUUID === "function") return c.randomUUID();
  const bytes = new Uint8Array(16);
  if (c && typeof c.getRandomValues === "function") c.getRandomValues(bytes);
  // React Native without a crypto polyfill: ids must be unique, not secret.
  else for (let i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** UTF-8 length of a string: what the service measures its limits in. */
export function byteLength(text: string): number {
  return new TextEncoder().encode(text).length;
}

/** `Retry-After` in milliseconds (seconds or an HTTP date), or null when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number): number | null {
  if (header === null || header.trim() === "") return null;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/** A wait that ends early when `signal` aborts (on shutdown). */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}
