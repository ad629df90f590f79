// The page: camera or upload -> landmarks (Holistic, in this browser) -> gateway -> top-5 glosses.
import { getLayout, getModels, predict, replayPoints } from "./api.js";
import { createLandmarker, needsCpuInference } from "./landmarks.js";
import { Recorder } from "./recorder.js";
import { draw, replay, toPoints } from "./skeleton.js";
import { readUpload } from "./uploads.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const TOP_K = 5;
const VIDEO_FPS = 15;
const state = { layout: null, landmarker: null, stream: null, recordMs: 0, replayAgain: null };

function setStatus(text) { $("status").textContent = text; }
function showError(message) { $("error").textContent = message; $("error").hidden = false; }
function clearError() { $("error").hidden = true; $("error").textContent = ""; }
const fmtMs = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);

// --- threshold and model picker -------------------------------------------------------------
const threshold = $("threshold");
threshold.value = params.get("threshold") ?? localStorage.getItem("threshold") ?? threshold.value;
threshold.addEventListener("change", () => localStorage.setItem("threshold", threshold.value));

async function loadModels() {
  const select = $("model");
  try {
    const models = await getModels();
    select.replaceChildren();
    for (const model of models) {
      select.append(new Option(`${model.name} (default, ${model.default})`, model.name));
      for (const version of model.versions) select.append(new Option(`${model.name} ${version}`, `${model.name}/${version}`));
    }
    if (!models.length) throw new Error("TorchServe serves no model: register one (make serve)");
    const wanted = params.get("model");
    if (wanted && [...select.options].some((o) => o.value === wanted)) select.value = wanted;
    document.body.dataset.models = "ready";
  } catch (err) {
    select.replaceChildren(new Option("no models", ""));
    showError(`Cannot list the models: ${err.message}`);
  }
}

// --- asking the model -------------------------------------------------------------------------
async function ask(body, info) {
  clearError();
  const target = $("model").value;
  if (!target) { showError("No model to ask: the server lists none (is TorchServe running?)"); return; }
  setStatus(`Asking ${target}…`);
  document.body.dataset.answer = "pending";
  const [result, points] = await Promise.allSettled([predict(target, body), replayPoints(body)]);
  if (result.status === "rejected" && result.reason.status === 422) {
    showNothing(result.reason.message, info); // the recording was read but holds no sign: feedback, not a failure
  } else if (result.status === "rejected") {
    showError(result.reason.message);
    setStatus("No answer.");
    document.body.dataset.answer = "error";
    return;
  } else {
    showAnswer(result.value, info);
  }
  if (points.status === "fulfilled") showReplay(points.value.frames, info.fps);
}

// A 422 from the server: too few frames with a hand, or nobody at all (handlers/keypoints.py).
function showNothing(message, info) {
  $("headline").textContent = "No sign to read";
  $("headline").classList.add("unsure");
  $("glosses").replaceChildren();
  showFacts(inputFacts(info));
  $("notice").textContent = `${message.replace(/ \(HTTP 422\)$/, "")}. Sign with both hands in view of the camera ` +
                            "and try again; the replay shows what the camera caught.";
  $("notice").hidden = false;
  $("answer").hidden = false;
  setStatus("No sign read.");
  document.body.dataset.answer = "nothing";
}

function inputFacts(info) {
  return [["Input", info.what], ["Landmarks in the browser", info.landmarkMs == null ? "none (keypoints uploaded)"
    : `${fmtMs(info.landmarkMs)} for ${info.frames} frames (${(info.landmarkMs / info.frames).toFixed(0)} ms per frame)`]];
}

function showFacts(facts) {
  $("facts").replaceChildren(...facts.flatMap(([term, value]) => [
    Object.assign(document.createElement("dt"), { textContent: term }),
    Object.assign(document.createElement("dd"), { textContent: value })]));
}

