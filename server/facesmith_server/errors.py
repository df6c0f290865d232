"""Domain errors of the server. The gRPC servicer maps each to one status code (servicer.py)."""


class FacesmithError(Exception):
    """Base of every error the server reports to a client."""


class InvalidInput(FacesmithError):
    """The request is malformed: bad image, wrong size, unknown edit, strength out of range."""


class PackError(FacesmithError):
    """The model pack is missing, incomplete or does not match its manifest."""


class CheckpointError(PackError):
    """A weights file is not in the layout it claims (e.g. not a rosinality StyleGAN2 file)."""


class Busy(FacesmithError):
    """The work queue is full; try again in about ``retry_after_s`` seconds."""

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Cancelled(FacesmithError):
    """The client went away or asked to stop; the work was abandoned."""


class UnknownHandle(FacesmithError):
    """A latent handle is not (or no longer) in the cache."""
