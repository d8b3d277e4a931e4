#!/usr/bin/env node
// Drives our built-in page (/ on the HTTP port) in the system Chromium: start a call with the
// form, play its stream, sample getStats, take a screenshot, hang up. Prints "RESULT {json}".
// Usage (NODE_PATH=<npm dir>/node_modules):
//   node builtin_page.cjs PAGE_URL FORM_JSON USER_DATA_DIR CHROMIUM FLAGS_JSON SCREENSHOT
const { chromium } = require('playwright-core');

async function stats(page) {
  return page.evaluate(async () => {
    const out = { framesDecoded: 0, frameWidth: 0, frameHeight: 0, totalSamplesReceived: 0 };
    const pc = window.wcsPlayer.pc;
    if (!pc) return out;
    (await pc.getStats()).forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      if (s.kind === 'video') {
        out.framesDecoded = s.framesDecoded || 0;
        out.frameWidth = s.frameWidth || 0;
        out.frameHeight = s.frameHeight || 0;
      } else {
        out.totalSamplesReceived = s.totalSamplesReceived || 0;
      }
    });
    return out;
  });
}

(async () => {
  const [pageUrl, formJson, udd, exe, flagsJson, shot] = process.argv.slice(2);
  const form = JSON.parse(formJson);
  const result = { ok: false, console: [] };
  let ctx;
  try {
    ctx = await chromium.launchPersistentContext(udd, {
      executablePath: exe, headless: true, args: JSON.parse(flagsJson), timeout: 30000,
      viewport: { width: 1100, height: 1300 },
    });
    const page = ctx.pages()[0] || await ctx.newPage();
    page.on('pageerror', (e) => result.console.push('pageerror: ' + e.message));
    await page.goto(pageUrl, { waitUntil: 'load', timeout: 20000 });
    for (const [name, value] of Object.entries(form)) {
      await page.fill(`#callForm [name="${name}"]`, String(value));
    }
    await page.click('#startCall');
    // The stream appears in the list (the page refreshes it every 5 s; press Refresh too).
    const row = `#streams tbody tr:has(td:text-is("${form.toStream}")) button`;
    const deadline = Date.now() + 20000;
    while (!(await page.$(row)) && Date.now() < deadline) {
      await page.click('#refresh');
      await page.waitForTimeout(300);
    }
    result.callRow = await page.textContent('#calls tbody');
    await page.click(row);  // Play
    await page.waitForFunction(() => window.wcsPlayer.status === 'PLAYING', null, { timeout: 20000 });
    let first = await stats(page);
    while (first.framesDecoded === 0 && Date.now() < deadline + 20000) {
      await page.waitForTimeout(100);
      first = await stats(page);
    }
    await page.waitForTimeout(3000);
    result.first = first;
    result.second = await stats(page);
    await page.click('#refresh');
    await page.waitForTimeout(500);
    result.streamsTable = await page.textContent('#streams tbody');
    await page.screenshot({ path: shot, fullPage: true });
    await page.click(`#calls tbody tr:has(td:text-is("${form.callId}")) button`);  // Hang up
    await page.waitForFunction(
      () => document.getElementById('message').textContent.includes('hung up'), null,
      { timeout: 10000 });
    result.message = await page.textContent('#message');
    result.ok = true;
  } catch (e) {
    result.error = String(e);
  } finally {
    if (ctx) await ctx.close().catch(() => {});
  }
  console.log('RESULT ' + JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
})();
