"""Classify a clip with a running TorchServe and print the top-k glosses (`scripts.client.cli predict`).

    python -m scripts.client.predict ../shared/data/wlasl/pose/32162                    # OpenPose frame folder
    python -m scripts.client.predict sample.npy --model asl300 --top-k 10               # (55, 100) or (T, 55, 2) array
    python -m scripts.client.predict ../shared/data/wlasl/pose/32162 --transport grpc
    python -m scripts.client.predict clip.pose                                          # pose-format file
    python -m scripts.client.predict clip.mp4                         # video, to <model>_video on the video TorchServe
    .venv-video/bin/python -m scripts.client.predict clip.mp4 --extract-locally        # Holistic here, send keypoints
"""
from __future__ import annotations

import sys

from scripts.client import cli


def main(argv: list[str] | None = None) -> int:
    return cli.main(["predict", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
