#!/usr/bin/env node
// Drives the built-in page's Publish (Chromium's fake camera and microphone, WHIP with
// trickled candidates): publishes, prints "PUBLISHING {json}", waits for a line on stdin
// (the test's viewer has played the stream), presses "Stop publishing", prints
// "RESULT {json}".
// Usage (NODE_PATH=<npm dir>/node_modules):
//   node builtin_publish.cjs PAGE_URL STREAM USER_DATA_DIR CHROMIUM FLAGS_JSON
const readline = require('readline');
const path = require('path');
const { drive } = require(path.join(__dirname, 'driver_common.cjs'));

async function outbound(page) {
  return page.evaluate(async () => {
    const out = { framesEncoded: 0, audioPackets: 0, codecs: [] };
    const pc = window.wcsPublisher.pc;
    if (!pc) return out;
    const stats = await pc.getStats();
    stats.forEach((s) => {
      if (s.type !== 'outbound-rtp') return;
      if (s.kind === 'video') out.framesEncoded = s.framesEncoded || 0;
      else out.audioPackets = s.packetsSent || 0;
      const codec = stats.get(s.codecId);
      if (codec) out.codecs.push(codec.mimeType);
    });
    return out;
  });
}

const [pageUrl, stream, udd, exe, flagsJson] = process.argv.slice(2);
const result = { ok: false, console: [] };
drive(result, async (open) => {
  const page = await open(udd, exe, flagsJson);
  await page.goto(pageUrl, { waitUntil: 'load', timeout: 20000 });
  await page.fill('#publishName', stream);
  await page.click('#publish');
  await page.waitForFunction(() => window.wcsPublisher.status === 'PUBLISHING', null,
    { timeout: 30000 });
  result.source = await page.evaluate(() => window.wcsPublisher.source);
  result.location = await page.evaluate(() => window.wcsPublisher.location);
  result.publishStatus = await page.textContent('#publishStatus');
  console.log('PUBLISHING ' + JSON.stringify(result));
  await new Promise((resolve) => readline.createInterface({ input: process.stdin }).once('line', resolve));
  result.patches = await page.evaluate(() => window.wcsPublisher.patches);
  result.stats = await outbound(page);
  await page.click('#unpublish');
  await page.waitForFunction(() => window.wcsPublisher.status === 'UNPUBLISHED', null,
    { timeout: 10000 });
  result.ok = true;
});
