#!/usr/bin/env node
// The built-in page plays the demo call: open it, start a call to "demo", play the stream,
// wait for decoded frames, take a screenshot. Prints "DEMO_RESULT {json}".
// Usage: NODE_PATH=<dir>/node_modules node demo_page.cjs BASE_URL USER_DATA_DIR PNG
// Env: CHROMIUM (the browser binary), CHROMIUM_FLAGS_JSON (JSON array of flags).
const path = require('path');
const { drive } = require(path.join(__dirname, 'driver_common.cjs'));

const [base, udd, png] = process.argv.slice(2);
const result = { ok: false, console: [] };
drive(result, async (open) => {
  const page = await open(udd, process.env.CHROMIUM || '/usr/bin/chromium',
                        process.env.CHROMIUM_FLAGS_JSON || '[]', { width: 1100, height: 1000 });
  await page.goto(base + '/', { waitUntil: 'domcontentloaded', timeout: 20000 });
  await page.fill('input[name=callId]', 'demo-call');
  await page.fill('input[name=callee]', 'demo');
  await page.fill('input[name=toStream]', 'demo');
  await page.fill('input[name=sipLogin]', 'wcs');
  await page.click('#startCall');
  // The stream exists once the demo answered (it rings for a second).
  const established = async () => page.evaluate(async () => {
    const r = await fetch('/rest-api/call/find', { method: 'POST', body: '{"callId":"demo-call"}' });
    return r.status === 200 && (await r.json())[0].status === 'ESTABLISHED';
  });
  for (let i = 0; !(await established()); i++) {
    if (i > 80) throw new Error('the demo call was not ESTABLISHED within 20 s');
    await page.waitForTimeout(250);
  }
  await page.fill('#streamName', 'demo');
  await page.click('#play');
  await page.waitForFunction(() => {
    const v = document.getElementById('video');
    return v.videoWidth > 0 && v.currentTime > 2;
  }, null, { timeout: 30000, polling: 250 });
  await page.click('#refresh');
  await page.waitForTimeout(500);
  Object.assign(result, await page.evaluate(async () => {
    const v = document.getElementById('video');
    let framesDecoded = 0, audioPackets = 0;
    const stats = await window.wcsPlayer.pc.getStats();
    stats.forEach(s => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') framesDecoded = s.framesDecoded;
      if (s.type === 'inbound-rtp' && s.kind === 'audio') audioPackets = s.packetsReceived;
    });
    const metrics = await (await fetch('/metrics')).text();
    return { width: v.videoWidth, height: v.videoHeight, currentTime: v.currentTime,
             status: document.getElementById('status').textContent, framesDecoded, audioPackets,
             metrics };
  }));
  await page.screenshot({ path: png, fullPage: true });
  result.ok = true;
}, { tag: 'DEMO_RESULT' });
