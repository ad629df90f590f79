// MediaPipe Holistic in the browser, from this origin's /vendor/holistic/ (npm ci in web/).
// Landmarks are taken from the unmirrored image (selfieMode off): Holistic's left/right hands are the
// person's, as the model expects; only the preview is mirrored, by CSS.

const DIGITS = 1e5;
const round = (v) => Math.round(v * DIGITS) / DIGITS;

function landmarks(list, visibility) {
  if (!list || !list.length) return null;
  return list.map((p) => (visibility ? { x: round(p.x), y: round(p.y), z: round(p.z), visibility: round(p.visibility ?? 0) }
                                     : { x: round(p.x), y: round(p.y), z: round(p.z) }));
}

// True where WebGL is missing or software (SwiftShader): Holistic's GPU path then fails or crawls.
export function needsCpuInference() {
  const gl = document.createElement("canvas").getContext("webgl2");
  if (!gl) return true;
  const info = gl.getExtension("WEBGL_debug_renderer_info");
  const renderer = info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : "";
  return /swiftshader|llvmpipe|software/i.test(renderer);
}

export async function createLandmarker({ cpu }) {
  if (typeof window.Holistic !== "function") {
    throw new Error("MediaPipe Holistic did not load from /vendor/holistic/ (run `npm ci` in web/, or `make web`)");
  }
  const holistic = new window.Holistic({ locateFile: (file) => `/vendor/holistic/${file}` });
  holistic.setOptions({
    modelComplexity: 1, smoothLandmarks: true, enableSegmentation: false, refineFaceLandmarks: false,
    selfieMode: false, minDetectionConfidence: 0.5, minTrackingConfidence: 0.5, useCpuInference: cpu,
  });
  let pending = null;
  holistic.onResults((results) => { if (pending) { pending(results); pending = null; } });
  await holistic.initialize();
  let busy = false;
  const stats = { frames: 0, totalMs: 0 };
  return {
    cpu,
    stats,
    reset() { holistic.reset(); },
    // One image (video element, canvas) -> {frame: {pose, left_hand, right_hand}, ms}; null while busy.
    async detect(image) {
      if (busy) return null;
      busy = true;
      const started = performance.now();
      try {
        const results = await new Promise((resolve, reject) => {
          pending = resolve;
          holistic.send({ image }).catch(reject);
        });
        const ms = performance.now() - started;
        stats.frames += 1; stats.totalMs += ms;
        return {
          ms,
          frame: {
            pose: landmarks(results.poseLandmarks, true),
            left_hand: landmarks(results.leftHandLandmarks, false),
            right_hand: landmarks(results.rightHandLandmarks, false),
          },
        };
      } finally {
        busy = false;
      }
    },
  };
}

const MAX_VIDEO_S = 30;

// A video file -> Holistic frames at `fps`, found here in the browser; its size for image_width/height.
export async function videoToFrames(landmarker, file, fps, onProgress) {
  const url = URL.createObjectURL(file);
  const video = document.createElement("video");
  video.muted = true; video.preload = "auto"; video.playsInline = true;
  try {
    await new Promise((resolve, reject) => {
      video.onloadeddata = resolve;
      video.onerror = () => reject(new Error(`${file.name}: this browser cannot decode the video (try MP4/H.264 or WebM)`));
      video.src = url;
    });
    if (!video.videoWidth || !isFinite(video.duration) || video.duration <= 0) {
      throw new Error(`${file.name}: the video has no frames this browser can read`);
    }
    if (video.duration > MAX_VIDEO_S) {
      throw new Error(`${file.name} is ${video.duration.toFixed(1)} s long; one sign fits in ${MAX_VIDEO_S} s: trim it`);
    }
    landmarker.reset();
    const frames = [];
    let ms = 0;
    for (let t = 0; t < video.duration; t += 1 / fps) {
      await new Promise((resolve) => { video.onseeked = resolve; video.currentTime = t; });
      const found = await landmarker.detect(video);
      if (!found) throw new Error("MediaPipe Holistic is busy with another source: try again");
      frames.push(found.frame);
      ms += found.ms;
      onProgress(frames.length, Math.ceil(video.duration * fps));
    }
    return { frames, width: video.videoWidth, height: video.videoHeight, landmarkMs: ms };
  } finally {
    URL.revokeObjectURL(url);
  }
}
