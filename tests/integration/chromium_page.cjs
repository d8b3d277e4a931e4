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

module.exports = { openPage, runPage };
