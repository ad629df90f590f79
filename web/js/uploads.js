// Uploaded files -> one prediction request body. Every refusal is an Error whose message names the file.
import { videoToFrames } from "./landmarks.js";

const VIDEO = /\.(mp4|webm|mov|m4v|avi|mkv|ogv)$/i;
const MAX_FILE_BYTES = 200 * 1024 * 1024;
const MAX_ZIP_ENTRIES = 10000;
const MAX_UNZIPPED_BYTES = 256 * 1024 * 1024;

const isVideo = (file) => file.type.startsWith("video/") || VIDEO.test(file.name);
const byName = (a, b) => a.name.localeCompare(b.name, "en", { numeric: true });

function parseJson(text, name) {
  try { return JSON.parse(text); } catch (err) { throw new Error(`${name} is not valid JSON (${err.message})`); }
}

function base64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

// The entries of a zip file: [{name, read(): Promise<Uint8Array>}], via the browser's own inflate.
export async function unzip(bytes, zipName) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--) {
    if (view.getUint32(i, true) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) throw new Error(`${zipName} is not a zip file (no end-of-archive record)`);
  const count = view.getUint16(eocd + 10, true);
  let offset = view.getUint32(eocd + 16, true);
  if (count > MAX_ZIP_ENTRIES) throw new Error(`${zipName} holds ${count} files; at most ${MAX_ZIP_ENTRIES}`);
  const entries = [];
  let total = 0;
  const decoder = new TextDecoder();
  for (let n = 0; n < count; n++) {
    if (offset + 46 > bytes.length || view.getUint32(offset, true) !== 0x02014b50) {
      throw new Error(`${zipName} is damaged (bad central directory entry ${n})`);
    }
    const method = view.getUint16(offset + 10, true);
    const packed = view.getUint32(offset + 20, true);
    const size = view.getUint32(offset + 24, true);
    const nameLength = view.getUint16(offset + 28, true);
    const extra = view.getUint16(offset + 30, true) + view.getUint16(offset + 32, true);
    const local = view.getUint32(offset + 42, true);
    const name = decoder.decode(bytes.subarray(offset + 46, offset + 46 + nameLength));
    offset += 46 + nameLength + extra;
    if (name.endsWith("/")) continue;
    total += size;
    if (total > MAX_UNZIPPED_BYTES) throw new Error(`${zipName} unpacks to more than ${MAX_UNZIPPED_BYTES >> 20} MiB`);
    if (method !== 0 && method !== 8) throw new Error(`${zipName}: ${name} uses an unsupported compression (method ${method})`);
    entries.push({
      name,
      async read() {
        if (local + 30 > bytes.length || view.getUint32(local, true) !== 0x04034b50) {
          throw new Error(`${zipName} is damaged (bad local header of ${name})`);
        }
        const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
        const data = bytes.subarray(start, start + packed);
        if (data.length !== packed) throw new Error(`${zipName} is truncated (${name})`);
        if (method === 0) return data;
        try {
          const stream = new Blob([data]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
          return new Uint8Array(await new Response(stream).arrayBuffer());
        } catch (err) {
          throw new Error(`${zipName}: ${name} cannot be unpacked (${err.message})`);
        }
      },
    });
  }
  return entries;
}

function openposeBody(named, source) {
  const frames = [];
  for (const { name, data } of named) {
    if (!data || typeof data !== "object" || !Array.isArray(data.people)) {
      throw new Error(`${name} (in ${source}) is not an OpenPose frame: it has no "people" list`);
    }
    frames.push(data);
  }
  return { openpose_frames: frames };
}

function jsonBody(data, name) {
  if (Array.isArray(data) && data.length && data.every((f) => f && typeof f === "object" && !Array.isArray(f))) {
    if (data.some((f) => "pose" in f || "left_hand" in f || "right_hand" in f)) return { mediapipe_frames: data };
  }
  if (data && typeof data === "object" && !Array.isArray(data)) {
    if (Array.isArray(data.people)) return { openpose_frames: [data] };
    for (const kind of ["mediapipe_frames", "openpose_frames"]) {
      if (kind in data) {
        const body = { [kind]: data[kind] };
        for (const key of ["image_width", "image_height"]) if (key in data) body[key] = data[key];
        return body;
      }
    }
  }
  throw new Error(`${name} is neither OpenPose frames ("people"), nor a mediapipe_frames JSON ` +
                  `({"mediapipe_frames": [{"pose", "left_hand", "right_hand"}, ...]})`);
}

// files (a FileList) -> {body, what, landmarkMs?, fps}; `landmarker` runs Holistic on a video.
export async function readUpload(files, { landmarker, fps, onProgress }) {
  files = Array.from(files).sort(byName);
  if (!files.length) throw new Error("no file chosen");
  const big = files.find((f) => f.size > MAX_FILE_BYTES);
  if (big) throw new Error(`${big.name} is ${(big.size / 2 ** 20).toFixed(0)} MiB; at most ${MAX_FILE_BYTES >> 20} MiB`);
  const empty = files.find((f) => f.size === 0);
  if (empty) throw new Error(`${empty.name} is empty`);
  const one = files.length === 1 ? files[0] : null;
  if (files.some(isVideo)) {
    if (!one) throw new Error("upload one video at a time (not together with other files)");
    if (!landmarker) throw new Error("MediaPipe Holistic is not loaded yet: wait a moment and try again");
    const video = await videoToFrames(landmarker, one, fps, onProgress);
    return { body: { mediapipe_frames: video.frames, image_width: video.width, image_height: video.height },
             what: `${one.name}: ${video.frames.length} frames, landmarks found in this browser`,
             landmarkMs: video.landmarkMs, frames: video.frames.length, fps };
  }
  if (one && /\.pose$/i.test(one.name)) {
    return { body: { pose_file: base64(new Uint8Array(await one.arrayBuffer())) }, what: `${one.name} (.pose)`, fps: 25 };
  }
  if (one && /\.zip$/i.test(one.name)) {
    const entries = (await unzip(new Uint8Array(await one.arrayBuffer()), one.name))
      .filter((e) => /\.json$/i.test(e.name)).sort(byName);
    if (!entries.length) throw new Error(`${one.name} holds no .json files (expected OpenPose *_keypoints.json frames)`);
    const named = [];
    for (const entry of entries) named.push({ name: entry.name, data: parseJson(new TextDecoder().decode(await entry.read()), entry.name) });
    return { body: openposeBody(named, one.name), what: `${one.name}: ${named.length} OpenPose frames`, fps: 25 };
  }
  const odd = files.find((f) => !/\.json$/i.test(f.name));
  if (odd) throw new Error(`${odd.name}: expected a video, .json, .zip or .pose file`);
  const named = [];
  for (const file of files) named.push({ name: file.name, data: parseJson(await file.text(), file.name) });
  if (named.length === 1) return { body: jsonBody(named[0].data, named[0].name), what: named[0].name, fps: 25 };
  return { body: openposeBody(named, `${files.length} files`), what: `${files.length} OpenPose frames`, fps: 25 };
}
