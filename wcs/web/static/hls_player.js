// The built-in page's HLS / LL-HLS player: a minimal Media Source Extensions player of our
// own CMAF output (one init segment + muxed fMP4 fragments), no library and no CDN.
// LL-HLS: blocking playlist reload on the preload hint, every part appended in order.
// HLS: blocking reload per segment (_HLS_msn), every segment appended.
// Latency shown: wall clock now minus the wall clock at which the server received the frame
// on screen (EXT-X-PROGRAM-DATE-TIME of the appended media mapped onto the video timeline).
// Browsers without MSE but with native HLS (Safari on iOS) get the playlist URL as src.
"use strict";

const HLS_LINE = /^#EXT-X-(PART-INF|PART|PRELOAD-HINT|MAP|PROGRAM-DATE-TIME):(.*)$/;

function hlsAttrs(text) {
  const out = {};
  for (const m of text.matchAll(/([A-Z0-9-]+)=("[^"]*"|[^,]*)/g)) out[m[1]] = m[2].replace(/"/g, "");
  return out;
}

// The media playlist as {ll, map, items: [{msn, part, uri, pdt, init}], hint, segments}.
function hlsParse(text) {
  const pl = {ll: false, items: [], segments: [], hint: null, msn: 0, ended: /#EXT-X-ENDLIST/.test(text)};
  let msn = 0, pdt = null, init = null, offset = 0, part = 0, duration = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("#EXT-X-MEDIA-SEQUENCE:")) msn = pl.msn = parseInt(line.slice(22), 10);
    else if (line.startsWith("#EXTINF:")) duration = parseFloat(line.slice(8));
    const m = HLS_LINE.exec(line);
    if (m && m[1] === "PART-INF") pl.ll = true;
    else if (m && m[1] === "MAP") init = hlsAttrs(m[2]).URI;
    else if (m && m[1] === "PROGRAM-DATE-TIME") { pdt = Date.parse(m[2]) / 1000; offset = 0; part = 0; }
    else if (m && m[1] === "PART") {
      const a = hlsAttrs(m[2]);
      pl.items.push({msn, part, uri: a.URI, pdt: pdt + offset, init, independent: a.INDEPENDENT === "YES"});
      offset += parseFloat(a.DURATION);
      part += 1;
    } else if (m && m[1] === "PRELOAD-HINT") {
      const p = /part(\d+)\.(\d+)\.m4s/.exec(hlsAttrs(m[2]).URI);
      if (p) pl.hint = [parseInt(p[1], 10), parseInt(p[2], 10)];
    } else if (line && !line.startsWith("#")) {
      pl.segments.push({msn, uri: line.trim(), pdt, init, duration});
      msn += 1; part = 0; offset = 0;
    }
  }
  pl.next = msn;  // the first segment not complete yet
  return pl;
}

function hlsCodecs(init) {
  const bytes = new Uint8Array(init);
  const find = (s) => {
    outer: for (let i = 0; i + s.length <= bytes.length; i++) {
      for (let j = 0; j < s.length; j++) if (bytes[i + j] !== s.charCodeAt(j)) continue outer;
      return i;
    }
    return -1;
  };
  const codecs = [];
  const avcC = find("avcC");
  if (avcC >= 0) {
    const hex = (b) => b.toString(16).padStart(2, "0");
    codecs.push("avc1." + hex(bytes[avcC + 5]) + hex(bytes[avcC + 6]) + hex(bytes[avcC + 7]));
  }
  if (find("mp4a") >= 0) codecs.push("mp4a.40.2");
  return 'video/mp4; codecs="' + codecs.join(", ") + '"';
}

class HlsPlayer {
  constructor(video, onState) {
    this.video = video;
    this.onState = onState;
    this.status = "IDLE";
    this.latency = null;  // seconds, see the header comment
    this.appended = 0;
    this.lowLatency = false;
    this.offset = null;  // wall clock (s) of video time 0
    this.run = 0;
  }

  set(status, text) { this.status = status; this.onState(status, text); }

