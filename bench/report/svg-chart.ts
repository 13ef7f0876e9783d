// Line charts as inline SVG strings, so the HTML report needs no script and no CDN: axes with
// ticks (linear or log), grid lines, one polyline per series, a legend. Pure: spec in, text out.

export interface Tick {
  value: number;
  label: string;
}

export interface Axis {
  label: string;
  min: number;
  max: number;
  log?: boolean;
  ticks: Tick[];
}

export interface Series {
  name: string;
  color: string;
  points: Array<[number, number]>;
  dashed?: boolean;
  width?: number;
}

export interface ChartSpec {
  title: string;
  x: Axis;
  y: Axis;
  series: Series[];
  width?: number;
  height?: number;
}

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** About `count` round linear ticks covering [min, max]. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** The smallest round number (1, 2, 2.5 or 5 times a power of ten) at or above v: an axis end. */
export function niceCeil(v: number): number {
  if (!(v > 0)) return 1;
  const mag = 10 ** Math.floor(Math.log10(v));
  const m = [1, 2, 2.5, 5, 10].find((x) => x * mag >= v * (1 - 1e-12)) ?? 10;
  return Number((m * mag).toPrecision(12));
}

/** 1-2-5 ticks across decades for log axes; over more than three decades, powers of ten only. */
export function logTicks(min: number, max: number): number[] {
  const out: number[] = [];
  if (!(min > 0) || !(max > min)) return out;
  const steps = Math.log10(max / min) > 3 ? [1] : [1, 2, 5];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
    for (const m of steps) {
      const v = m * 10 ** e;
      if (v >= min * 0.999 && v <= max * 1.001) out.push(Number(v.toPrecision(6)));
    }
  }
  return out;
}

/** "99.9%"-style position for latency-by-percentile plots: 0 at p0, 1 at p90, 2 at p99, ... */
export function percentileX(percentile: number, cap = 6): number {
  if (percentile >= 100) return cap;
  return Math.min(cap, -Math.log10(1 - percentile / 100));
}

export const PERCENTILE_TICKS: Tick[] = [
  { value: 0, label: '0%' },
  { value: 1, label: '90%' },
  { value: 2, label: '99%' },
  { value: 3, label: '99.9%' },
  { value: 4, label: '99.99%' },
  { value: 5, label: '99.999%' },
];

function scaler(axis: Axis, from: number, to: number): (v: number) => number {
  const f = axis.log ? (v: number) => Math.log10(Math.max(v, axis.min)) : (v: number) => v;
  const lo = f(axis.min);
  const hi = f(axis.max);
  const span = hi - lo || 1;
  return (v) => from + ((f(v) - lo) / span) * (to - from);
}

const fmt = (n: number) => (Math.round(n * 10) / 10).toString();

export function lineChart(spec: ChartSpec): string {
  const width = spec.width ?? 620;
  const height = spec.height ?? 320;
  const m = { top: 34, right: 16, bottom: 58, left: 64 };
  const legendRows = Math.ceil(spec.series.length / 3);
  const plotBottom = height - m.bottom - legendRows * 16;
  const sx = scaler(spec.x, m.left, width - m.right);
  const sy = scaler(spec.y, plotBottom, m.top);
  const clampX = (v: number) => Math.min(Math.max(v, spec.x.min), spec.x.max);
  const clampY = (v: number) => Math.min(Math.max(v, spec.y.min), spec.y.max);
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(spec.title)}">`,
    `<title>${escapeXml(spec.title)}</title>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${m.left}" y="20" font-size="14" font-weight="600" fill="#222">${escapeXml(spec.title)}</text>`,
  );
  for (const t of spec.y.ticks) {
    if (t.value < spec.y.min || t.value > spec.y.max) continue;
    const y = fmt(sy(t.value));
    parts.push(
      `<line x1="${m.left}" x2="${width - m.right}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`,
      `<text x="${m.left - 6}" y="${y}" font-size="11" fill="#555" text-anchor="end" dominant-baseline="middle">${escapeXml(t.label)}</text>`,
    );
  }
  for (const t of spec.x.ticks) {
    if (t.value < spec.x.min || t.value > spec.x.max) continue;
    const x = fmt(sx(t.value));
    parts.push(
      `<line x1="${x}" x2="${x}" y1="${m.top}" y2="${fmt(plotBottom)}" stroke="#f0f0f0"/>`,
      `<text x="${x}" y="${fmt(plotBottom + 16)}" font-size="11" fill="#555" text-anchor="middle">${escapeXml(t.label)}</text>`,
    );
  }
  parts.push(
    `<line x1="${m.left}" x2="${width - m.right}" y1="${fmt(plotBottom)}" y2="${fmt(plotBottom)}" stroke="#888"/>`,
    `<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${fmt(plotBottom)}" stroke="#888"/>`,
    `<text x="${fmt((m.left + width - m.right) / 2)}" y="${fmt(plotBottom + 34)}" font-size="12" fill="#333" text-anchor="middle">${escapeXml(spec.x.label)}</text>`,
    `<text x="14" y="${fmt((m.top + plotBottom) / 2)}" font-size="12" fill="#333" text-anchor="middle" transform="rotate(-90 14 ${fmt((m.top + plotBottom) / 2)})">${escapeXml(spec.y.label)}</text>`,
  );
  for (const s of spec.series) {
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (pts.length === 0) continue;
    const d = pts.map(([x, y]) => `${fmt(sx(clampX(x)))},${fmt(sy(clampY(y)))}`).join(' ');
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    if (pts.length === 1) {
      const [x, y] = pts[0];
      parts.push(`<circle cx="${fmt(sx(clampX(x)))}" cy="${fmt(sy(clampY(y)))}" r="3" fill="${s.color}"><title>${escapeXml(s.name)}</title></circle>`);
    } else {
      parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="${s.width ?? 2}"${dash} stroke-linejoin="round" points="${d}"><title>${escapeXml(s.name)}</title></polyline>`);
    }
  }
  spec.series.forEach((s, i) => {
    const col = i % 3;
    const row = Math.floor(i / 3);
    const x = m.left + col * ((width - m.left - m.right) / 3);
    const y = height - legendRows * 16 - 6 + row * 16;
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    parts.push(
      `<line x1="${fmt(x)}" x2="${fmt(x + 22)}" y1="${fmt(y)}" y2="${fmt(y)}" stroke="${s.color}" stroke-width="${s.width ?? 2}"${dash}/>`,
      `<text x="${fmt(x + 28)}" y="${fmt(y)}" font-size="11" fill="#333" dominant-baseline="middle">${escapeXml(s.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}
