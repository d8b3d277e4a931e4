// What every Chromium page driver here shares: the system Chromium through playwright-core
// with the test's flags, one page whose errors are collected in result.console, a hook keeping
// every RTCPeerConnection for getStats(), sampling a page over time, and the ending: browser
// closed, "TAG {json}" printed, exit status 0 only when the driver set result.ok.
const { chromium } = require('playwright-core');

// Every RTCPeerConnection the page makes is kept in window.__pcs (page.addInitScript).
const PC_HOOK = `(() => {
  const Native = window.RTCPeerConnection;
  window.__pcs = [];
  window.RTCPeerConnection = function (...args) {
    const pc = new Native(...args);
    window.__pcs.push(pc);
    return pc;
  };
  window.RTCPeerConnection.prototype = Native.prototype;
  Object.setPrototypeOf(window.RTCPeerConnection, Native);
})();`;

async function openPage(udd, exe, flagsJson, result, viewport) {
  const ctx = await chromium.launchPersistentContext(udd, {
    executablePath: exe, headless: true, args: JSON.parse(flagsJson), timeout: 30000,
    ...(viewport ? { viewport } : {}),
  });
  const page = ctx.pages()[0] || await ctx.newPage();
  page.on('pageerror', (e) => result.console.push('pageerror: ' + e.message));
  page.on('console', (m) => { if (m.type() === 'error') result.console.push(m.text()); });
  return { ctx, page };
}

// Samples `sample(page)` every 100 ms until `started(sample)` (at most 30 s; result.startMs),
// then every 500 ms for `secs` seconds into result.samples.
async function sampleFor(page, sample, started, secs, result) {
  const t0 = Date.now();
  while (Date.now() - t0 < 30000) {
    if (started(await sample(page))) { result.startMs = Date.now() - t0; break; }
    await page.waitForTimeout(100);
  }
  const end = Date.now() + secs * 1000;
  while (Date.now() < end) {
    result.samples.push(await sample(page));
    await page.waitForTimeout(500);
  }
}

// Our built-in page lists calls and streams every 5 s: press its Refresh until `selector` is
// there (true) or `ms` have passed (false).
async function refreshUntil(page, selector, ms) {
  const deadline = Date.now() + ms;
  while (!(await page.$(selector))) {
    if (Date.now() > deadline) return false;
    await page.click('#refresh');
    await page.waitForTimeout(300);
  }
  return true;
}

// The built-in page answers each action in #message: wait until it says `text`.
function messageIs(page, text) {
  return page.waitForFunction(
    (t) => document.getElementById('message').textContent === t, text, { timeout: 10000 });
}

// Runs one driver: `body(open)`, where `await open(udd, exe, flagsJson, viewport)` launches
// the browser and gives its page. An error lands in result.error (`onError(page)` may add
// what the page shows); then the browser is closed and the result printed.
function drive(result, body, { tag = 'RESULT', onError = null } = {}) {
  let ctx = null;
  const open = async (udd, exe, flagsJson, viewport) => {
    const opened = await openPage(udd, exe, flagsJson, result, viewport);
    ctx = opened.ctx;
    return opened.page;
  };
  (async () => {
    try {
      await body(open);
    } catch (e) {
      result.error = String(e);
      if (onError && ctx) await onError(ctx.pages()[0]).catch(() => {});
    } finally {
      if (ctx) await ctx.close().catch(() => {});
    }
    console.log(tag + ' ' + JSON.stringify(result));
    process.exit(result.ok ? 0 : 1);
  })();
}

// The WebSDK example drivers (PAGE_URL WS_URL USER_DATA_DIR CHROMIUM FLAGS_JSON [SECONDS]):
// the page loaded with the RTCPeerConnection hook, then `body(page, wsUrl, secs, result)`.
function driveWebsdk(body) {
  const [pageUrl, wsUrl, udd, exe, flagsJson, secsArg] = process.argv.slice(2);
  const result = { ok: false, console: [], statuses: [] };
  drive(result, async (open) => {
    const page = await open(udd, exe, flagsJson);
    await page.addInitScript(PC_HOOK);
    await page.goto(pageUrl, { waitUntil: 'load', timeout: 20000 });
    await body(page, wsUrl, parseFloat(secsArg || '3'), result);
  });
}

module.exports = {
  PC_HOOK, drive, driveWebsdk, messageIs, openPage, refreshUntil, sampleFor,
};
