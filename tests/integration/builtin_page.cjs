#!/usr/bin/env node
// Drives our built-in page (/ on the HTTP port) in the system Chromium: start a call with the
// form, play its stream, sample getStats, take a screenshot, press a key of the call's
// keypad, Hold and Unhold, hang up. Prints "RESULT {json}".
// Usage (NODE_PATH=<npm dir>/node_modules):
//   node builtin_page.cjs PAGE_URL FORM_JSON USER_DATA_DIR CHROMIUM FLAGS_JSON SCREENSHOT
const path = require('path');
const { drive, messageIs, refreshUntil } = require(path.join(__dirname, 'driver_common.cjs'));

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

const [pageUrl, formJson, udd, exe, flagsJson, shot] = process.argv.slice(2);
const form = JSON.parse(formJson);
const result = { ok: false, console: [] };
drive(result, async (open) => {
  const page = await open(udd, exe, flagsJson, { width: 1100, height: 1300 });
  await page.goto(pageUrl, { waitUntil: 'load', timeout: 20000 });
  for (const [name, value] of Object.entries(form)) {
    await page.fill(`#callForm [name="${name}"]`, String(value));
  }
  await page.click('#startCall');
  // The stream appears in the list (the page refreshes it every 5 s; press Refresh too).
  const row = `#streams tbody tr:has(td:text-is("${form.toStream}")) button`;
  const deadline = Date.now() + 20000;
  await refreshUntil(page, row, 20000);
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
  // Take part: a key from the keypad, then Hold and Unhold (each answers in #message).
  const callRow = `#calls tbody tr:has(td:text-is("${form.callId}"))`;
  await page.click(`${callRow} .keypad button:text-is("5")`);
  await messageIs(page, `send_dtmf ${form.callId} 5`);
  await page.click(`${callRow} button:text-is("Hold")`);
  await messageIs(page, `hold ${form.callId}`);
  const unhold = `${callRow} button:text-is("Unhold")`;
  await refreshUntil(page, unhold, 10000);
  result.heldRow = await page.textContent(callRow);
  await page.click(unhold);
  await messageIs(page, `unhold ${form.callId}`);
  await page.click(`${callRow} button`);  // Hang up (the first button)
  await page.waitForFunction(
    () => document.getElementById('message').textContent.includes('hung up'), null,
    { timeout: 10000 });
  result.message = await page.textContent('#message');
  result.ok = true;
});
