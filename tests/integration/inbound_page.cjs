#!/usr/bin/env node
// Drives our built-in page (/ on the HTTP port) in the system Chromium for an incoming call
// that rings (answer = ring): wait for its row with the Answer/Reject buttons, press ACTION,
// wait for the page's message. Prints "RESULT {json}".
// Usage (NODE_PATH=<npm dir>/node_modules):
//   node inbound_page.cjs PAGE_URL CALL_ID ACTION USER_DATA_DIR CHROMIUM FLAGS_JSON
//   ACTION: Answer | Reject
const path = require('path');
const { drive, refreshUntil, messageIs } = require(path.join(__dirname, 'driver_common.cjs'));

const [pageUrl, callId, action, udd, exe, flagsJson] = process.argv.slice(2);
const result = { ok: false, console: [] };
drive(result, async (open) => {
  const page = await open(udd, exe, flagsJson);
  await page.goto(pageUrl, { waitUntil: 'load', timeout: 20000 });
  const row = `#calls tbody tr:has(td:text-is("${callId}"))`;
  const target = `${row} button:text-is("${action}")`;
  await refreshUntil(page, target, 20000);
  result.ringingRow = await page.textContent(row);
  result.buttons = await page.$$eval(`${row} button`, (bs) => bs.map((b) => b.textContent));
  await page.click(target);
  await messageIs(page, `${action.toLowerCase()} ${callId}`);
  result.message = await page.textContent('#message');
  result.ok = true;
});