  async fetchOk(url, binary) {
    const resp = await fetch(url);
    if (!resp.ok) throw new Error(url + ": " + resp.status);
    return binary ? resp.arrayBuffer() : resp.text();
  }

  async play(url, lowLatency) {
    this.stop();
    const run = ++this.run;
    this.url = url;
    this.base = url.slice(0, url.lastIndexOf("/") + 1);
    this.latency = null;
    this.appended = 0;
    this.offset = null;
    this.set("PENDING");
    if (!window.MediaSource && this.video.canPlayType("application/vnd.apple.mpegurl")) {
      this.video.src = url;  // native HLS: the browser does it all (no latency figure)
      this.set("PLAYING", "native HLS");
      return;
    }
    try {
      let pl = hlsParse(await this.fetchOk(url));
      this.lowLatency = lowLatency && pl.ll;
      const media = new MediaSource();
      this.video.src = URL.createObjectURL(media);
      await new Promise((ok) => media.addEventListener("sourceopen", ok, {once: true}));
      this.media = media;
      // Start at the live edge: the last independent part (LL) or the last segment.
      let queue;
      if (this.lowLatency) {
        let from = pl.items.length - 1;
        while (from > 0 && !pl.items[from].independent) from--;
        queue = pl.items.slice(Math.max(from, 0));
      } else {
        queue = pl.segments.slice(-1);
      }
      this.done = new Set();
      this.init = null;
      this.set("PLAYING");
      while (run === this.run) {
        for (const item of queue) {
          if (run !== this.run) return;
          if (this.done.has(item.uri)) continue;
          await this.append(item);
          this.done.add(item.uri);
        }
        if (pl.ended) { this.set("ENDED"); return; }
        const query = this.lowLatency && pl.hint
          ? "?_HLS_msn=" + pl.hint[0] + "&_HLS_part=" + pl.hint[1]
          : "?_HLS_msn=" + pl.next;
        pl = hlsParse(await this.fetchOk(url + query));
        queue = this.lowLatency ? pl.items : pl.segments;
      }
    } catch (e) {
      if (run === this.run) this.set("FAILED", e.message);
    }
  }

  async append(item) {
    if (item.init !== this.init) {
      const init = await this.fetchOk(this.base + item.init, true);
      if (!this.buffer) this.buffer = this.media.addSourceBuffer(hlsCodecs(init));
      await this.push(init);
      this.init = item.init;
    }
    await this.push(await this.fetchOk(this.base + item.uri, true));
    this.appended += 1;
    const b = this.buffer.buffered;
    if (this.offset === null && b.length) {
      // The first media appended starts at its PDT: that fixes the video timeline's clock.
      this.offset = item.pdt - b.start(b.length - 1);
      this.video.currentTime = b.start(b.length - 1);
      this.video.play().catch(() => { /* autoplay of muted video is allowed */ });
      this.timer = setInterval(() => this.measure(), 250);
    }
  }

  push(data) {
    return new Promise((ok, fail) => {
      this.buffer.addEventListener("updateend", ok, {once: true});
      this.buffer.addEventListener("error", fail, {once: true});
      this.buffer.appendBuffer(data);
    });
  }

  measure() {
    const v = this.video;
    if (this.offset === null || v.readyState < 2) return;
    this.latency = Date.now() / 1000 - (this.offset + v.currentTime);
    const b = this.buffer.buffered;
    // Fallen far behind (a stall): jump to shortly before the newest media.
    if (b.length && b.end(b.length - 1) - v.currentTime > 6) v.currentTime = b.end(b.length - 1) - 1;
    this.onState(this.status);
  }

  stop() {
    this.run += 1;
    clearInterval(this.timer);
    this.timer = null;
    this.buffer = null;
    if (this.media && this.media.readyState === "open") {
      try { this.media.endOfStream(); } catch (e) { /* closing */ }
    }
    this.media = null;
    this.video.removeAttribute("src");
    this.video.load();
    if (this.status !== "IDLE") this.set("STOPPED");
  }
}

window.HlsPlayer = HlsPlayer;
