#!/usr/bin/env node
// Drives the built-in page's two players side by side in the system Chromium: the stream
// name given in the URL (?streamName=), LL-HLS on or off, press HLS Play and WebRTC Play,
// then sample both <video> elements and the latencies the page shows for SECONDS.
// Prints "RESULT {json}".
// Usage (NODE_PATH=<npm dir>/node_modules):
//   node builtin_hls.cjs PAGE_URL LLHLS(0|1) USER_DATA_DIR CHROMIUM FLAGS_JSON SECONDS
const path = require('path');
const { drive, sampleFor } = require(path.join(__dirname, 'driver_common.cjs'));

async function sample(page) {
  return page.evaluate(() => {
    const one = (id) => {
      const v = document.getElementById(id);
      const q = v.getVideoPlaybackQuality();
      return { currentTime: v.currentTime, width: v.videoWidth, height: v.videoHeight,
               frames: q.totalVideoFrames };
    };
    return {
      hls: one('hlsVideo'), webrtc: one('video'),
      hlsStatus: window.wcsHls.status, hlsLatency: window.wcsHls.latency,
      lowLatency: window.wcsHls.lowLatency, appended: window.wcsHls.appended,
      webrtcLatency: window.wcsPlayer.latency,
      shown: [document.getElementById('hlsLatency').textContent,
              document.getElementById('latency').textContent],
    };
  });
}

const [pageUrl, ll, udd, exe, flagsJson, secsArg] = process.argv.slice(2);
const result = { ok: false, console: [], samples: [] };
drive(result, async (open) => {
  const page = await open(udd, exe, flagsJson);
  await page.goto(pageUrl, { waitUntil: 'load', timeout: 20000 });
  if ((ll === '1') !== await page.isChecked('#llhls')) await page.click('#llhls');
  await page.click('#playHls');
  await page.click('#play');
  const started = (s) => s.hls.currentTime > 0 && s.hlsLatency !== null
    && s.webrtcLatency !== null;
  await sampleFor(page, sample, started, parseFloat(secsArg || '6'), result);
  result.ok = true;
});