function showAnswer({ answer, roundTripMs, serverMs }, info) {
  const best = answer.top_k[0];
  const limit = Number(threshold.value);
  const noHands = info.handsSeen === false;
  const unsure = noHands || best.probability < limit;
  $("headline").textContent = !unsure ? best.gloss
    : noHands ? `Not sure: no hands seen (the body alone suggests "${best.gloss}")`
      : `Not sure: the best guess "${best.gloss}" has p = ${best.probability.toFixed(2)}, below ${limit}`;
  $("headline").classList.toggle("unsure", unsure);
  $("glosses").classList.toggle("unsure", unsure);
  $("glosses").replaceChildren(...answer.top_k.map((entry) => {
    const li = document.createElement("li");
    const name = Object.assign(document.createElement("span"), { className: "gloss", textContent: entry.gloss });
    const bar = Object.assign(document.createElement("span"), { className: "bar" });
    bar.setAttribute("role", "img");
    bar.setAttribute("aria-label", `probability ${(entry.probability * 100).toFixed(1)} percent`);
    bar.append(Object.assign(document.createElement("span"), { style: `width:${(entry.probability * 100).toFixed(1)}%` }));
    const p = Object.assign(document.createElement("span"), { className: "p", textContent: entry.probability.toFixed(3) });
    li.append(name, bar, p);
    return li;
  }));
  $("notice").hidden = info.handsSeen !== false;
  $("notice").textContent = "No hands seen: no frame of this recording shows a hand, so these glosses are guesses " +
                            "from the body alone. Sign with your hands in view of the camera.";
  showFacts([["Model", `${answer.model} ${answer.version}`], ...inputFacts(info),
    ["Server (TorchServe)", serverMs == null ? "unknown" : fmtMs(serverMs)], ["Round trip", fmtMs(roundTripMs)]]);
  $("answer").hidden = false;
  setStatus(unsure ? "Not sure." : `Understood: ${best.gloss}`);
  document.body.dataset.answer = unsure ? "unsure" : "sure";
}

function showReplay(frames, fps) {
  if (!frames.length) return;
  $("replay-box").hidden = false;
  state.replayAgain = replay($("replay"), state.layout, frames, fps || VIDEO_FPS);
}
$("replay-button").addEventListener("click", () => state.replayAgain && state.replayAgain());

// --- camera -------------------------------------------------------------------------------------
const video = $("video");
const overlay = $("overlay");
const recorder = new Recorder({
  onStart(manual) {
    $("record-button").setAttribute("aria-pressed", "true");
    $("record-button").textContent = "Stop";
    $("stage").classList.add("recording");
    state.recordMs = 0;
    setStatus(manual ? "Recording… (Space or Stop ends it)" : "Recording… (lower your hands or hold still to stop)");
  },
  onStop(frames, reason, lengthMs) {
    $("record-button").setAttribute("aria-pressed", "false");
    $("record-button").textContent = "Record";
    $("stage").classList.remove("recording");
    const seen = frames.filter((f) => f.pose || f.left_hand || f.right_hand);
    if (!seen.length) {
      showError(`No person seen in the ${frames.length} recorded frames (${reason}): step into the light, face the camera.`);
      setStatus("Nothing to send.");
      return;
    }
    const handsSeen = frames.some((f) => f.left_hand || f.right_hand);
    const body = { mediapipe_frames: frames, image_width: video.videoWidth, image_height: video.videoHeight, top_k: TOP_K };
    ask(body, { what: `camera, ${frames.length} frames in ${fmtMs(lengthMs)} (${reason})`, landmarkMs: state.recordMs,
                frames: frames.length, fps: Math.max(1, Math.round(frames.length / (lengthMs / 1000))), handsSeen });
  },
});
recorder.auto = $("auto").checked;
$("auto").addEventListener("change", () => { recorder.auto = $("auto").checked; });
$("mirror").addEventListener("change", () => $("stage").classList.toggle("mirrored", $("mirror").checked));
$("stage").classList.toggle("mirrored", $("mirror").checked);

