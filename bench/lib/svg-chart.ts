// A small dependency-free SVG line-chart writer for benchmark results.
//
//   import { lineChart, formatBytes } from "./lib/svg-chart.js";
//   writeFileSync("out.svg", lineChart({
//     title: "Bandwidth", xLabel: "message size", yLabel: "MB/s", logX: true, logY: true,
//     xFormat: formatBytes, series: [{ name: "cma", points: [[1024, 900], [1 << 20, 9000]] }],
//   }));
//
// Log axes get ticks at powers of `xBase`/`yBase` (defaults: 4 for a byte-size x axis when the
// formatter is formatBytes, else 10), with faint minor grid lines. Points with a non-finite or
// (on a log axis) non-positive coordinate are skipped, which breaks the line there. A series
// may carry a band (`lo`/`hi` per point, e.g. min/max of repetitions) drawn as a shaded area.

/** One line of the chart. */
export interface Series {
  name: string;
  /** [x, y] pairs; sorted by x when drawn. */
  points: Array<[number, number]>;
  /** Optional spread per point, same x as `points`: [x, lo, hi]. */
  band?: Array<[number, number, number]>;
  /** CSS colour; picked from the palette when absent. */
  color?: string;
  /** Dashed line. */
  dashed?: boolean;
}

/** What {@link lineChart} draws. */
export interface ChartOptions {
  title: string;
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  logX?: boolean;
  logY?: boolean;
  /** Tick-label formatters. */
  xFormat?: (v: number) => string;
  yFormat?: (v: number) => string;
  /** Base of the major ticks on a log axis. */
  xBase?: number;
  yBase?: number;
  width?: number;
  height?: number;
  /** Legend position inside the plot. Default "top-left". */
  legend?: "top-left" | "top-right" | "bottom-right" | "bottom-left";
}

/** Colour-blind-friendly palette (Okabe–Ito, then a few extras). */
export const PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999933", "#882255"];

/** 1536 → "1.5 KiB"; powers of two print without decimals ("64 KiB", "1 MiB"). */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let u = 0;
  let v = n;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  const s = Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 1 : 0);
  return `${s} ${units[u]}`;
}

/** 12345 → "12k", 0.5 → "0.5": compact numbers for tick labels. */
export function formatNumber(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e9) return `${trim(v / 1e9)}G`;
  if (a >= 1e6) return `${trim(v / 1e6)}M`;
  if (a >= 1e4) return `${trim(v / 1e3)}k`;
  if (a >= 1) return trim(v);
  if (a === 0) return "0";
  return String(Number(v.toPrecision(2)));
}

function trim(v: number): string {
  return String(Number(v.toPrecision(3)));
}

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

interface Axis {
  min: number;
  max: number;
  log: boolean;
  base: number;
  toPx: (v: number) => number;
  major: number[];
  minor: number[];
}

function makeAxis(values: number[], log: boolean, base: number, pxFrom: number, pxTo: number): Axis {
  const vs = values.filter((v) => Number.isFinite(v) && (!log || v > 0));
  let min = vs.length ? Math.min(...vs) : 1;
  let max = vs.length ? Math.max(...vs) : 10;
  const major: number[] = [];
  const minor: number[] = [];
  if (log) {
    let lo = Math.floor(Math.log(min) / Math.log(base) + 1e-9);
    let hi = Math.ceil(Math.log(max) / Math.log(base) - 1e-9);
    if (hi <= lo) hi = lo + 1;
    // Too many majors: thin them out (every 2nd, 3rd, ... power).
    const step = Math.max(1, Math.ceil((hi - lo) / 12));
    lo = Math.floor(lo / step) * step;
    min = base ** lo;
    max = base ** hi;
    for (let e = lo; e <= hi; e += step) major.push(base ** e);
    // Minor lines: integer multiples within each decade for base 10, intermediate powers otherwise.
    for (let e = lo; e < hi; e += step) {
      if (base === 10 && step === 1) for (let k = 2; k <= 9; k++) minor.push(k * 10 ** e);
      else for (let k = 1; k < step && e + k <= hi; k++) minor.push(base ** (e + k));
    }
  } else {
    if (min > 0 && min < max / 3) min = 0;
    if (max === min) max = min + 1;
    const raw = (max - min) / 6;
    const mag = 10 ** Math.floor(Math.log10(raw));
    const nice = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
    min = Math.floor(min / nice) * nice;
    max = Math.ceil(max / nice) * nice;
    for (let v = min; v <= max + nice / 2; v += nice) major.push(Number(v.toPrecision(12)));
  }
  const lmin = log ? Math.log(min) : min;
  const lmax = log ? Math.log(max) : max;
  const toPx = (v: number) => {
    const t = ((log ? Math.log(v) : v) - lmin) / (lmax - lmin);
    return pxFrom + t * (pxTo - pxFrom);
  };
  return { min, max, log, base, toPx, major, minor };
}

