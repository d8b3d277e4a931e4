#!/usr/bin/env node
// Drives the official @flashphoner/websdk Player example page in the system Chromium with
// playwright-core: fill the WS URL, press Start, sample getStats twice, press Stop, and
// print "RESULT {json}". Usage (NODE_PATH=<npm dir>/node_modules):
//   node websdk_player.cjs PAGE_URL WS_URL USER_DATA_DIR CHROMIUM FLAGS_JSON [SECONDS]
const path = require('path');
const { driveWebsdk } = require(path.join(__dirname, 'driver_common.cjs'));


async function inbound(page) {
  return page.evaluate(async () => {
    const out = { framesDecoded: 0, frameWidth: 0, frameHeight: 0, totalSamplesReceived: 0,
                  audioCodec: null, videoCodec: null };
    for (const pc of window.__pcs) {
      const stats = await pc.getStats();
      const codecs = {};
      stats.forEach((s) => { if (s.type === 'codec') codecs[s.id] = s.mimeType; });
      stats.forEach((s) => {
        if (s.type !== 'inbound-rtp') return;
        if (s.kind === 'video') {
          out.framesDecoded += s.framesDecoded || 0;
          out.frameWidth = s.frameWidth || out.frameWidth;
          out.frameHeight = s.frameHeight || out.frameHeight;
          out.videoCodec = codecs[s.codecId] || out.videoCodec;
        } else if (s.kind === 'audio') {
          out.totalSamplesReceived += s.totalSamplesReceived || 0;
          out.audioCodec = codecs[s.codecId] || out.audioCodec;
        }
      });
    }
    return out;
  });
}

driveWebsdk(async (page, wsUrl, secs, result) => {
  await page.fill('#url', wsUrl);
  const t0 = Date.now();
  await page.click('#playBtn');
  await page.waitForFunction(() => document.getElementById('status').textContent === 'PLAYING',
                             null, { timeout: 20000 });
  result.statuses.push('PLAYING');
  result.playingMs = Date.now() - t0;
  // Wait until both tracks play: the cached keyframe reaches the decoder before the first
  // live audio packet has gone through Chromium's jitter buffer, so sampling at the first
  // frame can catch audio at zero samples. Then two samples some seconds apart.
  const deadline = Date.now() + 20000;
  let first = await inbound(page);
  while ((first.framesDecoded === 0 || first.totalSamplesReceived === 0)
         && Date.now() < deadline) {
    if (first.framesDecoded > 0 && result.firstFrameMs === undefined) {
      result.firstFrameMs = Date.now() - t0;
    }
    if (first.totalSamplesReceived > 0 && result.firstAudioMs === undefined) {
      result.firstAudioMs = Date.now() - t0;
    }
    await page.waitForTimeout(20);
    first = await inbound(page);
  }
  if (result.firstFrameMs === undefined) result.firstFrameMs = Date.now() - t0;
  if (result.firstAudioMs === undefined) result.firstAudioMs = Date.now() - t0;
  await page.waitForTimeout(secs * 1000);
  const second = await inbound(page);
  result.first = first;
  result.second = second;
  result.buttonText = await page.textContent('#playBtn');
  await page.click('#playBtn');  // "Stop"
  await page.waitForFunction(
    () => ['STOPPED', 'FAILED'].includes(document.getElementById('status').textContent),
    null, { timeout: 20000 });
  result.statuses.push(await page.textContent('#status'));
  result.info = await page.textContent('#info');
  result.ok = true;
});
