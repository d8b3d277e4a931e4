#!/usr/bin/env node
// Drives our built-in page (/ on the HTTP port) in the system Chromium for an incoming call
// that rings (answer = ring): wait for its row with the Answer/Reject buttons, press ACTION,
// wait for the page's message. Prints "RESULT {json}".
// Usage (NODE_PATH=<npm dir>/node_modules):
//   node inbound_page.cjs PAGE_URL CALL_ID ACTION USER_DATA_DIR CHROMIUM FLAGS_JSON
//   ACTION: Answer | Reject
const { chromium } = require('playwright-core');

(async () => {
  const [pageUrl, callId, action, udd, exe, flagsJson] = process.argv.slice(2);
  const result = { ok: false, console: [] };
  let ctx;
  try {
    ctx = await chromium.launchPersistentContext(udd, {
      executablePath: exe, headless: true, args: JSON.parse(flagsJson), timeout: 30000,
    });
    const page = ctx.pages()[0] || await ctx.newPage();
    page.on('pageerror', (e) => result.console.push('pageerror: ' + e.message));
    await page.goto(pageUrl, { waitUntil: 'load', timeout: 20000 });
    const row = `#calls tbody tr:has(td:text-is("${callId}"))`;
    const target = `${row} button:text-is("${action}")`;
    const deadline = Date.now() + 20000;
    while (!(await page.$(target)) && Date.now() < deadline) {
      await page.click('#refresh');
      await page.waitForTimeout(300);
    }
    result.ringingRow = await page.textContent(row);
    result.buttons = await page.$$eval(`${row} button`, (bs) => bs.map((b) => b.textContent));
    await page.click(target);
    const said = `${action.toLowerCase()} ${callId}`;
    await page.waitForFunction(
      (t) => document.getElementById('message').textContent === t, said, { timeout: 10000 });
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
