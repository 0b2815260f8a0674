// Compile-time checks, run by `npm run typecheck` (tsc): each @ts-expect-error line must be an error,
// or tsc fails with "Unused '@ts-expect-error' directive". Not a runtime test file.
import type { Analytics } from "../src/index.js";

export function typed(client: Analytics): void {
  void client.track("wave_joined", { wave_id: "w-1" });
  void client.track("wave_feedback_submitted", { wave_id: "w-1", rating: 5 });
  void client.track("wave_feedback_submitted", { wave_id: "w-1", rating: 5, comment: "lovely" });
  void client.track("user_profile_update", { fields: ["name"] });

  // @ts-expect-error: not a catalog event
  void client.track("Application Opened", {});
  // @ts-expect-error: the consent update is sent by setConsent, never by track
  void client.track("user_consent_update", { analytics: true, personalization: true, marketing: true, location: true });
  // @ts-expect-error: an unknown property
  void client.track("wave_joined", { wave_id: "w-1", extra: 1 });
  // @ts-expect-error: a required property missing
  void client.track("wave_left", { wave_id: "w-1" });
  // @ts-expect-error: not one of the enum's values
  void client.track("post_created", { post_id: "p", kind: "video" });
  // @ts-expect-error: a number where the catalog wants a string
  void client.track("post_liked", { post_id: 7 });
  // @ts-expect-error: a missing consent purpose
  void client.setConsent({ analytics: true, personalization: false, marketing: false });
}
