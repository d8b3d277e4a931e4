// The built-in player: REST for calls and streams, WHEP for playback. Plain browser APIs.
"use strict";

const $ = (id) => document.getElementById(id);

function headers(extra) {
  const h = Object.assign({}, extra || {});
  const token = $("token").value.trim();
  if (token) h["Authorization"] = "Bearer " + token;
  return h;
}

function say(text, isError) {
  $("message").textContent = text;
  $("message").className = isError ? "error" : "";
}

async function rest(path, body) {
  const resp = await fetch("/rest-api/" + path, {
    method: "POST",
    headers: headers({"Content-Type": "application/json"}),
    body: JSON.stringify(body || {}),
  });
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
  if (resp.status === 404) return [];
  if (!resp.ok) throw new Error(path + ": " + resp.status + " " + (data && data.error || text));
  return data;
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text == null ? "" : String(text);
  row.appendChild(td);
  return td;
}

function button(td, label, action) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", action);
  td.appendChild(b);
}

async function refresh() {
  try {
    const calls = await rest("call/find_all");
    const streams = await rest("stream/find_all");
    const cbody = $("calls").querySelector("tbody");
    cbody.textContent = "";
    for (const c of calls || []) {
      const row = cbody.insertRow();
      cell(row, c.callId); cell(row, c.incoming ? "in: " + c.caller : "");
      cell(row, c.callee); cell(row, c.status); cell(row, c.streamName);
      const td = cell(row, "");
      // An incoming call that rings for us (answer = ring): answer or reject it from here.
      if (c.incoming && c.status === "RING" && c.answerMode === "ring") {
        button(td, "Answer", () => act("call/answer", c.callId));
        button(td, "Reject", () => act("call/reject", c.callId, {status: 486}));
      }
      button(td, "Hang up", () => hangup(c.callId));
      if (c.status === "ESTABLISHED" || c.status === "HOLD") {
        const held = c.status === "HOLD";
        button(td, held ? "Unhold" : "Hold", () => act(held ? "call/unhold" : "call/hold", c.callId));
        const pad = document.createElement("span");
        pad.className = "keypad";
        for (const key of "123456789*0#") {
          button(pad, key, () => act("call/send_dtmf", c.callId, {dtmf: key, type: "RFC2833"}));
        }
        td.appendChild(pad);
        injectControls(td, c, streams || []);
      }
    }
    const sbody = $("streams").querySelector("tbody");
    sbody.textContent = "";
    for (const s of streams || []) {
      const row = sbody.insertRow();
      cell(row, s.name); cell(row, s.published); cell(row, s.status);
      cell(row, s.width && s.height ? s.width + "x" + s.height : "");
      const td = cell(row, "");
      if (s.published) button(td, "Play", () => { $("streamName").value = s.name; play(); });
      if (s.published && s.urls) {
        button(td, "Play HLS", () => { $("streamName").value = s.name; playHls(s.urls.hls); });
      }
    }
  } catch (e) {
    say(e.message, true);
  }
}

// Another stream into the call in place of silence (/call/inject_stream/startup): any
// published stream but the call's own; or back to silence.
function injectControls(td, call, streams) {
  const span = document.createElement("span");
  span.className = "inject";
  if (call.injectedStream) {
    button(span, "Stop injecting " + call.injectedStream,
           () => act("call/inject_stream/terminate", call.callId));
  } else {
    const pick = document.createElement("select");
    pick.className = "injectStream";
    for (const s of streams) {
      if (!s.published || s.name === call.streamName) continue;
      const opt = document.createElement("option");
      opt.value = opt.textContent = s.name;
      pick.appendChild(opt);
    }
    if (!pick.options.length) return;
    span.appendChild(pick);
    button(span, "Inject into call",
           () => act("call/inject_stream/startup", call.callId, {streamName: pick.value}));
  }
  td.appendChild(span);
}

async function startCall(ev) {
  ev.preventDefault();
  const body = {};
  for (const el of $("callForm").elements) {
    if (!el.name) continue;
    if (el.type === "checkbox") body[el.name] = el.checked ? "true" : "false";
    else if (el.value !== "") body[el.name] = el.value;
  }
  // A fresh callId for every press, unless the user typed one (WCS rejects duplicates).
  if (!body.callId) body.callId = "call-" + Math.random().toString(36).slice(2, 10);
  try {
    await rest("call/startup", body);
    say("call " + body.callId + " started");
    if (body.toStream) $("streamName").value = body.toStream;
  } catch (e) {
    say(e.message, true);
  }
  refresh();
}

async function hangup(callId) {
  try {
    await rest("call/terminate", {callId});
    say("call " + callId + " hung up");
  } catch (e) {
    say(e.message, true);
  }
  setTimeout(refresh, 500);
}

