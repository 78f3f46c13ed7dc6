// Budget use over time: epsilon spent, summed query after query, one line per grant or
// per dataset. Drawn with Chart.js on a canvas; the same numbers are in a table beside it
// (for a screen reader, and for the tests).
import {
  Chart, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip,
} from "chart.js";

Chart.register(Legend, LinearScale, LineController, LineElement, PointElement, Tooltip);

// Each at least 4.5:1 against white.
const COLOURS = ["#0b5cad", "#b3261e", "#1b6e34", "#6b3fa0", "#8a4b00", "#00627a"];

/** archives -> Map(label -> [{x: time in ms, y: epsilon spent so far, delta: this query's}]),
 *  each line starting from 0 at its first query. */
export function cumulative(archives, labelOf) {
  const lines = new Map();
  const charged = archives
    .filter((a) => a.epsilon > 0 || a.delta > 0)
    .map((a) => ({ ...a, at: Date.parse(a.timestamp) }))
    .sort((a, b) => a.at - b.at);
  for (const a of charged) {
    const label = labelOf(a);
    const points = lines.get(label) ?? [{ x: a.at, y: 0, delta: 0 }];
    const before = points.length ? points[points.length - 1].y : 0;
    points.push({ x: a.at, y: before + a.epsilon, delta: a.delta });
    lines.set(label, points);
  }
  return lines;
}

export function draw(canvas, lines, title) {
  const times = [...lines.values()].flat().map((p) => p.x);
  const [first, last] = [Math.min(...times), Math.max(...times)];
  const pad = Math.max((last - first) * 0.05, 60_000);  // a lone query: a minute each side
  const datasets = [...lines.entries()].map(([label, data], i) => ({
    label, data, stepped: true, borderWidth: 2, pointRadius: 3,
    borderColor: COLOURS[i % COLOURS.length], backgroundColor: COLOURS[i % COLOURS.length],
  }));
  return new Chart(canvas, {
    type: "line",
    data: { datasets },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false, parsing: false,
      plugins: { legend: { position: "bottom", labels: { color: "#1a1a1a" } },
                 tooltip: { callbacks: { title: (items) => new Date(items[0].parsed.x).toLocaleString() } } },
      scales: {
        x: { type: "linear", min: first - pad, max: last + pad, ticks: { color: "#1a1a1a", maxTicksLimit: 6,
                                        callback: (v) => new Date(v).toLocaleTimeString() },
             title: { display: true, text: "time", color: "#1a1a1a" } },
        y: { type: "linear", beginAtZero: true, ticks: { color: "#1a1a1a" },
             title: { display: true, text: title, color: "#1a1a1a" } },
      },
    },
  });
}
