"""Running TorchServe: start/stop/status of an instance, version lifecycle, the handler in-process."""