/** Render a line chart as a standalone SVG document. */
export function lineChart(o: ChartOptions): string {
  const W = o.width ?? 900;
  const H = o.height ?? 560;
  const m = { left: 86, right: 24, top: o.subtitle ? 62 : 46, bottom: 62 };
  const xFormat = o.xFormat ?? formatNumber;
  const yFormat = o.yFormat ?? formatNumber;
  const xBase = o.xBase ?? (o.xFormat === formatBytes ? 4 : 10);
  const yBase = o.yBase ?? (o.yFormat === formatBytes ? 4 : 10);
  const ok = (x: number, y: number) => Number.isFinite(x) && Number.isFinite(y) && (!o.logX || x > 0) && (!o.logY || y > 0);

  const xs: number[] = [];
  const ys: number[] = [];
  for (const s of o.series) {
    for (const [x, y] of s.points) if (ok(x, y)) (xs.push(x), ys.push(y));
    for (const [x, lo, hi] of s.band ?? []) if (ok(x, lo) && ok(x, hi)) (xs.push(x), ys.push(lo, hi));
  }
  const X = makeAxis(xs, !!o.logX, xBase, m.left, W - m.right);
  const Y = makeAxis(ys, !!o.logY, yBase, H - m.bottom, m.top);
  const px = (v: number) => v.toFixed(1);

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">${esc(o.title)}</text>`);
  if (o.subtitle) out.push(`<text x="${W / 2}" y="44" text-anchor="middle" fill="#555">${esc(o.subtitle)}</text>`);

  // Grid and ticks.
  const [x0, x1, y0, y1] = [m.left, W - m.right, H - m.bottom, m.top];
  out.push(`<g stroke="#eeeeee" stroke-width="1">`);
  for (const v of X.minor) out.push(`<line x1="${px(X.toPx(v))}" y1="${y0}" x2="${px(X.toPx(v))}" y2="${y1}"/>`);
  for (const v of Y.minor) out.push(`<line x1="${x0}" y1="${px(Y.toPx(v))}" x2="${x1}" y2="${px(Y.toPx(v))}"/>`);
  out.push(`</g><g stroke="#d0d0d0" stroke-width="1">`);
  for (const v of X.major) out.push(`<line x1="${px(X.toPx(v))}" y1="${y0}" x2="${px(X.toPx(v))}" y2="${y1}"/>`);
  for (const v of Y.major) out.push(`<line x1="${x0}" y1="${px(Y.toPx(v))}" x2="${x1}" y2="${px(Y.toPx(v))}"/>`);
  out.push(`</g>`);
  out.push(`<rect x="${x0}" y="${y1}" width="${x1 - x0}" height="${y0 - y1}" fill="none" stroke="#333"/>`);
  out.push(`<g fill="#333">`);
  for (const v of X.major) out.push(`<text x="${px(X.toPx(v))}" y="${y0 + 18}" text-anchor="middle">${esc(xFormat(v))}</text>`);
  for (const v of Y.major) out.push(`<text x="${x0 - 8}" y="${px(Y.toPx(v) + 4)}" text-anchor="end">${esc(yFormat(v))}</text>`);
  out.push(`</g>`);
  out.push(`<text x="${(x0 + x1) / 2}" y="${H - 18}" text-anchor="middle" font-size="13">${esc(o.xLabel)}${o.logX ? " (log scale)" : ""}</text>`);
  out.push(
    `<text transform="translate(20 ${(y0 + y1) / 2}) rotate(-90)" text-anchor="middle" font-size="13">${esc(o.yLabel)}${o.logY ? " (log scale)" : ""}</text>`,
  );

  // Series.
  out.push(`<defs><clipPath id="plot"><rect x="${x0}" y="${y1}" width="${x1 - x0}" height="${y0 - y1}"/></clipPath></defs>`);
  out.push(`<g clip-path="url(#plot)">`);
  o.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const band = (s.band ?? []).filter(([x, lo, hi]) => ok(x, lo) && ok(x, hi)).sort((a, b) => a[0] - b[0]);
    if (band.length > 1) {
      const top = band.map(([x, , hi]) => `${px(X.toPx(x))},${px(Y.toPx(hi))}`);
      const bottom = band.map(([x, lo]) => `${px(X.toPx(x))},${px(Y.toPx(lo))}`).reverse();
      out.push(`<polygon points="${[...top, ...bottom].join(" ")}" fill="${color}" fill-opacity="0.12" stroke="none"/>`);
    }
    // Split into runs of drawable points.
    const pts = [...s.points].sort((a, b) => a[0] - b[0]);
    let run: string[] = [];
    const flush = () => {
      if (run.length > 1)
        out.push(`<polyline points="${run.join(" ")}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ` stroke-dasharray="6 4"` : ""}/>`);
      run = [];
    };
    for (const [x, y] of pts) {
      if (!ok(x, y)) {
        flush();
        continue;
      }
      run.push(`${px(X.toPx(x))},${px(Y.toPx(y))}`);
    }
    flush();
    for (const [x, y] of pts) if (ok(x, y)) out.push(`<circle cx="${px(X.toPx(x))}" cy="${px(Y.toPx(y))}" r="2.5" fill="${color}"/>`);
  });
  out.push(`</g>`);

  // Legend.
  const rowH = 18;
  const legendW = Math.max(...o.series.map((s) => s.name.length), 4) * 7 + 44;
  const legendH = o.series.length * rowH + 10;
  const pos = o.legend ?? "top-left";
  const lx = pos.endsWith("left") ? x0 + 10 : x1 - 10 - legendW;
  const ly = pos.startsWith("top") ? y1 + 10 : y0 - 10 - legendH;
  out.push(`<g><rect x="${lx}" y="${ly}" width="${legendW}" height="${legendH}" fill="#ffffff" fill-opacity="0.9" stroke="#bbb"/>`);
  o.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const y = ly + 5 + rowH * i + rowH / 2;
    out.push(
      `<line x1="${lx + 8}" y1="${y}" x2="${lx + 32}" y2="${y}" stroke="${color}" stroke-width="2"${s.dashed ? ` stroke-dasharray="6 4"` : ""}/>` +
        `<text x="${lx + 38}" y="${y + 4}">${esc(s.name)}</text>`,
    );
  });
  out.push(`</g></svg>`);
  return out.join("\n") + "\n";
}
