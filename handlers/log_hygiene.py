"""Worker log hygiene: a rejected request costs one short log line, never a traceback.

TorchServe's worker (ts/protocol/otf_message_handler.py) logs a WARNING with a full traceback,
about 15 lines, whenever a body sent as application/json is not valid JSON, before the handler
sees it; the frontend writes each of those lines to model_log. The handler answers such a body
with 400 "body is not valid JSON" and logs its own one line per batch with rejections, so that
warning is dropped here. Installed on the worker's root logger by TGCNHandler.initialize.
"""
from __future__ import annotations

import logging

# (module, message start) of the worker's own warnings about a request body the handler refuses anyway.
DROPPED = (("otf_message_handler", "Failed json decoding of input data"),
           ("otf_message_handler", "Failed utf-8 decoding of input data"))


def keep_record(record: logging.LogRecord) -> bool:
    """False for the worker's per-request body-decoding warnings (with their tracebacks); True otherwise."""
    message = str(record.msg)
    return not any(record.module == module and message.startswith(start) for module, start in DROPPED)


def install(logger: logging.Logger | None = None) -> None:
    """Add keep_record to `logger` (the root logger, which the worker's module-level logging.warning uses)."""
    target = logger or logging.getLogger()
    if keep_record not in target.filters:
        target.addFilter(keep_record)
