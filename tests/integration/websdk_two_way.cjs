#!/usr/bin/env node
// Drives the official @flashphoner/websdk "Two Way Streaming" example page, unchanged, in
// the system Chromium (fake camera and microphone): Connect, Publish, Play the same name,
// sample the player's getStats twice, then stop publishing and see the player stop.
// Prints "RESULT {json}". Usage (NODE_PATH=<npm dir>/node_modules):
//   node websdk_two_way.cjs PAGE_URL WS_URL USER_DATA_DIR CHROMIUM FLAGS_JSON [SECONDS]
const path = require('path');
const { driveWebsdk } = require(path.join(__dirname, 'driver_common.cjs'));


async function stats(page) {
  return page.evaluate(async () => {
    const out = { framesDecoded: 0, frameWidth: 0, totalSamplesReceived: 0, videoCodec: null,
                  framesEncoded: 0, sentCodec: null };
    for (const pc of window.__pcs) {
      const all = await pc.getStats();
      const codecs = {};
      all.forEach((s) => { if (s.type === 'codec') codecs[s.id] = s.mimeType; });
      all.forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') {
          out.framesDecoded += s.framesDecoded || 0;
          out.frameWidth = s.frameWidth || out.frameWidth;
          out.videoCodec = codecs[s.codecId] || out.videoCodec;
        } else if (s.type === 'inbound-rtp' && s.kind === 'audio') {
          out.totalSamplesReceived += s.totalSamplesReceived || 0;
        } else if (s.type === 'outbound-rtp' && s.kind === 'video') {
          out.framesEncoded += s.framesEncoded || 0;
          out.sentCodec = codecs[s.codecId] || out.sentCodec;
        }
      });
    }
    return out;
  });
}

const text = (page, sel) => page.textContent(sel);
const waitText = (page, sel, values) => page.waitForFunction(
  ([s, v]) => v.includes(document.querySelector(s).textContent), [sel, values], { timeout: 20000 });

driveWebsdk(async (page, wsUrl, secs, result) => {
  await page.fill('#urlServer', wsUrl);
  await page.click('#connectBtn');
  await waitText(page, '#connectStatus', ['ESTABLISHED']);
  result.name = await page.inputValue('#publishStream');
  await page.click('#publishBtn');
  await waitText(page, '#publishStatus', ['PUBLISHING', 'FAILED']);
  result.statuses.push(await text(page, '#publishStatus'));
  console.log('PUBLISHING ' + result.name);
  await page.click('#playBtn');
  await waitText(page, '#playStatus', ['PLAYING', 'FAILED']);
  result.statuses.push(await text(page, '#playStatus'));
  const deadline = Date.now() + 20000;
  let first = await stats(page);
  while ((first.framesDecoded === 0 || first.totalSamplesReceived === 0)
         && Date.now() < deadline) {
    await page.waitForTimeout(50);
    first = await stats(page);
  }
  await page.waitForTimeout(secs * 1000);
  result.first = first;
  result.second = await stats(page);
  await page.click('#publishBtn');  // "Stop"
  await waitText(page, '#publishStatus', ['UNPUBLISHED', 'FAILED']);
  result.statuses.push(await text(page, '#publishStatus'));
  await waitText(page, '#playStatus', ['STOPPED', 'FAILED']);
  result.statuses.push(await text(page, '#playStatus'));
  result.playInfo = await text(page, '#playInfo');
  result.ok = true;
});
