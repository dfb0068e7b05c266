// livematch capture page: camera preview with a light hint, a 5-second MediaRecorder clip, a photo,
// and one multipart POST to demo/verify. No framework, no build step; works in Chromium and Firefox.
"use strict";

const RECORD_MS = 5000; // 3 s let calm users fail the motion cues (docs/LIVENESS.md, "Short, calm live clips")
const COUNTDOWN_S = 3;
const THRESHOLDS = [0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
const RECOMMENDED = 0.7;
const MIME_TYPES = ["video/webm;codecs=vp9", "video/webm;codecs=vp8", "video/webm", "video/mp4"];
// What each error code means for the person in front of the camera; the server's own message is shown too.
const MESSAGES = {
  1200: "The server refused the request as invalid, for example a video longer than it accepts.",
  1404: "This demo is not enabled for your address. It is on by default only for localhost; " +
    "an operator can enable it with LIVEMATCH_DEMO=1.",
  1503: "The server is busy or still loading its models. Wait a few seconds and try again.",
  1504: "The server took too long on this request. Try again, or record in a smaller window.",
  2003: "The photo or the video has a resolution the service does not accept (too small or too large).",
  2004: "The photo or the video file is too small or too large for the service.",
  2005: "The photo or the video could not be read. Use a JPEG, PNG, WebP, BMP, GIF or TIFF photo; " +
    "if the video is the problem, try another browser.",
  4000: "No face was found in the photo. Choose a photo in which one face is clearly visible.",
  4004: "The face in the photo is partly covered (eyes, nose or mouth). Choose another photo, " +
    "or untick the quality check.",
  4007: "No face could be followed through the video. Keep your face inside the oval, in good light, " +
    "for all 5 seconds, and record again.",
  5000: "Something unexpected went wrong on the server. The request id below helps its operator find out what.",
};

const LIVENESS = {
  hack: "the video was not judged to show a live person. Record again, facing the camera in good light.",
  short_time: "the video is shorter than the service needs. Record again and keep the camera running.",
};

const $ = (id) => document.getElementById(id);
const state = { stream: null, video: null, videoType: "", photo: null, photoUrl: null, hintTimer: 0 };

function setText(id, text) {
  $(id).textContent = text;
}

function refreshButtons() {
  const live = state.stream !== null;
  $("record").disabled = !live;
  $("snapshot").disabled = !live;
  $("verify").disabled = !(state.video && state.photo);
}

// ---- camera -------------------------------------------------------------------------------
async function startCamera() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    setText("hint", "This browser gives no camera here: the page needs https or localhost.");
    return;
  }
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: "user" },
      audio: false,
    });
  } catch (err) {
    setText("hint", `The camera could not be opened (${err.name}). Allow camera access and try again.`);
    return;
  }
  const preview = $("preview");
  preview.srcObject = state.stream;
  await preview.play().catch(() => {}); // autoplay is muted; play() only rejects if the element is replaced
  $("start-camera").disabled = true;
  setText("hint", "Place your face inside the oval.");
  state.hintTimer = setInterval(updateHint, 300);
  refreshButtons();
}

// Brightness inside the oval against the rest of the picture, from a 40x30 thumbnail: cheap enough
// to run three times a second. (No face-size estimate: browsers have no built-in face detector.)
const probe = document.createElement("canvas");
probe.width = 40;
probe.height = 30;
const probeCtx = probe.getContext("2d", { willReadFrequently: true });

