/* Touchpoint admin panel: one script, no build step, no framework.
 *
 * Every page is server-rendered markup that this script fills from the session-authenticated
 * JSON API (/admin/api/...). Nothing inline (strict CSP): the page says what it is with
 * <body data-page>, and passes URLs with data-* attributes. Charts use the vendored Chart.js;
 * each canvas keeps one Chart instance that is updated in place on refresh.
 */
'use strict';

const body = document.body;
const API_BASE = body.dataset.apiBase || '/admin/api';
const CSRF = document.querySelector('meta[name="csrf-token"]')?.content || '';
const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

// ---------------------------------------------------------------------------- formatting

const moneyFormats = new Map();
function money(minor, currency = 'USD') {
  if (minor == null) return '—';
  if (!moneyFormats.has(currency)) {
    moneyFormats.set(currency, new Intl.NumberFormat('en-US', { style: 'currency', currency }));
  }
  return moneyFormats.get(currency).format(minor / 100);
}
const intFormat = new Intl.NumberFormat('en-US');
const num = (n) => (n == null ? '—' : intFormat.format(n));
const pctFormat = new Intl.NumberFormat('en-US', { style: 'percent', maximumFractionDigits: 1 });
const pct = (rate) => (rate == null ? '—' : pctFormat.format(rate));
const FORMATS = { int: num, pct, money: (v) => money(v), rating: (v) => (v == null ? '—' : v.toFixed(2)) };

function duration(seconds) {
  let s = Math.max(0, Math.round(seconds));
  const units = [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]];
  const parts = [];
  for (const [unit, size] of units) {
    if (s >= size || (unit === 's' && !parts.length)) parts.push(`${Math.floor(s / size)}${unit}`);
    s %= size;
  }
  return parts.slice(0, 2).join(' ');
}