// Taking part in an established call: hold/unhold, a DTMF key (our REST extensions + WCS).
async function act(path, callId, extra) {
  try {
    await rest(path, Object.assign({callId}, extra || {}));
    const what = extra ? extra.dtmf || extra.streamName : null;
    say(path.replace("call/", "") + " " + callId + (what ? " " + what : ""));
  } catch (e) {
    say(e.message, true);
  }
  setTimeout(refresh, 500);
}

const player = {pc: null, location: null, status: "IDLE", latency: null};
window.wcsPlayer = player;  // for automated tests: getStats() on player.pc

function setStatus(status) {
  player.status = status;
  $("status").textContent = status;
  $("stop").disabled = !(status === "PENDING" || status === "PLAYING");
}

async function play() {
  const name = $("streamName").value.trim();
  if (!name) return;
  await stop();
  const pc = new RTCPeerConnection();
  player.pc = pc;
  pc.addTransceiver("video", {direction: "recvonly"});
  pc.addTransceiver("audio", {direction: "recvonly"});
  pc.ontrack = (ev) => { $("video").srcObject = ev.streams[0] || new MediaStream([ev.track]); };
  pc.onconnectionstatechange = () => {
    if (pc !== player.pc) return;
    if (pc.connectionState === "failed") { setStatus("FAILED"); say("WebRTC connection failed", true); }
  };
  setStatus("PENDING");
  try {
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    // No need to wait for gathering: the server learns our address from our ICE checks.
    const resp = await fetch("/whep/" + encodeURIComponent(name), {
      method: "POST",
      headers: headers({"Content-Type": "application/sdp"}),
      body: pc.localDescription.sdp,
    });
    if (resp.status !== 201) throw new Error("play " + name + ": " + resp.status + " " + await resp.text());
    player.location = resp.headers.get("Location");
    await pc.setRemoteDescription({type: "answer", sdp: await resp.text()});
    setStatus("PLAYING");
    say("playing " + name);
  } catch (e) {
    pc.close();
    player.pc = null;
    setStatus("FAILED");
    say(e.message, true);
  }
  refresh();
}

async function stop() {
  const pc = player.pc, location = player.location;
  player.pc = null;
  player.location = null;
  if (pc) pc.close();
  if (location) {
    try { await fetch(location, {method: "DELETE", headers: headers()}); } catch (e) { /* gone */ }
  }
  if (pc) { setStatus("STOPPED"); $("video").srcObject = null; }
}

// WebRTC latency: half the round trip + jitter buffer + decode, per second from getStats.
async function webrtcLatency() {
  const pc = player.pc;
  if (!pc || player.status !== "PLAYING") return;
  let rtt = null, buffer = null, decode = null;
  (await pc.getStats()).forEach((s) => {
    if (s.type === "candidate-pair" && s.nominated && s.currentRoundTripTime != null) rtt = s.currentRoundTripTime;
    if (s.type === "inbound-rtp" && s.kind === "video" && s.jitterBufferEmittedCount) {
      buffer = s.jitterBufferDelay / s.jitterBufferEmittedCount;
      if (s.framesDecoded) decode = s.totalDecodeTime / s.framesDecoded;
    }
  });
  if (buffer === null) return;
  player.latency = (rtt || 0) / 2 + buffer + (decode || 0);
  $("latency").textContent = player.latency.toFixed(3) + " s";
}

const hls = new HlsPlayer($("hlsVideo"), (status, text) => {
  $("hlsStatus").textContent = status;
  $("stopHls").disabled = !(status === "PENDING" || status === "PLAYING");
  if (hls && hls.latency !== null) $("hlsLatency").textContent = hls.latency.toFixed(3) + " s";
  if (text) say("HLS: " + text, status === "FAILED");
});
window.wcsHls = hls;  // for automated tests

async function playHls(url) {
  if (!url) {
    const name = $("streamName").value.trim();
    const found = name ? await rest("stream/find", {name}) : [];
    url = found.length && found[0].urls ? found[0].urls.hls : null;
    if (!url) { say("no HLS URL for " + name, true); return; }
  }
  $("hlsLatency").textContent = "–";
  hls.play(url, $("llhls").checked);
}

$("callForm").addEventListener("submit", startCall);
$("playHls").addEventListener("click", () => playHls());
$("stopHls").addEventListener("click", () => hls.stop());
setInterval(webrtcLatency, 1000);
$("refresh").addEventListener("click", refresh);
$("play").addEventListener("click", play);
$("stop").addEventListener("click", () => { stop(); setTimeout(refresh, 300); });
const params = new URLSearchParams(location.search);
if (params.get("token")) $("token").value = params.get("token");
if (params.get("streamName")) $("streamName").value = params.get("streamName");
refresh();
setInterval(refresh, 5000);
