// The built-in page's publisher: camera and microphone (or a generated test card and tone
// when there are none) published over WHIP, candidates trickled with PATCH (RFC 9725).
// Uses $, headers, say and refresh from player.js. Plain browser APIs.
"use strict";

const publisher = {
  pc: null, location: null, etag: null, media: null, status: "IDLE", source: "",
  patches: 0, timer: null, audio: null, queue: [], ended: false,
};
window.wcsPublisher = publisher;  // for automated tests

function setPublishStatus(status) {
  publisher.status = status;
  $("publishStatus").textContent = status + (publisher.source ? " (" + publisher.source + ")" : "");
  $("unpublish").disabled = !(status === "PENDING" || status === "PUBLISHING");
}

// A moving test card and a 440 Hz tone: what is published when no camera/microphone exists.
function testCard() {
  const canvas = document.createElement("canvas");
  canvas.width = 640; canvas.height = 480;
  const g = canvas.getContext("2d");
  const colors = ["#fff", "#ff0", "#0ff", "#0f0", "#f0f", "#f00", "#00f", "#000"];
  let n = 0;
  publisher.timer = setInterval(() => {
    colors.forEach((c, i) => { g.fillStyle = c; g.fillRect(i * 80, 0, 80, 480); });
    g.fillStyle = "#000"; g.fillRect((n * 8) % 640, 360, 40, 120);
    g.fillStyle = "#fff"; g.font = "32px sans-serif"; g.fillText(new Date().toISOString(), 20, 420);
    n += 1;
  }, 40);
  const AudioCtx = window.AudioContext || window.webkitAudioContext;
  const ctx = new AudioCtx();
  const osc = ctx.createOscillator();
  osc.frequency.value = 440;
  const out = ctx.createMediaStreamDestination();
  osc.connect(out); osc.start();
  publisher.audio = ctx;
  return new MediaStream([...canvas.captureStream(25).getVideoTracks(), ...out.stream.getAudioTracks()]);
}

async function capture() {
  try {
    const media = await navigator.mediaDevices.getUserMedia({audio: true, video: {width: 640, height: 480}});
    publisher.source = "camera";
    return media;
  } catch (e) {
    publisher.source = "test card";
    return testCard();
  }
}

// H.264 first (recorded and pushed to RTMP without transcoding); VP8 stays as a fallback.
function preferH264(pc) {
  const video = pc.getTransceivers().find((t) => t.sender.track && t.sender.track.kind === "video");
  const caps = window.RTCRtpSender && RTCRtpSender.getCapabilities && RTCRtpSender.getCapabilities("video");
  if (!video || !caps || !video.setCodecPreferences) return;
  const rank = (c) => (c.mimeType.toLowerCase() === "video/h264"
    ? ((c.sdpFmtpLine || "").includes("packetization-mode=1") ? 0 : 1) : 2);
  video.setCodecPreferences(caps.codecs.slice().sort((a, b) => rank(a) - rank(b)));
}

// RFC 8840 sdpfrag: our ICE credentials, the bundle's first m-line and mid, the lines.
function sdpfrag(lines) {
  const sdp = publisher.pc.localDescription.sdp.split("\r\n");
  const pick = (prefix) => sdp.find((l) => l.startsWith(prefix));
  return [pick("a=ice-ufrag:"), pick("a=ice-pwd:"), pick("m="), pick("a=mid:"), ...lines]
    .filter(Boolean).join("\r\n") + "\r\n";
}

// candidate: an RTCIceCandidate, null (gathering is over) or undefined (send what waits).
async function trickle(candidate) {
  if (candidate && candidate.candidate) publisher.queue.push("a=" + candidate.candidate);
  else if (candidate === null) publisher.queue.push("a=end-of-candidates");
  if (!publisher.location || !publisher.queue.length) return;  // sent once the session exists
  const lines = publisher.queue.splice(0);
  const resp = await fetch(publisher.location, {
    method: "PATCH",
    headers: headers({"Content-Type": "application/trickle-ice-sdpfrag", "If-Match": publisher.etag}),
    body: sdpfrag(lines),
  });
  if (resp.status === 204) publisher.patches += 1;
  // Anything else is harmless: the server also learns our address from our checks.
}

async function publish() {
  const name = $("publishName").value.trim();
  if (!name) return;
  await unpublish();
  const pc = new RTCPeerConnection();
  Object.assign(publisher, {pc, location: null, etag: null, patches: 0, queue: [], source: ""});
  setPublishStatus("PENDING");
  try {
    const media = await capture();
    publisher.media = media;
    $("preview").srcObject = media;
    for (const track of media.getTracks()) pc.addTransceiver(track, {direction: "sendonly", streams: [media]});
    preferH264(pc);
    pc.onicecandidate = (ev) => { trickle(ev.candidate).catch(() => {}); };
    pc.onconnectionstatechange = () => {
      if (pc !== publisher.pc) return;
      if (pc.connectionState === "connected") { setPublishStatus("PUBLISHING"); say("publishing " + name); refresh(); }
      if (pc.connectionState === "failed") { setPublishStatus("FAILED"); say("publishing failed", true); }
    };
    await pc.setLocalDescription(await pc.createOffer());
    // Sent at once: the candidates follow with PATCH as they are gathered.
    const resp = await fetch("/whip/" + encodeURIComponent(name), {
      method: "POST",
      headers: headers({"Content-Type": "application/sdp"}),
      body: pc.localDescription.sdp,
    });
    if (resp.status !== 201) throw new Error("publish " + name + ": " + resp.status + " " + await resp.text());
    publisher.location = resp.headers.get("Location");
    publisher.etag = resp.headers.get("ETag");
    await pc.setRemoteDescription({type: "answer", sdp: await resp.text()});
    await trickle(undefined);  // what was gathered meanwhile
  } catch (e) {
    await unpublish();
    setPublishStatus("FAILED");
    say(e.message, true);
  }
}

async function unpublish() {
  const {pc, location, media} = publisher;
  Object.assign(publisher, {pc: null, location: null, media: null});
  if (publisher.timer) { clearInterval(publisher.timer); publisher.timer = null; }
  if (publisher.audio) { publisher.audio.close(); publisher.audio = null; }
  if (media) media.getTracks().forEach((t) => t.stop());
  if (pc) pc.close();
  if (location) {
    try { await fetch(location, {method: "DELETE", headers: headers()}); } catch (e) { /* gone */ }
  }
  if (pc) { setPublishStatus("UNPUBLISHED"); $("preview").srcObject = null; refresh(); }
}

$("publish").addEventListener("click", publish);
$("unpublish").addEventListener("click", unpublish);