function updateHint() {
  const preview = $("preview");
  if (preview.readyState < 2) return;
  probeCtx.drawImage(preview, 0, 0, probe.width, probe.height);
  const px = probeCtx.getImageData(0, 0, probe.width, probe.height).data;
  let inSum = 0, inSq = 0, inN = 0, outSum = 0, outN = 0;
  for (let y = 0; y < probe.height; y++) {
    for (let x = 0; x < probe.width; x++) {
      const i = (y * probe.width + x) * 4;
      const luma = 0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2];
      const dx = (x + 0.5) / probe.width - 0.5, dy = (y + 0.5) / probe.height - 0.46;
      if ((dx / 0.19) ** 2 + (dy / 0.34) ** 2 <= 1) {
        inSum += luma; inSq += luma * luma; inN++;
      } else {
        outSum += luma; outN++;
      }
    }
  }
  const mean = inSum / inN, spread = Math.sqrt(Math.max(inSq / inN - mean * mean, 0)), around = outSum / outN;
  let hint = "Good light. Keep your face inside the oval.";
  if (spread < 6) hint = "The picture is almost uniform: is the camera covered?";
  else if (mean < 60) hint = "More light, please: your face is too dark.";
  else if (around - mean > 60) hint = "Strong light behind you: turn towards a light or a window.";
  else if (mean > 215) hint = "Too bright: move away from the light a little.";
  if ($("hint").textContent !== hint) setText("hint", hint); // unchanged text is not re-announced
}

