"""The browser page's gateway: serves web/ and forwards /api calls to TorchServe, keeping its keys
on the server. `python -m scripts.gateway start|stop|status|serve` (docs/gateway.md)."""