async function tick() {
  if (!state.stream) return;
  if (video.readyState >= 2 && state.landmarker) {
    const found = await state.landmarker.detect(video);
    if (found) {
      if (recorder.recording) state.recordMs += found.ms;
      drawOverlay(found.frame);
      recorder.push(found.frame);
      const hands = [found.frame.left_hand && "left", found.frame.right_hand && "right"].filter(Boolean);
      $("hands-seen").textContent = hands.length ? hands.join(" + ") : "none";
      $("landmark-ms").textContent = `${found.ms.toFixed(0)} ms/frame`;
      document.body.dataset.landmarkFrames = String(state.landmarker.stats.frames);
    }
  }
  $("frame-count").textContent = String(recorder.frames.length);
  $("rec-length").textContent = `${(recorder.lengthMs / 1000).toFixed(1)} s`;
  requestAnimationFrame(tick);
}

function drawOverlay(frame) {
  overlay.width = video.videoWidth; overlay.height = video.videoHeight;
  const ctx = overlay.getContext("2d");
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  draw(ctx, state.layout, toPoints(state.layout, frame), overlay.width, overlay.height);
}

async function startCamera() {
  clearError();
  if (!state.landmarker) { showError("MediaPipe Holistic is still loading: try again in a moment."); return; }
  if (state.stream) { stopCamera(); return; }
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (err) {
    showError(`The camera is not available (${err.name}: ${err.message}). Allow camera access, or upload a clip.`);
    return;
  }
  video.srcObject = state.stream;
  await video.play();
  state.landmarker.reset();
  $("camera-button").textContent = "Stop camera";
  $("record-button").disabled = false;
  setStatus("Camera on: raise a hand to start.");
  requestAnimationFrame(tick);
}

function stopCamera() {
  recorder.stop("camera stopped");
  for (const track of state.stream.getTracks()) track.stop();
  state.stream = null;
  video.srcObject = null;
  $("camera-button").textContent = "Start camera";
  $("record-button").disabled = true;
}

$("camera-button").addEventListener("click", startCamera);
$("record-button").addEventListener("click", () => recorder.toggle());
// Space starts and stops a recording wherever the focus is, except in form fields (there it keeps its
// meaning); on a button, Enter still presses it.
const spaceIsRecord = (event) => event.code === "Space" && state.stream &&
  !event.target.closest("select, textarea, input:not([type=button])");
document.addEventListener("keydown", (event) => {
  if (!spaceIsRecord(event)) return;
  event.preventDefault();
  if (!event.repeat) recorder.toggle();
});
document.addEventListener("keyup", (event) => { if (spaceIsRecord(event)) event.preventDefault(); });

// --- uploads ------------------------------------------------------------------------------------
$("upload").addEventListener("change", async (event) => {
  const files = event.target.files;
  if (!files.length) return;
  clearError();
  if (state.stream) stopCamera(); // Holistic follows one source at a time (its tracking carries over frames)
  setStatus(`Reading ${files.length === 1 ? files[0].name : `${files.length} files`}…`);
  try {
    const upload = await readUpload(files, {
      landmarker: state.landmarker, fps: VIDEO_FPS,
      onProgress: (done, total) => setStatus(`Finding landmarks: frame ${done} of ${total}…`),
    });
    const body = { ...upload.body, top_k: TOP_K };
    const handsSeen = body.mediapipe_frames ? body.mediapipe_frames.some((f) => f && (f.left_hand || f.right_hand)) : undefined;
    await ask(body, { what: upload.what, landmarkMs: upload.landmarkMs, frames: upload.frames, fps: upload.fps, handsSeen });
  } catch (err) {
    showError(err.message);
    setStatus("The upload was not sent.");
    document.body.dataset.answer = "error";
  } finally {
    event.target.value = "";
  }
});

// --- start ----------------------------------------------------------------------------------------
async function init() {
  try {
    state.layout = await getLayout();
  } catch (err) {
    showError(`The gateway does not answer: ${err.message}`);
    return;
  }
  await loadModels();
  const cpu = params.has("cpu") ? params.get("cpu") !== "0" : needsCpuInference();
  setStatus(`Loading MediaPipe Holistic (${cpu ? "CPU" : "GPU"})… uploads of keypoints work already.`);
  try {
    state.landmarker = await createLandmarker({ cpu });
    document.body.dataset.holistic = "ready";
    setStatus("Ready: start the camera, or upload a clip.");
  } catch (err) {
    showError(`MediaPipe Holistic did not start: ${err.message || err}`);
  }
}
init();
