"""TorchServe handler for the video archives (<variant>_video.mar): video in, top-k glosses out.

The same model and responses as tgcn_handler.TGCNHandler; preprocess first turns a video into
keypoints with MediaPipe Holistic (handlers/video.py). Keypoint bodies are still accepted. Runs on
the video TorchServe started from .venv-video (README "Video"), so keypoint traffic never waits
behind a video.
"""
from __future__ import annotations

from typing import Any

from handlers.payload import Decoded
from handlers.tgcn_handler import TGCNHandler
from handlers.video import EXTRACTORS, VideoLimits, decode_video_request, is_video_request


class TGCNVideoHandler(TGCNHandler):
    """TGCNHandler whose preprocess also accepts videos."""

    def initialize(self, context: Any) -> None:
        """Load the model as TGCNHandler does, then the video limits and the Holistic extractor."""
        super().initialize(context)
        settings = (context.model_yaml_config or {}).get("handler") or {}
        self.video_limits = VideoLimits(max_frames=int(settings.get("video_max_frames", VideoLimits.max_frames)),
                                        max_side=int(settings.get("video_max_side", VideoLimits.max_side)),
                                        extractor=str(settings.get("video_extractor", VideoLimits.extractor)),
                                        stride=int(settings.get("video_frame_stride", VideoLimits.stride)))
        if self.video_limits.stride < 1:
            raise RuntimeError(f"handler.video_frame_stride must be at least 1, got {self.video_limits.stride}")
        if self.video_limits.extractor not in EXTRACTORS:
            raise RuntimeError(f"handler.video_extractor is {self.video_limits.extractor!r}; expected one of {', '.join(EXTRACTORS)}")
        self.extractor = EXTRACTORS[self.video_limits.extractor]()

    def decode(self, body: Any, content_type: str | None) -> Decoded:
        """A video request -> keypoints via Holistic -> Decoded; any other body as TGCNHandler decodes it."""
        if is_video_request(body, content_type):
            return decode_video_request(body, content_type, self.limits, self.video_limits, self.extractor,
                                        self.framing)
        return super().decode(body, content_type)
