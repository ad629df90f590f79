"""Benchmark the video path and its isolation from keypoint traffic (both TorchServes must be running:
`make serve` and `make serve-video`).

    .venv/bin/python -m scripts.bench.video clip.mp4 [--requests 40]
Prints: seconds per video frame through asl100_video; keypoint latency (asl100, clip 32162) with the
video TorchServe idle, then while videos are being processed back to back.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

import requests

from scripts.bench.loadgen import percentile
from scripts.client.core import (BASE_CONFIG, DEFAULT_RUN_DIR, VIDEO_CONFIG, VIDEO_RUN_DIR, auth_header, load_input,
                                 read_properties, read_token)
from scripts.wlasl_data import reference_clip


def keypoint_latencies(url: str, token: str, body: dict, count: int) -> list[float]:
    """Milliseconds for `count` sequential keypoint requests."""
    latencies = []
    for _ in range(count):
        start = time.perf_counter()
        answer = requests.post(url, json=body, headers=auth_header(token), timeout=60)
        answer.raise_for_status()
        latencies.append(1000 * (time.perf_counter() - start))
    return latencies


def summary(latencies: list[float]) -> str:
    return f"p50 {percentile(latencies, 50):.1f} ms, p95 {percentile(latencies, 95):.1f} ms, n={len(latencies)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("--requests", type=int, default=40, help="keypoint requests per phase (bounded)")
    args = parser.parse_args(argv)
    data = args.video.read_bytes()
    keypoint_url = read_properties(BASE_CONFIG)["inference_address"] + "/predictions/asl100"
    video_url = read_properties(VIDEO_CONFIG)["inference_address"] + "/predictions/asl100_video"
    keypoint_token = read_token(DEFAULT_RUN_DIR / "key_file.json")
    video_headers = {**auth_header(read_token(VIDEO_RUN_DIR / "key_file.json")), "Content-Type": "video/mp4"}
    body = load_input(reference_clip())

    start = time.perf_counter()
    answer = requests.post(video_url, data=data, headers=video_headers, timeout=600)
    answer.raise_for_status()
    elapsed = time.perf_counter() - start
    import av
    with av.open(str(args.video)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    print(f"video: {frames} frames in {elapsed:.2f} s = {1000 * elapsed / frames:.1f} ms per frame "
          f"(decode + Holistic + TGCN, one worker)")

    idle = keypoint_latencies(keypoint_url, keypoint_token, body, args.requests)
    print(f"keypoints, video TorchServe idle:       {summary(idle)}")
    stop = threading.Event()
    videos_done = []

    def videos() -> None:
        while not stop.is_set() and len(videos_done) < 20:
            requests.post(video_url, data=data, headers=video_headers, timeout=600).raise_for_status()
            videos_done.append(1)

    worker = threading.Thread(target=videos)
    worker.start()
    time.sleep(1.0)
    busy = keypoint_latencies(keypoint_url, keypoint_token, body, args.requests)
    stop.set()
    worker.join()
    print(f"keypoints, while videos are processed:  {summary(busy)}  "
          f"(p50 ratio {statistics.median(busy) / statistics.median(idle):.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
