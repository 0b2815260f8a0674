// Optional React Native adapters. They take React Native's modules as arguments, so this package
// imports nothing of React Native and the core runs in Node and browsers too.
import type { Analytics } from "./types.js";

/** What the adapter uses of React Native's `AppState`. */
export interface AppStateLike {
  addEventListener(type: "change", listener: (state: string) => void): { remove(): void };
}

/** What the adapter uses of `@react-native-community/netinfo`'s default export. */
export interface NetInfoLike {
  addEventListener(listener: (state: { isConnected: boolean | null; isInternetReachable?: boolean | null }) => void): () => void;
}

/** Flush when the app goes to the background; a new session when it comes back after 30 minutes. */
export function trackAppState(client: Analytics, appState: AppStateLike): () => void {
  const subscription = appState.addEventListener("change", (state) => {
    if (state === "background") client.background();
    else if (state === "active") client.foreground();
  });
  return () => subscription.remove();
}

/** Flush as soon as the device is back online, rather than at the next timer tick. */
export function flushWhenOnline(client: Analytics, netInfo: NetInfoLike): () => void {
  let online = true;
  return netInfo.addEventListener((state) => {
    const now = state.isConnected === true && state.isInternetReachable !== false;
    if (now && !online) void client.flush();
    online = now;
  });
}
