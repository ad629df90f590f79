"""Tools around the model: evaluation on WLASL splits, keypoint extraction, skeleton rendering, manifest and GPU checks."""
