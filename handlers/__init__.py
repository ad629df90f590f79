"""TorchServe handler for the WLASL Pose-TGCN sign recognizer and the pure modules it uses."""
