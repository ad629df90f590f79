"""Building model archives: the .mar build, ONNX export and parity gate, Hugging Face checkpoints, KServe layout."""
