"""Scripts and helpers: build archives, run TorchServe, predict."""
