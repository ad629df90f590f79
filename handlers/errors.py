"""The one error a request can cause: InputError carries the HTTP status to answer with."""
from __future__ import annotations

MAX_MESSAGE = 300


class InputError(ValueError):
    """A request payload the model cannot use; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        # The message becomes the HTTP reason phrase: one line of ASCII, bounded in length.
        message = "".join(ch if " " <= ch <= "~" else ascii(ch)[1:-1] for ch in message)
        if len(message) > MAX_MESSAGE:
            message = message[:MAX_MESSAGE - 3] + "..."
        super().__init__(message)
        self.status = status
