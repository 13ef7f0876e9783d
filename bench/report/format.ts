// Number formats shared by the terminal table and the HTML page.

export function pct(x: number | undefined, digits = 1): string {
  return x === undefined || !Number.isFinite(x) ? '-' : `${(x * 100).toFixed(digits)}%`;
}

export function int(n: number | undefined): string {
  return n === undefined || !Number.isFinite(n) ? '-' : Math.round(n).toLocaleString('en-US');
}

export function ms(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '-';
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

export function bytes(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '-';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[u]}`;
}

export function ratio(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '-';
  return x >= 10 ? `${x.toFixed(0)}x` : `${x.toFixed(2)}x`;
}
