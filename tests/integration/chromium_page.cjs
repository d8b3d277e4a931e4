// The system Chromium through playwright-core, one page, its errors collected in
// result.console: shared by the page drivers (websdk_player.cjs, hls_player.cjs, ...).
const { chromium } = require('playwright-core');

async function openPage(udd, exe, flagsJson, result) {
  const ctx = await chromium.launchPersistentContext(udd, {
    executablePath: exe, headless: true, args: JSON.parse(flagsJson), timeout: 30000,
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

// A whole driver run: the page opened, body(page, result), "RESULT {json}" printed (ok, or
// the error), the browser closed.
async function drive(udd, exe, flagsJson, body) {
  const result = { ok: false, console: [], samples: [] };
  let ctx;
  try {
    const opened = await openPage(udd, exe, flagsJson, result);
    ctx = opened.ctx;
    await body(opened.page, result);
    result.ok = true;
  } catch (e) {
    result.error = String(e && e.stack || e);
  } finally {
    if (ctx) await ctx.close().catch(() => {});
  }
  console.log('RESULT ' + JSON.stringify(result));
}

// A whole driver: open pageUrl, run steps(page), then print "RESULT {json}" and exit
// (0 when the steps went through; an error is kept in result.error). The other drivers
// predate it and spell the same out themselves.
async function runPage(pageUrl, udd, exe, flagsJson, result, steps) {
  const failed = (e) => { result.error = String(e); };
  const opened = await openPage(udd, exe, flagsJson, result).catch(failed);
  if (opened) {
    await opened.page.goto(pageUrl, { waitUntil: 'load', timeout: 20000 })
      .then(() => steps(opened.page))
      .then(() => { result.ok = true; }, failed);
    await opened.ctx.close().catch(() => {});
  }
  console.log('RESULT ' + JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
}

module.exports = { openPage, sampleFor, drive, runPage };