// ---- recording ----------------------------------------------------------------------------
function pickMimeType() {
  return MIME_TYPES.find((t) => window.MediaRecorder && MediaRecorder.isTypeSupported(t)) || "";
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function record() {
  if (!window.MediaRecorder) {
    setText("video-status", "This browser cannot record video (no MediaRecorder).");
    return;
  }
  $("record").disabled = true;
  $("start-camera").disabled = true;
  const countdown = $("countdown");
  for (let n = COUNTDOWN_S; n > 0; n--) {
    countdown.textContent = String(n);
    setText("video-status", `Recording starts in ${n}…`);
    await sleep(1000);
  }
  countdown.textContent = "";
  const mimeType = pickMimeType();
  const recorder = new MediaRecorder(state.stream, mimeType ? { mimeType } : undefined);
  const chunks = [];
  recorder.addEventListener("dataavailable", (e) => e.data.size && chunks.push(e.data));
  const stopped = new Promise((resolve) => recorder.addEventListener("stop", resolve));
  const stage = document.querySelector(".stage");
  stage.classList.add("recording");
  setText("video-status", "Recording… keep your face in the oval.");
  const progress = $("rec-progress");
  const started = performance.now();
  recorder.start();
  const ticker = setInterval(() => { progress.value = Math.min(performance.now() - started, RECORD_MS); }, 100);
  await sleep(RECORD_MS);
  recorder.stop();
  await stopped;
  clearInterval(ticker);
  progress.value = RECORD_MS;
  stage.classList.remove("recording");
  state.videoType = recorder.mimeType || mimeType || "video/webm";
  state.video = new Blob(chunks, { type: state.videoType });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  setText("video-status", `Recorded ${seconds} s (${state.videoType.split(";")[0]}, ${kb(state.video.size)}).`);
  refreshButtons();
}

// ---- photo --------------------------------------------------------------------------------
function usePhoto(blob, label) {
  if (state.photoUrl) URL.revokeObjectURL(state.photoUrl);
  state.photo = blob;
  state.photoUrl = URL.createObjectURL(blob);
  const img = $("photo-preview");
  img.src = state.photoUrl;
  img.hidden = false;
  setText("photo-status", `${label} (${kb(blob.size)}).`);
  refreshButtons();
}

function pickFile() {
  const file = $("photo-file").files[0];
  if (file) usePhoto(file, `Photo: ${file.name}`);
}

function snapshot() {
  const preview = $("preview");
  const canvas = document.createElement("canvas");
  canvas.width = preview.videoWidth;
  canvas.height = preview.videoHeight;
  canvas.getContext("2d").drawImage(preview, 0, 0);
  $("photo-file").value = ""; // the picker no longer names the photo in use
  canvas.toBlob((blob) => blob && usePhoto(blob, "Snapshot from the camera"), "image/jpeg", 0.92);
}

// ---- verify -------------------------------------------------------------------------------
async function verify() {
  const form = new FormData();
  const extension = state.videoType.includes("mp4") ? "mp4" : "webm";
  form.append("video_file", state.video, `selfie.${extension}`);
  form.append("image_file", state.photo, "photo");
  form.append("check_quality", $("check-quality").checked ? "true" : "false");
  $("verify").disabled = true;
  $("result").hidden = true;
  setText("busy", "Verifying…");
  let status = 0, body = null;
  try {
    const response = await fetch("demo/verify", { method: "POST", body: form });
    status = response.status;
    body = await response.json();
  } catch (err) {
    body = null;
  }
  setText("busy", "");
  refreshButtons();
  show(status, body);
}

function show(status, body) {
  const result = $("result");
  result.hidden = false;
  $("error").hidden = true;
  $("details").hidden = true;
  const verdict = $("verdict");
  verdict.className = "verdict";
  setText("r-request", body && body.request_id ? body.request_id : "none");
  if (!body || typeof body !== "object") {
    verdict.textContent = "No answer";
    showError("—", "The server could not be reached, or its answer was not JSON.", `HTTP status ${status || "none"}`);
  } else if (body.code !== 1000) {
    verdict.textContent = "Not verified";
    verdict.classList.add("bad");
    showError(String(body.code), MESSAGES[body.code] || "The request failed.", body.message || "");
  } else {
    showResult(body);
  }
  result.focus();
}

function showError(code, text, server) {
  $("error").hidden = false;
  $("error").dataset.code = code;
  setText("error-text", text);
  setText("error-code", code);
  setText("error-server", server);
}

function showResult(body) {
  const score = body.verification_score;
  const verdict = $("verdict");
  if (!body.passed) {
    verdict.textContent = `Liveness failed: ${LIVENESS[body.liveness_status] || body.liveness_status}`;
  } else if (score >= RECOMMENDED) {
    verdict.textContent = `Live person, and the same person as in the photo (score ${score.toFixed(2)} ≥ ${RECOMMENDED}).`;
  } else {
    verdict.textContent = `Live person, but probably not the person in the photo (score ${score.toFixed(2)} < ${RECOMMENDED}).`;
  }
  verdict.classList.add(body.passed && score >= RECOMMENDED ? "good" : "bad");
  $("details").hidden = false;
  setText("r-passed", String(body.passed));
  setText("r-status", body.liveness_status);
  setText("r-liveness", body.liveness_score.toFixed(4));
  setText("r-score", score === undefined ? "— (liveness failed)" : score.toFixed(4));
  setText("r-threshold", String(body.liveness_threshold));
  const cells = $("decisions").querySelectorAll("td");
  THRESHOLDS.forEach((t, i) => {
    const accepted = score !== undefined && score >= t;
    cells[i].textContent = score === undefined ? "—" : accepted ? "✓ accept" : "✗ reject";
    cells[i].classList.toggle("accept", accepted);
    cells[i].classList.toggle("reject", score !== undefined && !accepted);
  });
  image("r-frame", body.base64_image);
  image("r-face", body.base64_face_image);
  setText("r-timestamp", body.image_timestamp === undefined ? "—" : body.image_timestamp.toFixed(2));
  const rows = $("evidence");
  rows.replaceChildren();
  for (const e of body.evidence || []) {
    const tr = document.createElement("tr");
    const name = e.decisive === false ? `${e.name} (not counted on its own)` : e.name;
    for (const value of [name, e.live.toFixed(3), Number(e.value.toPrecision(4)).toString()]) {
      const td = document.createElement("td");
      td.textContent = value;
      tr.append(td);
    }
    rows.append(tr);
  }
}

function image(id, base64) {
  const img = $(id);
  img.closest("figure").hidden = !base64;
  if (base64) img.src = `data:image/jpeg;base64,${base64}`;
  else img.removeAttribute("src");
}

function kb(bytes) {
  return `${Math.round(bytes / 1024)} KB`;
}

// ---- wiring -------------------------------------------------------------------------------
$("start-camera").addEventListener("click", startCamera);
$("record").addEventListener("click", record);
$("snapshot").addEventListener("click", snapshot);
$("photo-file").addEventListener("change", pickFile);
$("verify").addEventListener("click", verify);
