// The dashboards' one script (docs/dashboards.md). The pages' CSP allows no inline script: chart data
// comes in <script type="application/json"> blocks, which this reads and draws with uPlot; the real-time
// page's counters follow the WebSocket /api/realtime/metrics (the session cookie signs it in).
"use strict";

const PALETTE = ["#1f5fbf", "#c2410c", "#15803d", "#7c3aed", "#a16207"];

function drawCharts() {
  for (const el of document.querySelectorAll("[data-chart]")) {
    const block = document.getElementById(el.dataset.chart);
    if (!block || typeof uPlot === "undefined") continue;
    const data = JSON.parse(block.textContent);
    const names = Object.keys(data.series);
    const xs = data.x.map((d) => Date.parse(d.includes("T") ? d : d + "T00:00:00Z") / 1000);
    const series = [{}, ...names.map((name, i) => ({ label: name, stroke: PALETTE[i % PALETTE.length], width: 2 }))];
    // A forecast's band: its two edges thin and dashed, the space between them shaded.
    const low = names.indexOf("Band low") + 1;
    const high = names.indexOf("Band high") + 1;
    const bands = low && high ? [{ series: [high, low], fill: "rgba(194, 65, 12, 0.12)" }] : [];
    for (const edge of bands.length ? [low, high] : []) Object.assign(series[edge], { width: 1, dash: [4, 4] });
    const width = Math.max(300, el.clientWidth || 600);
    const options = { width, height: 300, series, bands, scales: { x: { time: true } } };
    new uPlot(options, [xs, ...names.map((n) => data.series[n])], el);
    el.dataset.drawn = "true";
  }
}

function followLive(list) {
  const status = document.querySelector("[data-connection]");
  const say = (state, text) => {
    status.dataset.connection = state;
    status.textContent = text;
  };
  let wait = 500;
  const connect = () => {
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + list.dataset.live;
    const socket = new WebSocket(url);
    socket.onopen = () => {
      wait = 500;
      say("open", "Live: connected");
    };
    socket.onmessage = async (message) => {
      const text = typeof message.data === "string" ? message.data : await message.data.text();
      show(JSON.parse(text).data);
    };
    socket.onclose = (event) => {
      if (event.code === 4401) {
        // Signed out (here or in another tab) or the session expired: reconnecting cannot help.
        say("ended", "Signed out: sign in again to follow the counters");
        return;
      }
      say("closed", "Disconnected: reconnecting…");
      setTimeout(connect, wait);
      wait = Math.min(wait * 2, 10000);
    };
  };
  connect();
}

function show(data) {
  const waves = Object.values(data.wave_participants || {}).reduce((a, b) => a + b, 0);
  const values = { ...data, wave_participants: waves };
  for (const el of document.querySelectorAll("[data-counter]")) {
    if (el.dataset.counter in values) el.textContent = values[el.dataset.counter];
  }
}

document.addEventListener("DOMContentLoaded", () => {
  drawCharts();
  const live = document.querySelector("[data-live]");
  if (live) followLive(live);
});
