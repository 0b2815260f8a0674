import { retryAfterMs } from "./time.js";
import type { FieldError } from "./types.js";
import type { WireEvent } from "./queue.js";

/** The answer of `POST /v1/events` with a 200. */
export interface IngestReport {
  readonly accepted: number;
  readonly duplicates: number;
  readonly not_collected: number;
  readonly rejected: readonly { readonly index: number; readonly event_id: string | null; readonly errors: readonly FieldError[] }[];
}

/** What became of one request: stored (with per-event outcomes), refused for good, or to be sent again. */
export type Outcome =
  | { readonly type: "delivered"; readonly report: IngestReport }
  | { readonly type: "refused"; readonly status: number; readonly message: string }
  | { readonly type: "retry"; readonly status: number | null; readonly message: string; readonly afterMs: number | null };

type TokenSource = string | (() => string | Promise<string>);

// 400 and 413 say the request itself is wrong: sending it again would be refused again. Any other 4xx
// (a wrong endpoint, say) is a configuration problem that a fix on the server side cures, so the
// events wait rather than being lost.
const REFUSED_FOR_GOOD = new Set([400, 413]);

/** Posts one batch: the token, a fresh one once after a 401, and the reading of every answer. */
export class Transport {
  private token: string | null = null;

  constructor(
    private readonly url: string,
    private readonly tokenSource: TokenSource,
    private readonly fetchFn: typeof fetch,
    private readonly now: () => number,
  ) {}

  async post(body: (sentAt: number) => string, signal: AbortSignal): Promise<Outcome> {
    const first = await this.attempt(body, signal, false);
    if (first.type === "retry" && first.status === 401 && typeof this.tokenSource === "function") {
      return this.attempt(body, signal, true);
    }
    return first;
  }

  private async attempt(body: (sentAt: number) => string, signal: AbortSignal, fresh: boolean): Promise<Outcome> {
    let response: Response;
    try {
      const token = await this.currentToken(fresh);
      response = await this.fetchFn(this.url, {
        method: "POST",
        // sent_at is the time of this very send, so the service corrects the device's clock skew.
        body: body(this.now()),
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        signal,
      });
    } catch (error) {
      return { type: "retry", status: null, message: `network: ${String(error)}`, afterMs: null };
    }
    const text = await response.text().catch(() => "");
    if (response.status === 200) {
      try {
        return { type: "delivered", report: JSON.parse(text) as IngestReport };
      } catch {
        return { type: "retry", status: 200, message: "the answer was not JSON", afterMs: null };
      }
    }
    const message = reason(response.status, text);
    if (REFUSED_FOR_GOOD.has(response.status)) return { type: "refused", status: response.status, message };
    const afterMs = retryAfterMs(response.headers.get("retry-after"), this.now());
    return { type: "retry", status: response.status, message, afterMs };
  }

  private async currentToken(fresh: boolean): Promise<string> {
    if (typeof this.tokenSource === "string") return this.tokenSource;
    if (fresh || this.token === null) this.token = await this.tokenSource();
    return this.token;
  }
}

function reason(status: number, text: string): string {
  try {
    const parsed = JSON.parse(text) as { detail?: unknown; error?: unknown };
    const said = parsed.detail ?? parsed.error;
    if (typeof said === "string") return `${status}: ${said}`;
  } catch {
    // not JSON: the text itself, cut short
  }
  return `${status}: ${text.slice(0, 200)}`;
}
