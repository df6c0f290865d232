"""The one error type adapters show to users: what happened, and what to do next."""

from __future__ import annotations


class WorkerError(Exception):
    """``code`` is short and stable ("unavailable", "no_face", …); ``message`` says what
    happened and ``hint`` the next step, both for the user."""

    def __init__(self, code: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n{self.hint}" if self.hint else self.message
