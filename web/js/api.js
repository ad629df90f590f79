// Calls to the gateway (same origin only). Every failure becomes an Error with a readable message.

export class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

async function call(path, options = {}) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (err) {
    throw new ApiError(`The gateway did not answer (${err.message}). Is "make web" still running?`, 0);
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON: reported below */ }
  if (!response.ok) {
    const message = (data && data.error) || text.slice(0, 300) || response.statusText;
    throw new ApiError(`${message} (HTTP ${response.status})`, response.status);
  }
  if (data === null) throw new ApiError(`the gateway answered ${path} with something that is not JSON`, response.status);
  return { data, response };
}

export async function getLayout() { return (await call("/api/layout")).data; }
export async function getModels() { return (await call("/api/models")).data.models; }

// POST a prediction body to /api/predict/{model}[/{version}]; the answer plus the server's time.
export async function predict(target, body) {
  const started = performance.now();
  const { data, response } = await call(`/api/predict/${target}`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  return { answer: data, roundTripMs: performance.now() - started, serverMs: serverTiming(response, "torchserve") };
}

// The 55 points of the 256-pixel frame that the model sees for `body` (the handler's own parsers).
export async function replayPoints(body) {
  const { data } = await call("/api/points", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  return data;
}

function serverTiming(response, name) {
  const header = response.headers.get("Server-Timing") || "";
  const entry = header.split(",").map((s) => s.trim()).find((s) => s.startsWith(`${name};`));
  const match = entry && entry.match(/dur=([0-9.]+)/);
  return match ? Number(match[1]) : null;
}
