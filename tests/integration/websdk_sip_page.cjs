#!/usr/bin/env node
// Drives the official @flashphoner/websdk "SIP as RTMP 4" example page in the system Chromium:
// fill the SIP form and REST URL, tick hasAudio/hasVideo, press Call, wait for ESTABLISHED (the page polls
// /call/find), type keys into its DTMF field and press "Send DTMF", then hang up with the
// Call button. Prints "RESULT {json}" with the status of every /call/send_dtmf request.
// With INJECT_STREAM (KEYS may then be empty: no DTMF): type it into the page's "Stream
// injection to SIP call" field, press Inject, keep the call HOLD_MS, and report the
// /call/inject_stream requests and the Inject button's state.
// Usage (NODE_PATH=<npm dir>/node_modules):
//   node websdk_sip_page.cjs PAGE_URL FORM_JSON KEYS USER_DATA_DIR CHROMIUM FLAGS_JSON \
//     [INJECT_STREAM HOLD_MS]
const path = require('path');
const { drive } = require(path.join(__dirname, 'driver_common.cjs'));

const [pageUrl, formJson, keys, udd, exe, flagsJson, inject, holdMs] = process.argv.slice(2);
const form = JSON.parse(formJson);
const result = { ok: false, console: [], dtmf: [], inject: [], requests: [] };

// Presses `button` and waits until the page's POST shows up in `posts` (at most 10 s).
async function pressAndWait(page, button, posts) {
  await page.click(button);
  const until = Date.now() + 10000;
  while (posts.length === 0 && Date.now() < until) await page.waitForTimeout(100);
}

drive(result, async (open) => {
  const page = await open(udd, exe, flagsJson);
  page.on('requestfinished', (r) => {
    if (r.url().includes('/rest-api/')) result.requests.push(r.method() + ' ' + r.url());
  });
  page.on('requestfailed', (r) => result.requests.push('FAILED ' + r.method() + ' ' + r.url()));
  page.on('response', (r) => {
    if (r.url().endsWith('/call/send_dtmf') && r.request().method() === 'POST') {
      result.dtmf.push({ status: r.status(), body: r.request().postData() });
    }
    if (r.url().endsWith('/call/inject_stream') && r.request().method() === 'POST') {
      result.inject.push({ status: r.status(), body: r.request().postData() });
    }
  });
  await page.goto(pageUrl, { waitUntil: 'load', timeout: 20000 });
  for (const [id, value] of Object.entries(form)) {
    await page.fill(`#${id}`, String(value));
  }
  // As a user does: tick hasAudio and hasVideo (the page sends "false" for unticked ones).
  await page.click('#hasAudio');
  await page.click('#hasVideo');
  await page.click('#callBtn');
  await page.waitForFunction(
    () => document.getElementById('callStatus').textContent.includes('ESTABLISHED'), null,
    { timeout: 30000 });
  if (keys) {
    await page.fill('#dtmf', keys);
    await pressAndWait(page, '#dtmfBtn', result.dtmf);
    await page.waitForTimeout(2000);  // the keys are on the wire
  }
  if (inject) {
    await page.fill('#injectStream', inject);
    await pressAndWait(page, '#injectStreamBtn', result.inject);
    await page.waitForTimeout(Number(holdMs || 2000));
    result.injectButton = await page.getAttribute('#injectStreamBtn', 'class');
  }
  result.callStatus = await page.textContent('#callStatus');
  await page.click('#callBtn');  // Hangup
  result.ok = true;
}, { onError: async (page) => {
  result.callStatus = await page.textContent('#callStatus').catch(() => null);
  result.callTrace = await page.textContent('#callTrace').catch(() => null);
} });
