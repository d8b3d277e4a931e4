#!/usr/bin/env node
// Drives our built-in page (/ on the HTTP port) in the system Chromium: next to the call
// CALL_ID, pick STREAM in its "Inject into call" list and press the button; after HOLD_MS
// press "Stop injecting". Prints "RESULT {json}" with the call's row text at each step.
// Usage (NODE_PATH=<npm dir>/node_modules):
//   node builtin_inject.cjs PAGE_URL CALL_ID STREAM HOLD_MS USER_DATA_DIR CHROMIUM FLAGS_JSON
const path = require('path');
const { drive, refreshUntil } = require(path.join(__dirname, 'driver_common.cjs'));

const [pageUrl, callId, stream, holdMs, udd, exe, flagsJson] = process.argv.slice(2);
const result = { ok: false, console: [] };
const row = `#calls tbody tr:has(td:text-is("${callId}"))`;
// The page lists calls and streams every 5 s; Refresh until the row shows what we want.
const until = async (page, selector) => {
  if (!(await refreshUntil(page, selector, 20000))) throw new Error('no ' + selector);
};
drive(result, async (open) => {
  const page = await open(udd, exe, flagsJson);
  await page.goto(pageUrl, { waitUntil: 'load', timeout: 20000 });
  await until(page, `${row} select.injectStream option[value="${stream}"]`);
  await page.selectOption(`${row} select.injectStream`, stream);
  await page.click(`${row} button:text-is("Inject into call")`);
  await until(page, `${row} button:text-is("Stop injecting ${stream}")`);
  result.injected = await page.textContent(row);
  await page.waitForTimeout(Number(holdMs));
  await page.click(`${row} button:text-is("Stop injecting ${stream}")`);
  await until(page, `${row} button:text-is("Inject into call")`);
  result.stopped = await page.textContent(row);
  result.message = await page.textContent('#message').catch(() => null);
  result.ok = true;
});
