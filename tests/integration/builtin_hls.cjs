#!/usr/bin/env node
// Drives the built-in page's two players side by side in the system Chromium: the stream
// name given in the URL (?streamName=), LL-HLS on or off, press HLS Play and WebRTC Play,
// then sample both <video> elements and the latencies the page shows for SECONDS.
// Prints "RESULT {json}".
// Usage (NODE_PATH=<npm dir>/node_modules):
//   node builtin_hls.cjs PAGE_URL LLHLS(0|1) USER_DATA_DIR CHROMIUM FLAGS_JSON SECONDS
const path = require('path');
const { openPage } = require(path.join(__dirname, 'chromium_page.cjs'));

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

(async () => {
  const [pageUrl, ll, udd, exe, flagsJson, secsArg] = process.argv.slice(2);
  const secs = parseFloat(secsArg || '6');
  const result = { ok: false, console: [], samples: [] };
  let ctx;
  try {
    const opened = await openPage(udd, exe, flagsJson, result);
    ctx = opened.ctx;
    const page = opened.page;
    await page.goto(pageUrl, { waitUntil: 'load', timeout: 20000 });
    if ((ll === '1') !== await page.isChecked('#llhls')) await page.click('#llhls');
    await page.click('#playHls');
    await page.click('#play');
    const t0 = Date.now();
    while (Date.now() - t0 < 30000) {
      const s = await sample(page);
      if (s.hls.currentTime > 0 && s.hlsLatency !== null && s.webrtcLatency !== null) {
        result.startMs = Date.now() - t0;
        break;
      }
      await page.waitForTimeout(100);
    }
    const end = Date.now() + secs * 1000;
    while (Date.now() < end) {
      result.samples.push(await sample(page));
      await page.waitForTimeout(500);
    }
    result.ok = true;
  } catch (e) {
    result.error = String(e && e.stack || e);
  } finally {
    if (ctx) await ctx.close().catch(() => {});
  }
  console.log('RESULT ' + JSON.stringify(result));
})();