// The API's timestamps are UTC without an offset; the panel shows them as UTC.
const asDate = (iso) => new Date(/[zZ]|[+-]\d\d:\d\d$/.test(iso) ? iso : `${iso}${iso.length === 10 ? 'T00:00:00' : ''}Z`);
const dateTimeFormat = new Intl.DateTimeFormat('en-US', {
  timeZone: 'UTC', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
const secondsFormat = new Intl.DateTimeFormat('en-US', {
  timeZone: 'UTC', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
const timeFormat = new Intl.DateTimeFormat('en-US', {
  timeZone: 'UTC', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
const dayFormat = new Intl.DateTimeFormat('en-US', { timeZone: 'UTC', month: 'short', day: 'numeric' });
const yearFormat = new Intl.DateTimeFormat('en-US', { timeZone: 'UTC', month: 'short', day: 'numeric', year: 'numeric' });
const when = (iso) => (iso ? dateTimeFormat.format(asDate(iso)) : '—');
const day = (iso) => (iso ? dayFormat.format(asDate(iso)) : '—');
const title = (s) => (s ? s.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase()) : '—');
const orderNumber = (ref) => (/^\d+$/.test(ref || '') ? `TP-${ref.padStart(6, '0')}` : ref);

// ---------------------------------------------------------------------------- DOM helpers

/** h('a', {href, class}, ...children): attributes are set as attributes (never `style`). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (key === 'class') el.className = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  el.append(...children.flat(Infinity).filter((c) => c != null && c !== false)
    .map((c) => (c instanceof Node ? c : String(c))));
  return el;
}
const td = (content, cls) => h('td', { class: cls }, content);
const tdNum = (content) => td(content, 'num');
const pill = (value, cls = '') => (value ? h('span', { class: `pill ${cls || `pill-${value}`}` }, title(value)) : '—');

function fill(table, items, render, empty = 'Nothing in this period.') {
  const tbody = table.tBodies[0];
  const cols = table.tHead.rows[0].cells.length;
  tbody.replaceChildren(...(items.length
    ? items.map(render)
    : [h('tr', {}, h('td', { colspan: cols, class: 'empty' }, empty))]));
  if (table.classList.contains('stacked') && items.length) labelCells(table);
}

/** A stacked table's cells name their column (data-label), shown above each on a phone. */
function labelCells(table) {
  const names = [...table.tHead.rows[0].cells].map((c) => c.textContent.trim());
  for (const row of table.tBodies[0].rows) {
    [...row.cells].forEach((cell, i) => {
      if (cell.tagName !== 'TD') return;
      cell.dataset.label = names[i];
      // Nothing in it: on a phone no label beside nothing (the funnel's empty Drop-offs)
      if (!cell.textContent.trim() && !cell.querySelector('a, button, input, img')) cell.dataset.blank = '';
      else delete cell.dataset.blank;
    });
  }
}

/** Stripe's failure codes (and the store's own) in the owner's words; the code beside. */
const FAILURE_WORDS = {
  card_declined: 'Card declined', insufficient_funds: 'Not enough funds',
  expired_card: 'Card expired', incorrect_cvc: 'Wrong security code',
  incorrect_number: 'Wrong card number', processing_error: "The bank's error",
  authentication_failed: '3-D Secure not passed', authentication_required: '3-D Secure needed',
  amount_mismatch: 'Order changed while paying', failed: 'Failed, no reason given',
};

/** The smaller line under a KPI ([data-kpi-note]): what the figure is made of. */
const KPI_NOTES = {
  tracked_orders: (v) => `${num(v.tracked_orders)} in tracked journeys`,
  tracked_revenue: (v) => `${money(v.tracked_revenue)} in tracked journeys`,
  refunds: (v) => `${money(v.refunds)} refunded (${num(v.refunded_returns)} ${v.refunded_returns === 1 ? 'return' : 'returns'})`,
  returned_orders: (v) => `${num(v.returned_orders)} of ${num(v.orders)} paid orders`,
  journeys: (v) => `of ${num(v.journeys)} tracked journeys`,
  // The rates are of the decided: what is still open is said, not counted
  carts_open: (v) => `${num(v.carts_abandoned)} of ${num(v.carts - v.carts_open)} carts · ${num(v.carts_open)} still open`,
  checkouts_open: (v) => `${num(v.checkouts_abandoned)} of ${num(v.checkouts - v.checkouts_open)} checkouts · ${num(v.checkouts_open)} still open`,
  landings_open: (v) => `${num(v.bounces)} of ${num(v.journeys - v.landings_open)} journeys · ${num(v.landings_open)} still on their first page`,
  reviewed_orders: (v) => `${num(v.reviewed_orders)} of ${num(v.delivered_orders)} delivered in the period`,
};

function setKpis(root, values) {
  const set = (el, text) => { if (el.textContent !== text) el.textContent = text; };
  for (const el of $$('[data-kpi]', root)) {
    const format = FORMATS[el.dataset.format] || num;
    set(el, format(values[el.dataset.kpi]));
  }
  for (const el of $$('[data-kpi-note]', root)) {
    const note = KPI_NOTES[el.dataset.kpiNote];
    set(el, note && values[el.dataset.kpiNote] != null ? note(values) : '');
  }
}

/** Which way is better for each KPI the overview compares (1: up, -1: down). */
const BETTER = {
  visitors: 1, conversion_rate: 1, cart_abandonment_rate: -1, checkout_abandonment_rate: -1,
  bounce_rate: -1, orders: 1, revenue: 1, net_revenue: 1, average_order_value: 1,
  return_rate: -1,
};

/** How a KPI moved from `before` to `now`: rates in percentage points, counts and money
 *  as a share of what they were, and the figure it moved from. */
function change(format, now, before, untracked) {
  const show = FORMATS[format] || num;
  if (untracked) return { text: 'not tracked then', sign: 0 };
  if (now == null || before == null) {
    return { text: before == null && now != null ? 'no figure before' : '', sign: 0 };
  }
  const diff = now - before;
  if (format === 'pct') {
    const points = Math.round(diff * 1000) / 10;
    if (points === 0) return { text: `no change from ${show(before)}`, sign: 0 };
    // Points, not percent: 30% to 33% is 3 points, and 10% up
    return { text: `${Math.abs(points).toFixed(1)} points from ${show(before)}`, sign: Math.sign(points) };
  }
  if (diff === 0) return { text: `no change from ${show(before)}`, sign: 0 };
  if (before === 0) return { text: `from ${show(before)}`, sign: Math.sign(diff) };
  const share = Math.abs(diff / before);
  const percent = share < 0.001 ? 'under 0.1' : share < 0.1 ? (share * 100).toFixed(1) : Math.round(share * 100);
  return { text: `${percent}% from ${show(before)}`, sign: Math.sign(diff) };
}

/** Each [data-kpi-change] line: up or down (an arrow and the word, for a screen reader),
 *  green where that is better and red where worse. `before`: /overview/before's part
 *  (its kpis null: nothing to compare; `untracked`: the journeys' figures, not counted
 *  then as the tracker had not begun). */
function setChanges(root, values, before) {
  const figures = before?.kpis;
  for (const el of $$('[data-kpi-change]', root)) {
    const key = el.dataset.kpiChange;
    const untracked = Boolean(before?.untracked?.includes(key));
    const { text, sign } = figures ? change(el.dataset.format, values[key], figures[key], untracked)
      : { text: '', sign: 0 };
    const verdict = sign === 0 ? 'same' : sign * (BETTER[key] || 1) > 0 ? 'better' : 'worse';
    const label = `${sign}|${text}`;
    if (el.dataset.shown === label) continue; // a refresh with nothing new: no redraw
    el.dataset.shown = label;
    el.className = `kpi-change ${verdict}`;
    el.replaceChildren(...(sign === 0 ? [text] : [
      h('span', { 'aria-hidden': 'true' }, sign > 0 ? '▲ ' : '▼ '),
      h('span', { class: 'visually-hidden' }, sign > 0 ? 'up ' : 'down '), text,
      h('span', { class: 'visually-hidden' }, `, ${verdict}`)]));
  }
}

/** "Nov 30 – Dec 6, 2026" (the start's year too when it is not the end's). */
function rangeLabel(from, to) {
  if (from === to) return yearFormat.format(asDate(from));
  return `${from.slice(0, 4) === to.slice(0, 4) ? day(from)
    : yearFormat.format(asDate(from))} – ${yearFormat.format(asDate(to))}`;
}

/** What the changes are against: "Nov 23 – Nov 29, 2026"; a period under way, "Dec 6,
 *  2026 until 14:05 UTC, as far in as this period is now"; one not begun, nothing. */
function comparedLabel(before) {
  const c = before.compared_with;
  if (!before.kpis) return 'nothing yet: the period has not begun';
  const range = rangeLabel(c.from, c.to);
  const upTo = c.until ? `${range} until ${c.until.slice(11, 16)} UTC, as far in as this period is now` : range;
  return before.tracked ? upTo : `${upTo} (orders only: the tracker had not begun)`;
}

function stars(rating) {
  return h('span', { class: 'stars', role: 'img', 'aria-label': `Rated ${rating.toFixed(1)} out of 5` },
    h('span', { class: `stars-fill r${Math.round(rating * 2)}`, 'aria-hidden': 'true' }, '★★★★★'),
    h('span', { class: 'stars-empty', 'aria-hidden': 'true' }, '★★★★★'));
}

const journeyUrl = (id) => `${body.dataset.journeysUrl}?journey=${encodeURIComponent(id)}`;
const visitorUrl = (id) => `${body.dataset.journeysUrl}?visitor=${encodeURIComponent(id)}`;

const ordersUrl = (id) => `${body.dataset.ordersUrl}?order=${encodeURIComponent(id)}`;

/** A mailto: link to exactly this address: a typed "a?bcc=eve@…&x@example.com" is one
 *  (odd) recipient, not a hidden Bcc (RFC 6068: the address part percent-encoded). */
const mailto = (email) => `mailto:${encodeURIComponent(email).replace(/%40/g, '@')}`;

/** An id in a list: its last 8 hex digits, which are random. Its first are the time it was
 *  made (ids sort by it), so ids of the same minute would read alike. The whole id is the
 *  element's title, and what search takes. */
const shortId = (id) => `…${id.slice(-8)}`;

/** Who the shopper is: the name and email known from their account or their order's
 *  checkout (so the owner can follow up), else the account number or the visitor. */
function who(j) {
  const known = j.customer_id ? `Customer #${j.customer_id}` : null;
  if (j.email || j.name) {
    return h('span', { class: 'who' }, j.name ? h('span', {}, j.name) : null,
      j.email ? h('a', { class: 'ellipsis who-email', href: mailto(j.email), title: j.email }, j.email) : null,
      h('span', { class: 'muted small' }, known || 'Guest'));
  }
  if (known) return h('span', {}, known);
  return h('span', { title: j.visitor_id }, 'Visitor ', h('code', {}, shortId(j.visitor_id)));
}

/** A journey's order number, linked to it on the Orders page. */
function orderLink(j) {
  // One line: "TP-000333" broken after its hyphen reads as two things
  if (j.order_id) return h('a', { href: ordersUrl(j.order_id), class: 'nowrap' }, j.order_number);
  return j.order_ref ? h('span', { class: 'nowrap' }, orderNumber(j.order_ref)) : '—';
}

function cartLines(items) {
  if (!items || !items.length) return h('span', { class: 'muted' }, 'Empty');
  return h('ul', { class: 'cart-lines' }, items.map((i) => h('li', {}, `${i.quantity} × ${i.title}`)));
}

// ---------------------------------------------------------------------------- API & errors

const alertBox = $('#api-error');
let alertSource = null;
function showError(message, source) {
  if (!alertBox) return;
  alertBox.textContent = message;
  alertBox.hidden = false;
  alertSource = source;
}
function clearError(source) {
  if (alertBox && alertSource === source) {
    alertBox.hidden = true;
    alertBox.textContent = '';
    alertSource = null;
  }
}

class ApiError extends Error {}

/** GET (or POST) a JSON endpoint under /admin/api. 401 goes to the login page; any other
 *  failure is shown in the page's role=alert region and thrown as an ApiError. */
async function api(path, { method = 'GET', source = path.split('?')[0] } = {}) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET') headers['X-CSRFToken'] = CSRF;
  let response;
  try {
    response = await fetch(API_BASE + path, { method, headers, credentials: 'same-origin' });
  } catch {
    showError('Could not reach the server. Check the connection and try again.', source);
    throw new ApiError('network');
  }
  if (response.status === 401) {
    const next = location.pathname + location.search;
    location.assign(`${body.dataset.loginUrl}?next=${encodeURIComponent(next)}`);
    throw new ApiError('login');
  }
  let data = null;
  try { data = await response.json(); } catch { /* not JSON: described below */ }
  if (!response.ok) {
    const details = data?.errors ? Object.values(data.errors).flat().join(' ') : '';
    const message = `${data?.error || `The server answered ${response.status}.`} ${details}`.trim();
    showError(message, source);
    throw new ApiError(message);
  }
  clearError(source);
  return data;
}

/** Run an async page action: API errors are already on screen; anything else is a bug. */
function run(action) {
  return Promise.resolve().then(action).catch((error) => {
    if (error instanceof ApiError) return;
    showError('Something went wrong while drawing this page. Reload to try again.', 'script');
    throw error;
  });
}

/** Wrap a loader so that only the latest call's answer is used (fast period changes). */
function latest(loader) {
  let seq = 0;
  return async (...args) => {
    const mine = ++seq;
    const data = await loader(...args);
    return mine === seq ? data : null;
  };
}

// ---------------------------------------------------------------------------- charts

const COLORS = {
  teal: '#0f766e', tealLight: '#5eead4', blue: '#2563eb', orange: '#c2410c',
  red: '#b91c1c', green: '#15803d', star: '#d97706', grey: '#9ca3af', purple: '#7c3aed',
};
const reducedMotion = window.matchMedia('(prefers-reduced-motion: reduce)').matches;
const charts = new Map();

function flatLabel(label) { return Array.isArray(label) ? label.join(', ') : String(label); }

/** A long label on lines of about `width` characters (a phone's narrow bar chart cut
 * "Left after sending the card" to "…eft after sending the card"). */
function wrapWords(text, width = 18) {
  const lines = [];
  let line = '';
  for (const word of String(text).split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

function summarize(canvas, labels, datasets) {
  const points = labels.map((label, i) => {
    const values = datasets.map((d) => `${datasets.length > 1 ? `${d.label} ` : ''}${num(d.data[i])}`);
    return `${flatLabel(label)}: ${values.join(', ')}`;
  });
  return `${canvas.dataset.title}. ${points.join('; ') || 'No data'}.`;
}

/** Each bar's count over it: beside a stage of 80 one of 2 is a sliver, its count is not. */
const barValues = {
  id: 'barValues',
  afterDatasetsDraw(c) {
    const { ctx } = c;
    ctx.save();
    ctx.font = `600 12px ${window.Chart.defaults.font.family}`;
    ctx.fillStyle = '#1f2937';
    ctx.textAlign = 'center';
    ctx.textBaseline = 'bottom';
    c.data.datasets.forEach((d, i) => {
      c.getDatasetMeta(i).data.forEach((bar, j) => ctx.fillText(num(d.data[j]), bar.x, bar.y - 2));
    });
    ctx.restore();
  },
};

/** Draw or update the chart on `canvas`: one Chart.js instance per canvas, updated in place. */
function chart(canvas, type, labels, datasets, { options = {}, summary, mode, plugins = [] } = {}) {
  if (!canvas) return;
  canvas.setAttribute('aria-label', summary || summarize(canvas, labels, datasets));
  canvas.textContent = canvas.getAttribute('aria-label');
  if (!window.Chart) return; // the text alternative still tells the story
  const existing = charts.get(canvas);
  if (existing) {
    existing.data.labels = labels;
    datasets.forEach((d, i) => {
      if (existing.data.datasets[i]) Object.assign(existing.data.datasets[i], d);
      else existing.data.datasets.push(d);
    });
    existing.data.datasets.length = datasets.length;
    existing.update(mode);
    return;
  }
  const horizontal = options.indexAxis === 'y';
  const countAxis = { beginAtZero: true, ticks: { precision: 0 }, grid: { color: '#eef0f3' } };
  const base = {
    responsive: true,
    maintainAspectRatio: false,
    animation: reducedMotion ? false : { duration: 300 },
    interaction: { mode: 'index', intersect: false },
    plugins: {
      legend: { display: datasets.length > 1, position: 'bottom', labels: { boxWidth: 12 } },
      tooltip: { callbacks: { title: (items) => flatLabel(items[0]?.label ?? '') } },
    },
    scales: horizontal
      ? { x: countAxis, y: { grid: { display: false }, ticks: { callback(value) {
        const label = this.getLabelForValue(value);
        return Array.isArray(label) ? label : wrapWords(label);
      } } } }
      : { y: countAxis, x: { grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 12 } } },
  };
  const merged = { ...base, ...options, plugins: { ...base.plugins, ...(options.plugins || {}) } };
  charts.set(canvas, new window.Chart(canvas, { type, data: { labels, datasets }, options: merged, plugins }));
}

function funnelChart(canvas, steps, mode) {
  const end = steps.findIndex((s) => s.stage === 'purchase');
  const funnel = steps.slice(0, end + 1);
  // dropped: the journeys that stopped at this step (null where none can: purchase).
  // In words for the tooltip and the summary; short on the chart (below).
  const notes = (s, i, words = true) => [
    ...(i === 0 ? [] : [`${pct(s.of_previous)}${words ? ' of previous' : ''}`]),
    ...(s.dropped == null ? [] : [`${num(s.dropped)} stopped${words ? ' here' : ''}`])];
  const head = (s) => `${title(s.stage)} · ${num(s.journeys)}`;
  // Every step says how many journeys reached it: a sliver of a bar still has its count.
  // Two lines a stage, so six fit the chart's height without running into each other, and
  // short ones: the chart library gives the labels at most half the chart's width and cuts
  // a longer line at its start, where the share is.
  const labels = funnel.map((s, i) => {
    const more = notes(s, i, false);
    return [head(s), ...(more.length ? [more.join(' · ')] : [])];
  });
  const summary = `${canvas.dataset.title}. ` + funnel.map((s, i) => {
    const more = notes(s, i);
    return `${title(s.stage)} ${num(s.journeys)} journeys`
      + (more.length ? ` (${more.join(', ')})` : '');
  }).join('; ') + '.';
  const shades = ['#99f6e4', '#5eead4', '#2dd4bf', '#14b8a6', '#0d9488', COLORS.green];
  const scales = { x: { beginAtZero: true, ticks: { precision: 0 }, grid: { color: '#eef0f3' },
    title: { display: true, text: 'Journeys that reached the stage' } },
  // Every stage labelled: the chart library would otherwise skip some.
  y: { grid: { display: false }, ticks: { autoSkip: false } } };
  chart(canvas, 'bar', labels, [{ label: 'Journeys', data: funnel.map((s) => s.journeys),
    backgroundColor: shades, borderRadius: 4 }], { options: { indexAxis: 'y', scales,
    plugins: { tooltip: { callbacks: { title: (items) => {
      const i = items[0]?.dataIndex ?? 0;
      return [head(funnel[i]), ...notes(funnel[i], i)].join(', ');
    } } } } }, summary, mode });
}

// ---------------------------------------------------------------------------- period picker

const utcToday = () => new Date().toISOString().slice(0, 10);
function addDays(iso, n) {
  const d = asDate(iso);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

// The period chosen on one page holds on the others (as GA4's and PostHog's date range does
// across reports): kept for the tab in sessionStorage and put on the links that lead to a
// page with a period ([data-keeps-period]: the nav's Overview, Funnel, Abandonment).
const PERIOD_KEY = 'touchpoint-admin-period';
const ISO_DAY = /^\d{4}-\d{2}-\d{2}$/;
const MAX_PERIOD_DAYS = Number(body.dataset.maxPeriodDays) || 366; // the server's limit
const daysBetween = (a, b) => Math.round((asDate(b) - asDate(a)) / 86400000);
/** Why a period cannot be shown (null: it can): the server's own rules, said before asking. */
function periodProblem(p) {
  if (!(p && ISO_DAY.test(p.from) && ISO_DAY.test(p.to) && p.from <= p.to)) {
    return "Choose a 'from' date on or before the 'to' date.";
  }
  if (daysBetween(p.from, p.to) > MAX_PERIOD_DAYS) {
    return `Choose a period of at most ${MAX_PERIOD_DAYS} days.`;
  }
  return null;
}
const validPeriod = (p) => periodProblem(p) === null;

function storedPeriod() {
  try {
    const p = JSON.parse(sessionStorage.getItem(PERIOD_KEY) || 'null');
    return validPeriod(p) ? { from: p.from, to: p.to } : null;
  } catch { return null; } // storage refused (privacy settings) or garbage: no period kept
}

function linkPeriod(p) {
  for (const a of $$('a[data-keeps-period]')) {
    const url = new URL(a.href, location.href);
    url.searchParams.set('from', p.from);
    url.searchParams.set('to', p.to);
    a.href = url.pathname + url.search;
  }
}

function keepPeriod(p) {
  if (!validPeriod(p)) return;
  try { sessionStorage.setItem(PERIOD_KEY, JSON.stringify(p)); } catch { /* links only */ }
  linkPeriod(p);
}

/** Wire [data-period]: ?from=&to= in the URL (else the period kept from another page), two
 *  date inputs, Today / 7 / 30 days. Calls onChange("from=…&to=…") now and whenever the
 *  period changes. */
function periodPicker(onChange) {
  const box = $('[data-period]');
  const from = $('[name="from"]', box);
  const to = $('[name="to"]', box);
  const params = new URLSearchParams(location.search);
  const kept = params.get('from') || params.get('to') ? null : storedPeriod();
  to.value = params.get('to') || kept?.to || utcToday();
  from.value = params.get('from') || kept?.from || addDays(to.value, -6);
  const refused = periodProblem({ from: from.value, to: to.value });
  if (refused) { // a link with a period the panel cannot show: the last 7 days instead
    showError(`${refused} Showing the last 7 days.`, 'period');
    to.value = utcToday();
    from.value = addDays(to.value, -6);
  }
  if (kept || refused) { // the URL says which period is on screen, as if the link had carried it
    params.set('from', from.value);
    params.set('to', to.value);
    history.replaceState(null, '', `${location.pathname}?${params}`);
  }
  if (params.get('from') || params.get('to')) keepPeriod({ from: from.value, to: to.value });
  const query = () => `from=${from.value}&to=${to.value}`;
  const sync = () => {
    from.max = to.value;
    to.min = from.value;
    const today = utcToday();
    for (const b of $$('[data-days]', box)) {
      const pressed = to.value === today && from.value === addDays(today, 1 - Number(b.dataset.days));
      b.setAttribute('aria-pressed', String(pressed));
    }
    const label = rangeLabel(from.value, to.value);
    $$('[data-period-label]').forEach((el) => { el.textContent = label; });
  };
  const apply = () => {
    const problem = periodProblem({ from: from.value, to: to.value });
    if (problem) { // the figures on screen stay, and so does their label
      showError(problem, 'period');
      return;
    }
    clearError('period');
    const p = new URLSearchParams(location.search);
    p.set('from', from.value);
    p.set('to', to.value);
    history.replaceState(null, '', `${location.pathname}?${p}`);
    keepPeriod({ from: from.value, to: to.value });
    sync();
    run(() => onChange(query()));
  };
  let typing = null; // typing a year fires a change per digit: wait for a pause
  box.addEventListener('change', (e) => {
    if (e.target !== from && e.target !== to) return;
    clearTimeout(typing);
    typing = setTimeout(apply, 400);
  });
  for (const b of $$('[data-days]', box)) {
    b.addEventListener('click', () => {
      to.value = utcToday(); // not the load-time date: the tab may stay open past midnight
      from.value = addDays(to.value, 1 - Number(b.dataset.days));
      apply();
    });
  }
  sync();
  run(() => onChange(query()));
  return query;
}

// ---------------------------------------------------------------------------- overview

const LIVE_EVERY_MS = 2000;

function renderLive(live) {
  // The stages the page has tiles for: a delivered or reviewed journey is never live.
  const shown = $$('[data-live-stage]').map((el) => el.dataset.liveStage);
  const stages = live.stages.filter((s) => shown.includes(s.stage));
  for (const { stage, live: n } of stages) {
    const el = $(`[data-live-stage="${stage}"]`);
    if (el && el.textContent !== String(n)) el.textContent = String(n);
  }
  $('[data-live-shoppers]').textContent = num(live.shoppers);
  $('[data-live-awaiting]').textContent = `${num(live.awaiting_delivery)} paid ${live.awaiting_delivery === 1 ? 'order' : 'orders'}`;
  $('[data-live-at]').textContent = `updated ${timeFormat.format(asDate(live.at))} UTC`;
  const shopping = ['cart', 'checkout', 'payment'];
  chart($('#live-chart'), 'bar', stages.map((s) => title(s.stage)),
    [{ label: 'Active journeys', data: stages.map((s) => s.live), borderRadius: 4,
      backgroundColor: stages.map((s) => (shopping.includes(s.stage) ? COLORS.teal : '#5eead4')) }],
    { mode: 'none', plugins: [barValues], options: { layout: { padding: { top: 18 } }, scales: { x: { grid: { display: false }, ticks: { autoSkip: false, maxRotation: 60 } },
      y: { beginAtZero: true, ticks: { precision: 0 }, grid: { color: '#eef0f3' },
        title: { display: true, text: 'Journeys' } } } } });
}

async function pollLive() {
  try {
    renderLive(await api('/live', { source: 'live' }));
  } catch (error) {
    if (error instanceof ApiError && error.message === 'login') return; // leaving the page
    if (!(error instanceof ApiError)) {
      setTimeout(pollLive, LIVE_EVERY_MS);
      throw error;
    }
  }
  setTimeout(pollLive, LIVE_EVERY_MS);
}

/** The trend as three charts over the same hours or days, each on its own scale (two
 * scales on one chart put 72 abandoned carts level with 1,614 journeys): journeys started,
 * orders paid and abandoned carts, and revenue. The hour or day under way (``partial``) is a hollow
 * point on a dotted segment: its counts are so far, and a full line to it reads as a drop. */
function trendChart(canvases, counted, mode, period) {
  const hourly = counted.length > 0 && counted[0].at.length > 10;
  // An hourly period's hours still to come, empty (not zeros): the axis is the whole day,
  // and Today's first hours are not one lone point at its left.
  const trend = [...counted];
  if (hourly && period) {
    const end = asDate(`${addDays(period.to, 1)}T00:00`);
    for (let at = asDate(trend[trend.length - 1].at).getTime() + 3600000; at < end; at += 3600000) {
      trend.push({ at: new Date(at).toISOString().slice(0, 16), journeys: null, purchases: null,
        orders: null, abandoned: null, revenue: null, partial: false, future: true });
    }
  }
  const labels = trend.map((t) => (hourly ? `${day(t.at)} ${t.at.slice(11, 16)}` : day(t.at)));
  const last = counted.length - 1;
  const partial = last >= 0 && counted[last].partial ? last : -1;
  const soFar = partial < 0 ? '' : ` (the last ${hourly ? 'hour' : 'day'}, ${labels[partial]}, so far)`;
  const sum = (key) => trend.reduce((n, t) => n + (t[key] ?? 0), 0);
  const peak = trend.reduce((best, t) => (t.journeys > (best?.journeys ?? 0) ? t : best), null);
  // Before the tracker's first journey its figures are null: not counted, not zero
  const since = trend.findIndex((t) => !t.future && t.journeys !== null);
  const untracked = since !== 0 && counted.length > 0
    ? (since < 0 ? ' The tracker had not begun: no journey was counted.' : ` Journeys counted from ${labels[since]}: not before, when the tracker had not begun.`)
    : '';
  const per = hourly ? 'per hour' : 'per day';
  const summaries = [
    `${canvases[0].dataset.title}, ${per}. In total ${num(sum('journeys'))} journeys`
      + (peak ? `; busiest ${hourly ? 'hour' : 'day'} ${labels[trend.indexOf(peak)]} with ${num(peak.journeys)}` : '')
      + `${soFar}.${untracked}`,
    `${canvases[1].dataset.title}, ${per}. In total ${num(sum('orders'))} orders paid `
      + `(${num(sum('purchases'))} in tracked journeys) and ${num(sum('abandoned'))} abandoned carts${soFar}.${untracked}`,
    `${canvases[2].dataset.title}, ${per}. In total ${money(sum('revenue'))} paid${soFar}.`,
  ];
  // Every order tracked: the purchases' dashes lie on the orders' line, which the legend says
  // (a day before tracking began with no order counts as all tracked)
  const allTracked = sum('orders') > 0 && trend.every((t) => t.future || (t.purchases ?? 0) === t.orders);
  // Straight lines: a curve between two days suggests values there.
  const small = trend.length > 40;
  const line = (label, key, color, dash) => ({ label, partialAt: partial, data: trend.map((t) => t[key]), borderColor: color,
    backgroundColor: color, tension: 0, borderDash: dash, borderWidth: 2,
    pointRadius: trend.map((_, i) => (i === partial ? 4 : (small ? 0 : 2))),
    pointBackgroundColor: trend.map((_, i) => (i === partial ? '#fff' : color)),
    segment: { borderDash: (ctx) => (ctx.p1DataIndex === partial ? [2, 3] : dash) } });
  // On a phone the axes' titles would be cut off: the legend and headings say it there
  const wide = canvases[0].parentElement.clientWidth >= 480;
  const scales = (yTitle, xTitled, ticks = { precision: 0 }) => ({
    x: { grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 12 },
      title: { display: wide && xTitled, text: hourly ? 'Hour (UTC)' : 'Day (UTC)' } },
    y: { beginAtZero: true, ticks, grid: { color: '#eef0f3' },
      title: { display: wide, text: yTitle } },
  });
  // Read from the chart, not this call: a refresh updates the data, not the options
  const tooltip = { callbacks: { title: (items) => {
    const item = items[0];
    if (!item) return '';
    const under = item.dataIndex === item.chart.data.datasets[0]?.partialAt;
    return `${flatLabel(item.label)}${under ? ', so far' : ''}`;
  } } };
  const panels = [
    { scales: scales(`Journeys, ${per}`, false), data: [line('Journeys started', 'journeys', COLORS.teal)] },
    // Orders paid, as the tiles count them (placed before tracking, or untracked, too), and
    // of them the tracked journeys' purchases: what the tiles add up is on the chart.
    // (Chart.js draws the first dataset on top: the tracked purchases' dashes over the
    // orders line they equal when every order is tracked.)
    { scales: scales(`Count, ${per}`, false), data: [
      line(allTracked ? 'Purchases, tracked (every order)' : 'Purchases, tracked', 'purchases', COLORS.blue, [4, 4]),
      line('Orders, all paid', 'orders', COLORS.purple),
      line('Abandoned carts', 'abandoned', COLORS.orange, [6, 3])] },
    // What the orders paid, as the Revenue tile adds it: money on a scale of its own
    { scales: scales(`Revenue, ${per}`, true, { callback: (v) => money(v) }),
      data: [line('Revenue, all paid', 'revenue', COLORS.green)], money: true },
  ];
  panels.forEach(({ scales: s, data, money: isMoney }, n) => {
    const existing = charts.get(canvases[n]);
    if (existing) { // a period of a day or two is hourly: the titles follow
      for (const key of Object.keys(s)) existing.options.scales[key].title.text = s[key].title.text;
    }
    chart(canvases[n], 'line', labels, data, { summary: summaries[n], mode, options: { scales: s,
      // Each line's own stroke in the legend (a dashed one's box was a blob of its colour)
      plugins: { legend: { display: true, position: 'bottom', labels: { usePointStyle: true, pointStyle: 'line', pointStyleWidth: 28 } },
        tooltip: isMoney ? { callbacks: { ...tooltip.callbacks, label: (item) => `${item.dataset.label}: ${money(item.raw)}` } } : tooltip } } });
  });
}

const OVERVIEW_EVERY_MS = 30000;

function overviewPage() {
  const load = latest((q) => api(`/overview?${q}`, { source: 'overview' }));
  // The same KPIs just before (asked for once the figures are drawn: they never wait)
  const loadBefore = latest((q) => api(`/overview/before?${q}`, { source: 'overview-before' }));
  let current = null; // the period drawn last ("from=…&to=…"): a refresh keeps it
  async function draw(q, quiet = false) {
    const d = await load(q);
    if (!d) return;
    // A refresh changes figures in place: no blank, no chart animation (mode 'none').
    const mode = quiet ? 'none' : undefined;
    const today = $('[data-kpis="today"]');
    const period = $('[data-kpis="period"]');
    setKpis(today, d.today);
    setKpis(period, d.kpis);
    // Today as the period: the same ten figures twice would only push the funnel down
    const onlyToday = d.period.from === d.period.to && d.period.to === utcToday();
    $$('[data-period-only]').forEach((el) => { el.hidden = onlyToday; });
    $('[data-period-is-today]').hidden = !onlyToday;
    if (!quiet) { // another period: the old one's changes would be wrong until replaced
      setChanges(period, d.kpis, null);
      $('[data-compared="period"]').textContent = '';
    }
    funnelChart($('#funnel-chart'), d.funnel, mode);
    trendChart([$('#trend-chart'), $('#trend-orders-chart'), $('#trend-revenue-chart')], d.trend, mode, d.period);
    renderLive(d.live);
    const before = await loadBefore(q);
    if (!before) return;
    setChanges(today, d.today, before.today);
    setChanges(period, d.kpis, before.period);
    $('[data-compared="today"]').textContent = comparedLabel(before.today);
    $('[data-compared="period"]').textContent = comparedLabel(before.period);
  }
  periodPicker((q) => {
    current = q;
    return draw(q);
  });
  setTimeout(pollLive, LIVE_EVERY_MS);
  // The live box polls every 2 s; the KPIs, funnel and trend every 30 s (a hidden tab
  // waits until it is shown again), for the period on screen.
  let due = false;
  const refresh = () => {
    if (current) run(() => draw(current, true));
    due = false;
  };
  setInterval(() => {
    if (document.hidden) due = true;
    else refresh();
  }, OVERVIEW_EVERY_MS);
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && due) refresh();
  });
}

// ---------------------------------------------------------------------------- funnel

const STAGES = ['landing', 'browse', 'cart', 'checkout', 'payment', 'purchase', 'shipped', 'delivered', 'reviewed'];
const FUNNEL_STAGES = STAGES.slice(0, 6);

function breakdownTable(table, rows, key, empty) {
  const best = Math.max(...rows.map((r) => r.conversion_rate ?? 0)) || 1; // bars compare rows
  fill(table, rows, (r) => h('tr', {},
    h('th', { scope: 'row' }, key === 'device' ? title(r[key]) : r[key]),
    tdNum(num(r.journeys)),
    tdNum([pct(r.conversion_rate), h('meter', { min: 0, max: best, value: r.conversion_rate ?? 0,
      'aria-hidden': 'true' })]),
    tdNum(h('span', { title: `${num(r.purchases)} ${r.purchases === 1 ? 'purchase' : 'purchases'}` }, money(r.revenue)))), empty);
}

function funnelPage() {
  const load = latest((q) => api(`/funnel?${q}`, { source: 'funnel' }));
  const loadDropped = latest((q) => api(`/funnel/dropped?${q}`, { source: 'dropped' }));
  let query = '';
  let droppedStage = null;
  const section = $('#dropped');

  async function showDropped(stage, focus = true) {
    droppedStage = stage;
    $('[data-dropped-title]').textContent = title(stage);
    section.hidden = false;
    const table = $('#dropped-table');
    table.setAttribute('aria-busy', 'true');
    const d = await loadDropped(`stage=${encodeURIComponent(stage)}&${query}`);
    table.removeAttribute('aria-busy');
    if (!d) return;
    fill(table, d.journeys, (j) => h('tr', {},
      h('th', { scope: 'row' }, who(j)),
      td(`${j.source || '—'} · ${title(j.device)}`),
      td(j.left_at_label || title(j.last_touchpoint)),
      td(when(j.last_seen_at), 'nowrap'),
      td(cartLines(j.cart)),
      tdNum(money(j.cart_value)),
      td(h('a', { href: journeyUrl(j.id) }, 'Explore'))),
    'No journey stopped at this step in the period (journeys still active are not listed).');
    if (focus) $('#dropped-title').focus();
  }

  $('#steps-table').addEventListener('click', (e) => {
    const button = e.target.closest('[data-dropped-stage]');
    if (button) run(() => showDropped(button.dataset.droppedStage));
  });

  periodPicker(async (q) => {
    query = q;
    const d = await load(q);
    if (!d) return;
    fill($('#steps-table'), d.steps, (s) => {
      // No button where no one stopped: it would open an empty list
      const canDrop = FUNNEL_STAGES.includes(s.stage) && s.stage !== 'purchase' && s.dropped > 0;
      return h('tr', { class: FUNNEL_STAGES.includes(s.stage) ? '' : 'after-purchase' },
        h('th', { scope: 'row' }, title(s.stage)),
        tdNum(num(s.journeys)), tdNum(pct(s.of_first)), tdNum(pct(s.of_previous)),
        tdNum(num(s.dropped)),
        td(canDrop ? h('button', { type: 'button', class: 'small-button', 'data-dropped-stage': s.stage,
          'aria-controls': 'dropped' }, 'Who stopped',
        h('span', { class: 'visually-hidden' }, ` at ${s.stage}`)) : ''));
    });
    funnelChart($('#funnel-chart'), d.steps);
    breakdownTable($('#source-table'), d.by_source, 'source');
    breakdownTable($('#device-table'), d.by_device, 'device');
    breakdownTable($('#campaign-table'), d.by_campaign, 'campaign',
      'No journey in this period came from a link with a utm_campaign.');
    chart($('#ttc-chart'), 'bar', d.time_to_convert.map((b) => b.bucket),
      [{ label: 'Purchases', data: d.time_to_convert.map((b) => b.journeys),
        backgroundColor: COLORS.blue, borderRadius: 4 }]);
    if (droppedStage) run(() => showDropped(droppedStage, false));
  });
}

// ---------------------------------------------------------------------------- abandonment

/** The carts bought later with a reminder and without: two bars, their counts beside. */
function remindersChart(r) {
  const groups = [['Reminded', r.reminded], ['Not reminded', r.not_reminded]];
  const said = r.reminded.carts ? groups.map(([name, g]) => `${name}: ${num(g.recovered)} of ${num(g.carts)} bought later (${pct(g.recovery_rate)}).`)
    : ['No cart left in the period was reminded.'];
  $('[data-reminders-summary]').textContent = said.join(' ');
  chart($('#reminders-chart'), 'bar', groups.map(([name, g]) => `${name} · ${num(g.recovered)} of ${num(g.carts)}`),
    [{ label: 'Bought later', data: groups.map(([, g]) => Math.round((g.recovery_rate ?? 0) * 1000) / 10), backgroundColor: [COLORS.green, COLORS.grey], borderRadius: 4 }],
    { summary: `Carts bought later. ${said.join(' ')}`, options: { indexAxis: 'y', plugins: { legend: { display: false } },
      scales: { x: { min: 0, suggestedMax: 10, ticks: { callback: (v) => `${v}%` },
        title: { display: true, text: 'Carts left in the period that were bought later' } } } } });
}

function abandonmentPage() {
  const load = latest((q) => api(`/abandonment?${q}`, { source: 'abandonment' }));
  const download = $('[data-export]');
  const exportUrl = download.getAttribute('href');
  periodPicker(async (q) => {
    download.href = `${exportUrl}?${q}`; // the spreadsheet of the period on screen
    const d = await load(q);
    if (!d) return;
    setKpis($('[data-kpis="totals"]'), d);
    $('[data-abandoned-summary]').textContent = `${num(d.abandoned)} abandoned · ${num(d.recovered)} recovered`;
    chart($('#stage-chart'), 'bar', d.by_stage.map((s) => title(s.stage)),
      [{ label: 'Abandoned', data: d.by_stage.map((s) => s.journeys), backgroundColor: COLORS.orange, borderRadius: 4 },
        { label: 'Recovered', data: d.by_stage.map((s) => s.recovered ?? 0), backgroundColor: COLORS.green, borderRadius: 4 }]);
    remindersChart(d.reminders);
    // The step each shopper was on when they left, in checkout order (not event names).
    chart($('#step-chart'), 'bar', d.left_at.map((s) => s.label),
      [{ label: 'Abandoned', data: d.left_at.map((s) => s.journeys), backgroundColor: COLORS.star, borderRadius: 4 }],
      { options: { indexAxis: 'y' } });
    fill($('#failures-table'), d.payment_failures, (f) => h('tr', {},
      h('th', { scope: 'row' }, FAILURE_WORDS[f.code] || title(f.code), ' ',
        h('code', { class: 'muted small' }, f.code)), tdNum(num(f.attempts))), 'No failed payments in this period.');
    fill($('#products-table'), d.top_products, (p) => h('tr', {},
      h('th', { scope: 'row' }, p.title), tdNum(num(p.journeys)), tdNum(num(p.units)), tdNum(money(p.value))),
    'No abandoned carts in this period.');
    fill($('#abandoned-table'), d.journeys, (j) => h('tr', {},
      h('th', { scope: 'row' }, who(j)),
      td(cartLines(j.cart)),
      tdNum(money(j.cart_value)),
      td(j.left_at_label || title(j.abandoned_stage || j.stage)),
      td(when(j.last_seen_at), 'nowrap'),
      td(j.reminded_at ? when(j.reminded_at)
        : j.reminder_waiting_since ? h('span', { class: 'muted', title: `written ${when(j.reminder_waiting_since)}` }, 'waiting to be sent')
          : j.reminder_not_sent_at ? h('span', { class: 'late', title: `written ${when(j.reminder_not_sent_at)}; the Outbox says why` }, 'not sent')
            : '—', 'nowrap'),
      td(h('a', { href: journeyUrl(j.id) }, 'Explore'))), 'No abandoned journeys in this period.');
  });
}

// ---------------------------------------------------------------------------- journeys

const MONEY_PROPS = new Set(['value', 'price', 'cost', 'unit_value', 'amount']);

// The pages a page_view names by endpoint, as the owner knows them.
const PAGE_NAMES = {
  'shop.landing': 'Home page', 'shop.category': 'Category page', 'shop.product': 'Product page',
  'shop.search': 'Search results', 'cart.view': 'Cart', 'checkout.start': 'Checkout',
  'checkout.address': 'Checkout: address', 'checkout.shipping_step': 'Checkout: delivery',
  'checkout.payment': 'Checkout: payment (card form)', 'checkout.confirmation': 'Order confirmation',
  'checkout.my_orders': 'My orders', 'checkout.order_page': 'Order page',
  'account.login': 'Sign-in page', 'account.signup': 'Sign-up page',
};
// The touchpoints in the owner's words (the timeline keeps each one's name beside, small).
const TOUCHPOINT_WORDS = {
  landing: 'Arrived', page_view: 'Viewed a page', search: 'Searched', category_view: 'Viewed a category',
  product_view: 'Viewed a product', add_to_cart: 'Added to the cart', remove_from_cart: 'Took out of the cart',
  cart_view: 'Viewed the cart', checkout_start: 'Began checkout', checkout_address: 'Gave the address',
  checkout_shipping: 'Chose the delivery', payment_submitted: 'Sent the card',
  payment_requires_action: 'Asked by the bank to confirm (3-D Secure)', payment_failed: 'Payment failed',
  purchase: 'Paid', shipped: 'Shipped', out_for_delivery: 'Out for delivery', delivered: 'Delivered',
  review_submitted: 'Wrote a review', order_view: 'Viewed the order', return_requested: 'Asked for a return',
  order_refunded: 'Refunded', signup: 'Made an account', login: 'Signed in',
};

// A property's name and value in words: the product's name (linked to its page), a
// duration, a page's name; money formatted; anything else as it was sent.
const PROP_NAMES = { product_id: 'product', delivery_seconds: 'delivered in', endpoint: 'page', order_ref: 'order' };

function propValue(k, v, p, product) {
  if (MONEY_PROPS.has(k) && Number.isInteger(v)) return money(v, p.currency || 'USD');
  if (k === 'order_ref') return orderNumber(String(v));
  if (k === 'product_id') return product ? h('a', { href: product.url }, product.title) : `#${v}`;
  if (k === 'delivery_seconds' && typeof v === 'number') return duration(v);
  if (k === 'endpoint') return PAGE_NAMES[v] || String(v);
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

function props(p, product) {
  const entries = Object.entries(p || {}).filter(([, v]) => v != null && v !== '');
  if (!entries.length) return null;
  return h('dl', { class: 'props' }, entries.map(([k, v]) => h('div', {},
    h('dt', {}, PROP_NAMES[k] || k), h('dd', {}, propValue(k, v, p, product)))));
}

function timeline(list, events, showJourney) {
  let journey = null;
  list.replaceChildren(...events.flatMap((e, i) => {
    const out = [];
    if (e.new_session && i > 0) {
      out.push(h('li', { class: 'tl-break' }, `New session · ${duration(e.since_previous ?? 0)} later`));
    }
    const failed = /failed/.test(e.touchpoint);
    out.push(h('li', { class: `tl-item stage-${e.stage || 'none'}${failed ? ' failed' : ''}` },
      h('div', { class: 'tl-head' },
        h('time', { datetime: `${e.at}Z` }, secondsFormat.format(asDate(e.at))),
        h('strong', {}, TOUCHPOINT_WORDS[e.touchpoint] || title(e.touchpoint)),
        h('code', { class: 'tl-name' }, e.touchpoint),
        e.stage ? pill(e.stage, 'stage-pill') : null,
        e.back_office ? h('span', { class: 'tl-since', title: 'Recorded by the shop (payment provider, courier), not in a visit' }, 'back office') : null,
        e.since_previous != null ? h('span', { class: 'tl-since' }, `+${duration(e.since_previous)} since previous`) : null,
        showJourney && e.journey_id !== journey
          ? h('a', { class: 'tl-journey', href: journeyUrl(e.journey_id) }, `journey ${shortId(e.journey_id)}`) : null),
      props(e.props, e.product)));
    journey = e.journey_id;
    return out;
  }));
}

function fact(label, value) { return h('div', {}, h('dt', {}, label), h('dd', {}, value)); }

function journeysPage() {
  const input = $('#journey-q');
  const results = $('#results');
  const detail = $('#detail');
  const filters = $$('[data-filter]');
  const find = latest((q, f) => api(q ? `/journeys?q=${encodeURIComponent(q)}` : `/journeys?${new URLSearchParams(f)}`, { source: 'find' }));
  const open = latest((path) => api(path, { source: 'journey' }));

  function resultRow(j) {
    return h('tr', {},
      h('th', { scope: 'row', class: 'nowrap' }, h('a', { href: journeyUrl(j.id), 'data-journey': j.id, title: j.id }, h('code', {}, shortId(j.id)))),
      td(who(j)), td(when(j.started_at), 'nowrap'), td(when(j.last_seen_at), 'nowrap'),
      td(pill(j.stage, 'stage-pill')), td(pill(j.status)),
      td(`${j.source || '—'} · ${title(j.device)}`), td(orderLink(j)),
      tdNum(j.value != null ? money(j.value) : '—'));
  }

  async function search(q, f) {
    results.hidden = false;
    const d = await find(q, f);
    if (!d) return;
    // The filters in words: "abandoned at checkout", "purchased", "at cart"
    const which = [f.status, f.stage && (f.status === 'abandoned' ? `at ${f.stage}` : `furthest at ${f.stage}`)]
      .filter(Boolean).join(' ');
    $('[data-results-title]').textContent = q ? 'Results' : 'Recent journeys';
    $('[data-results-count]').textContent = q ? `(${d.journeys.length} for “${d.query}”)`
      : `(the latest ${d.journeys.length} started${which ? `, ${which}` : ''}; search to find others)`;
    fill($('#results-table'), d.journeys, resultRow, q
      ? 'No journey matches. Try a visitor id, a journey id, an email or an order number.'
      : which ? `No journey ${which}.` : 'No journeys yet.');
  }

  async function showJourney(id, focus) {
    const d = await open(`/journeys/${encodeURIComponent(id)}`);
    if (!d) return;
    const j = d.journey;
    detail.hidden = false;
    $('[data-detail-title]').replaceChildren('Journey ', h('code', {}, j.id), ' ', pill(j.status));
    $('[data-facts]').replaceChildren(
      fact('Visitor', h('a', { href: visitorUrl(j.visitor_id), 'data-visitor': j.visitor_id }, h('code', {}, j.visitor_id))),
      fact('Customer', j.email || j.name ? who(j) : (j.customer_id ? `#${j.customer_id}` : 'Guest')),
      fact('Started', when(j.started_at)), fact('Last seen', when(j.last_seen_at)),
      fact('Furthest stage', pill(j.stage, 'stage-pill')),
      fact('Abandoned at', j.abandoned_stage ? title(j.abandoned_stage) : '—'),
      fact('Source · device', `${j.source || '—'} · ${title(j.device)}`),
      fact('Order', orderLink(j)),
      fact('Value', j.value != null ? money(j.value) : '—'),
      fact('Cart', [cartLines(j.cart), j.cart?.length ? ` ${money(j.cart_value)}` : '']));
    const reached = (j.stages || []).filter((s) => s.at).map((s) => [s.stage, s.at]);
    $('[data-detail-extra]').replaceChildren(h('h3', {}, 'Stages reached'),
      h('ol', { class: 'reached' }, reached.map(([stage, at]) => h('li', {}, pill(stage, 'stage-pill'), ` ${when(at)}`))));
    $('[data-timeline-count]').textContent = `(${d.timeline.length} touchpoints)`;
    timeline($('[data-timeline]'), d.timeline, false);
    if (focus) $('#detail-title').focus();
  }

  async function showVisitor(id, focus) {
    const d = await open(`/visitors/${encodeURIComponent(id)}/timeline`);
    if (!d) return;
    detail.hidden = false;
    $('[data-detail-title]').replaceChildren('Visitor ', h('code', {}, d.visitor_id));
    const own = d.journeys.filter((j) => j.visitor_id === d.visitor_id);
    $('[data-facts]').replaceChildren(fact('Journeys', num(own.length)),
      fact('First seen', when(own.at(-1)?.started_at)), fact('Last seen', when(own[0]?.last_seen_at)));
    const table = h('table', { class: 'data' }, h('caption', { class: 'visually-hidden' }, 'Journeys of this visitor'),
      h('thead', {}, h('tr', {}, ['Journey', 'Who', 'Started', 'Last seen', 'Stage', 'Status', 'Source · device', 'Order', 'Value']
        .map((c, i) => h('th', { scope: 'col', class: i === 8 ? 'num' : null }, c)))), h('tbody'));
    fill(table, own, resultRow, 'No journeys.');
    $('[data-detail-extra]').replaceChildren(h('h3', {}, 'Journeys'), h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Journeys of this visitor, table' }, table));
    $('[data-timeline-count]').textContent = `(${d.timeline.length} touchpoints across journeys)`;
    timeline($('[data-timeline]'), d.timeline, true);
    if (focus) $('#detail-title').focus();
  }

  let listed = null; // the query and filters whose journeys are listed
  function route(focus = false) {
    const p = new URLSearchParams(location.search);
    const q = p.get('q') || '';
    input.value = q;
    const f = {};
    for (const select of filters) {
      const value = p.get(select.dataset.filter) || '';
      select.value = [...select.options].some((o) => o.value === value) ? value : '';
      select.disabled = Boolean(q); // they narrow the latest journeys, not a search
      if (select.value) f[select.dataset.filter] = select.value;
    }
    // No search yet: the latest journeys, where the owner starts (PostHog's person list).
    const key = `${q}|${new URLSearchParams(f)}`;
    if (key !== listed) {
      listed = key;
      run(() => search(q, f));
    }
    if (p.get('journey')) run(() => showJourney(p.get('journey'), focus));
    else if (p.get('visitor')) run(() => showVisitor(p.get('visitor'), focus));
    else detail.hidden = true;
  }

  function go(params) {
    const p = new URLSearchParams(location.search);
    for (const [k, v] of Object.entries(params)) (v ? p.set(k, v) : p.delete(k));
    history.pushState(null, '', `${location.pathname}?${p}`);
    route(true);
  }

  const submit = () => {
    const q = input.value.trim();
    if (q) go({ q, journey: null, visitor: null });
    else if (new URLSearchParams(location.search).get('q')) go({ q: null }); // the latest again
    else input.focus();
  };
  $('[data-find]').addEventListener('click', submit);
  for (const select of filters) {
    select.addEventListener('change', () => go({ [select.dataset.filter]: select.value, journey: null, visitor: null }));
  }
  input.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); submit(); } });
  document.addEventListener('click', (e) => {
    const link = e.target.closest('a[data-journey], a[data-visitor], a.tl-journey');
    if (!link || e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    const target = new URL(link.href).searchParams;
    go({ journey: target.get('journey'), visitor: target.get('visitor') });
  });
  window.addEventListener('popstate', () => route());
  route();
}

// ---------------------------------------------------------------------------- orders

const NEXT_STATUS = { unfulfilled: 'packed', packed: 'shipped', shipped: 'out_for_delivery', out_for_delivery: 'delivered' };

function ordersPage() {
  const status = body.dataset.status || '';
  const notice = $('[data-advance-status]');
  const order = body.dataset.order || '';
  const params = new URLSearchParams([...(status ? [['status', status]] : []), ...(order ? [['order', order]] : [])]);
  const load = latest(() => api(`/orders${params.size ? `?${params}` : ''}`, { source: 'orders' }));

  /** A row's button: a real form (the no-JS fallback posts it to the panel's route). */
  function rowForm(attrs, label, spoken, buttonAttrs = {}) {
    return h('form', { method: 'post', ...attrs },
      h('input', { type: 'hidden', name: 'csrf_token', value: CSRF }),
      h('button', { type: 'submit', ...buttonAttrs }, label,
        h('span', { class: 'visually-hidden' }, spoken)));
  }

  function advanceForm(o) {
    // The script intercepts it and uses the JSON endpoint instead.
    const to = NEXT_STATUS[o.fulfilment_status];
    return rowForm({ class: 'advance', 'data-order': o.id, 'data-number': o.number,
      action: body.dataset.advanceUrl.replace('999999999', String(o.id)) },
    `Mark ${title(to).toLowerCase()}`, `: order ${o.number}`);
  }

  function cancelForm(o) {
    // As the page renders it: a plain form (the panel's route asks Stripe, then comes back
    // here with what it did). The rows are drawn again on load, so without this the owner
    // lost the Cancel of an order left at 3-D Secure.
    return rowForm({ class: 'cancel', action: body.dataset.cancelUrl.replace('999999999', String(o.id)) },
      'Cancel', `: order ${o.number}, 3-D Secure not completed`,
      { title: 'The shopper did not complete 3-D Secure: cancel the order and its payment' });
  }

  async function refresh() {
    const d = await load();
    if (!d) return;
    for (const el of $$('[data-count]')) {
      const [group, value] = el.dataset.count.split(':');
      el.textContent = num(d.counts[group]?.[value] ?? 0);
    }
    fill($('#orders-table'), d.orders, (o) => h('tr', {},
      h('th', { scope: 'row', class: 'order' }, o.journey_id ? h('a', { href: journeyUrl(o.journey_id), title: 'Open the journey' }, o.number) : o.number),
      td(when(o.created_at), 'nowrap'), td(h('span', { class: 'ellipsis', title: o.email }, o.email)),
      tdNum(money(o.total, o.currency)), td(pill(o.payment_status)), td(pill(o.fulfilment_status)),
      td([day(o.estimated_delivery), o.days_late ? h('span', { class: 'late' }, ` +${o.days_late}d`) : ''], 'nowrap'),
      td(o.can_advance ? advanceForm(o) : o.can_cancel ? cancelForm(o)
        : h('span', { class: 'muted' }, '—'))), 'No orders with this status.');
    fill($('#late-table'), d.late, (o) => h('tr', {},
      h('th', { scope: 'row', class: 'order' }, o.number), td(h('span', { class: 'ellipsis', title: o.email }, o.email)),
      td(day(o.estimated_delivery), 'nowrap'), td(o.delivered_at ? when(o.delivered_at) : 'Not yet', 'nowrap'),
      td(pill(o.fulfilment_status)), tdNum(h('span', { class: 'late' }, num(o.days_late)))), 'No late deliveries.');
  }

  $('#orders-table').addEventListener('submit', (e) => {
    const form = e.target.closest('form.advance');
    if (!form) return;
    e.preventDefault();
    const button = $('button', form);
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    run(async () => {
      try {
        const r = await api(`/orders/${form.dataset.order}/advance`, { method: 'POST', source: 'advance' });
        notice.textContent = `Order ${form.dataset.number} is now ${title(r.to_status).toLowerCase()}.`;
        notice.hidden = false;
      } finally {
        button.disabled = false;
        button.removeAttribute('aria-busy');
      }
      await refresh();
    });
  });
  run(refresh);
}

// ---------------------------------------------------------------------------- reviews

function reviewsPage() {
  const load = latest((q) => api(`/reviews?${q}`, { source: 'reviews' }));
  periodPicker(async (q) => {
    const d = await load(q);
    if (!d) return;
    setKpis($('[data-kpis="reviews"]'), d);
    $('[data-average-stars]').replaceChildren(...(d.average_rating != null ? [stars(d.average_rating)] : []));
    chart($('#histogram-chart'), 'bar', d.histogram.map((b) => `${b.rating} ★`),
      [{ label: 'Reviews', data: d.histogram.map((b) => b.reviews), backgroundColor: COLORS.star, borderRadius: 4 }],
      { options: { indexAxis: 'y' } });
    const productUrl = (slug) => body.dataset.productUrl.replace('__slug__', encodeURIComponent(slug));
    const list = $('[data-recent]');
    list.replaceChildren(...(d.recent.length ? d.recent.map((r) => h('li', { class: 'review' },
      h('div', { class: 'review-head' }, stars(r.rating), h('strong', {}, r.title || 'Untitled'),
        r.verified ? h('span', { class: 'verified' }, '✓ Verified purchase') : null),
      h('p', {}, r.body),
      h('p', { class: 'byline' }, `${r.author || 'Anonymous'} on `, h('a', { href: productUrl(r.slug) }, r.product),
        ` · ${when(r.created_at)}`))) : [h('li', { class: 'muted' }, 'No reviews in this period.')]));
  });
}

// ---------------------------------------------------------------------------- dispatch

const PAGES = {
  overview: overviewPage,
  funnel: funnelPage,
  abandonment: abandonmentPage,
  journeys: journeysPage,
  orders: ordersPage,
  reviews: reviewsPage,
};
if (window.Chart) {
  window.Chart.defaults.font.family = getComputedStyle(body).fontFamily;
  window.Chart.defaults.color = '#4b5563';
}
{
  const kept = storedPeriod(); // every page: its nav leads back to the period chosen
  if (kept) linkPeriod(kept);
}
// A form that moves money asks first (<form data-confirm="...">), on every page.
document.addEventListener('submit', (e) => {
  const form = e.target.closest('form[data-confirm]');
  if (form && !window.confirm(form.dataset.confirm)) e.preventDefault();
});
PAGES[body.dataset.page]?.();
