// The 55 points "as the model will see them", from the layout the gateway serves (GET /api/layout,
// generated from handlers/mediapipe_map.py): no second copy of the mapping lives here.

function inside(layout, point) {
  const [low, high] = layout.inside;
  return point && point.x >= low && point.x <= high && point.y >= low && point.y <= high ? [point.x, point.y] : null;
}

// One Holistic frame {pose, left_hand, right_hand} -> 55 entries [x, y] in [0, 1] of the image, or null.
export function toPoints(layout, frame) {
  const points = new Array(layout.num_points).fill(null);
  for (const part of layout.parts) {
    const source = frame[part.from];
    if (!source) continue;
    for (let i = 0; i < part.count; i++) {
      if (part.from === "pose") {
        const spec = layout.body_sources[i];
        const picks = (Array.isArray(spec) ? spec : [spec]).map((k) => inside(layout, source[k])).filter(Boolean);
        if (picks.length) {
          points[part.start + i] = [picks.reduce((s, p) => s + p[0], 0) / picks.length,
                                    picks.reduce((s, p) => s + p[1], 0) / picks.length];
        }
      } else {
        points[part.start + i] = inside(layout, source[i]);
      }
    }
  }
  return points;
}

const COLOURS = { body: "#f0c83c", left_hand: "#50c878", right_hand: "#5a96fa" };

function partOf(layout, index) {
  return layout.parts.find((p) => index >= p.start && index < p.start + p.count).name;
}

// Draw 55 points (each [x, y] in the units of scaleX/scaleY, or null) onto a 2D context.
export function draw(ctx, layout, points, scaleX, scaleY, offsetX = 0, offsetY = 0) {
  const at = (p) => [offsetX + p[0] * scaleX, offsetY + p[1] * scaleY];
  ctx.lineWidth = Math.max(2, ctx.canvas.width / 240);
  for (const [a, b] of layout.edges) {
    if (!points[a] || !points[b]) continue;
    ctx.strokeStyle = COLOURS[partOf(layout, b)];
    ctx.beginPath(); ctx.moveTo(...at(points[a])); ctx.lineTo(...at(points[b])); ctx.stroke();
  }
  ctx.fillStyle = "#ffffff";
  const r = Math.max(2, ctx.canvas.width / 200);
  for (const p of points) {
    if (!p) continue;
    const [x, y] = at(p);
    ctx.beginPath(); ctx.arc(x, y, r, 0, 2 * Math.PI); ctx.fill();
  }
}

const timers = new Map(); // canvas -> the interval of the replay playing on it

// Replay (T, 55, 2) pixel points of the layout's square frame on `canvas` (replacing any replay
// playing there); (0, 0) is missing. Returns a function that plays it again.
export function replay(canvas, layout, frames, fps) {
  const ctx = canvas.getContext("2d");
  const scale = canvas.width / layout.frame_size;
  let index = 0;
  const halt = () => { clearInterval(timers.get(canvas)); timers.delete(canvas); };
  const show = () => {
    ctx.fillStyle = "#14141c"; ctx.fillRect(0, 0, canvas.width, canvas.height);
    const points = frames[index].map((p) => (p[0] === 0 && p[1] === 0 ? null : p));
    draw(ctx, layout, points, scale, scale);
    index += 1;
    if (index >= frames.length) halt();
  };
  const play = () => {
    halt();
    index = 0;
    show();
    if (index < frames.length) timers.set(canvas, setInterval(show, 1000 / fps));
  };
  play();
  return play;
}
