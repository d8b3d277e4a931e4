#!/usr/bin/env node
// Drives the official @flashphoner/websdk hls-js-player example page (unchanged) in the
// system Chromium with playwright-core: fill the HLS server URL and the stream name as a
// user would, press Play, then sample the <video> element and hls.js (the page's own
// `hlsPlayer`) until SECONDS have passed: playback, frames, hls.js's latency estimate and
// the latency to live measured on the picture shown (toLiveMs). Prints "RESULT {json}".
// Usage (NODE_PATH=<npm dir>/node_modules):
//   node hls_player.cjs PAGE_URL HLS_SERVER STREAM USER_DATA_DIR CHROMIUM FLAGS_JSON SECONDS
const path = require('path');
const { drive, sampleFor } = require(path.join(__dirname, 'driver_common.cjs'));

async function sample(page) {
  return page.evaluate(() => {
    const v = document.getElementById('remoteVideo');
    const q = v && v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : null;
    // The page keeps its hls.js instance in a global `let` (visible to evaluated code).
    let latency = null;
    let lowLatency = null;
    let toLiveMs = null;
    try {
      latency = hlsPlayer ? hlsPlayer.latency : null;  // eslint-disable-line no-undef
      lowLatency = hlsPlayer ? hlsPlayer.lowLatencyMode : null;  // eslint-disable-line no-undef
      // The picture on screen against the stream's clock: wall clock now minus the
      // EXT-X-PROGRAM-DATE-TIME of the video element's current position (hls.js maps it).
      const shown = hlsPlayer ? hlsPlayer.playingDate : null;  // eslint-disable-line no-undef
      toLiveMs = shown ? Date.now() - shown.getTime() : null;
    } catch (e) { /* not started */ }
    return {
      currentTime: v ? v.currentTime : 0,
      paused: v ? v.paused : true,
      width: v ? v.videoWidth : 0,
      height: v ? v.videoHeight : 0,
      frames: q ? q.totalVideoFrames : 0,
      latency, lowLatency, toLiveMs,
    };
  });
}

const [pageUrl, server, stream, udd, exe, flagsJson, secsArg] = process.argv.slice(2);
const result = { ok: false, console: [], samples: [] };
drive(result, async (open) => {
  const page = await open(udd, exe, flagsJson);
  await page.goto(pageUrl, { waitUntil: 'load', timeout: 20000 });
  await page.waitForSelector('#urlServer', { timeout: 20000 });
  await page.fill('#urlServer', server);
  await page.fill('#playStream', stream);
  await page.click('#applyBtn');
  // Until the picture moves (currentTime > 0), then SECONDS of samples.
  const moving = (s) => s.currentTime > 0 && s.frames > 0;
  await sampleFor(page, sample, moving, parseFloat(secsArg || '6'), result);
  result.fullLink = await page.inputValue('#fullLink');
  result.ok = true;
});
