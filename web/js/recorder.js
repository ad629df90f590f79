// When to record: a hand rising into view starts a recording; both hands out of view for a moment,
// hands held still for a pause, or the length limit stop it. The button and Space start/stop it by hand.

export const RULES = { dropMs: 700, pauseMs: 1500, maxMs: 8000, still: 0.02 };

const handsIn = (frame) => Boolean(frame.left_hand || frame.right_hand);

function handCentre(frame) {
  const wrists = [frame.left_hand, frame.right_hand].filter(Boolean).map((h) => h[0]);
  if (!wrists.length) return null;
  return [wrists.reduce((s, p) => s + p.x, 0) / wrists.length, wrists.reduce((s, p) => s + p.y, 0) / wrists.length];
}

export class Recorder {
  constructor({ onStart, onStop, rules = RULES, now = () => performance.now() }) {
    Object.assign(this, { onStart, onStop, rules, now });
    this.recording = false;
    this.auto = true;
    this.armed = true; // an automatic start needs the hands to have been out of view since the last stop
    this.frames = [];
  }

  get lengthMs() { return this.recording ? this.now() - this.startedAt : this.lastLengthMs || 0; }

  start(manual) {
    Object.assign(this, { recording: true, manual, frames: [], startedAt: this.now() });
    this.lastHandAt = this.startedAt; this.lastMoveAt = this.startedAt; this.anchor = null;
    this.onStart(manual);
  }

  stop(reason) {
    if (!this.recording) return;
    this.recording = false; this.armed = false;
    this.lastLengthMs = this.now() - this.startedAt;
    let frames = this.frames;
    const lastHand = frames.map(handsIn).lastIndexOf(true);
    if (lastHand >= 0) frames = frames.slice(0, lastHand + 1); // drop the frames after the hands went down
    this.onStop(frames, reason, this.lastLengthMs);
  }

  toggle() { if (this.recording) this.stop("stopped by hand"); else this.start(true); }

  // One processed camera frame.
  push(frame) {
    const now = this.now();
    const hands = handsIn(frame);
    if (!this.recording) {
      if (!hands) this.armed = true;
      else if (this.auto && this.armed) this.start(false);
      if (!this.recording) return;
    }
    this.frames.push(frame);
    if (hands) {
      this.lastHandAt = now;
      const centre = handCentre(frame);
      if (!this.anchor || Math.hypot(centre[0] - this.anchor[0], centre[1] - this.anchor[1]) > this.rules.still) {
        this.anchor = centre; this.lastMoveAt = now;
      }
    }
    if (now - this.startedAt > this.rules.maxMs) this.stop(`reached ${this.rules.maxMs / 1000} s`);
    else if (!this.manual && now - this.lastHandAt > this.rules.dropMs) this.stop("hands out of view");
    else if (!this.manual && now - this.lastMoveAt > this.rules.pauseMs) this.stop("pause");
  }
}
