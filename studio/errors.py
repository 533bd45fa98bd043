"""Domain errors that carry MLflow's error codes; the API layer turns them into MLflow's error envelope."""

from __future__ import annotations

# mlflow.exceptions.ERROR_CODE_TO_HTTP_STATUS, restated so that the domain does not import the client library.
HTTP_STATUS = {
    "INVALID_PARAMETER_VALUE": 400,
    "BAD_REQUEST": 400,
    "RESOURCE_ALREADY_EXISTS": 400,
    "INVALID_STATE": 500,
    "UNAUTHENTICATED": 401,
    "CUSTOMER_UNAUTHORIZED": 401,
    "PERMISSION_DENIED": 403,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "NOT_FOUND": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "ABORTED": 409,
    "RESOURCE_CONFLICT": 409,
    "ALREADY_EXISTS": 409,
    "REQUEST_ENTITY_TOO_LARGE": 413,  # Studio's own: MLflow has no code for a body over the size limit
    "REQUEST_LIMIT_EXCEEDED": 429,
    "RESOURCE_EXHAUSTED": 429,
    "INTERNAL_ERROR": 500,
    "DATA_LOSS": 500,
    "NOT_IMPLEMENTED": 501,
    "TEMPORARILY_UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}


class StudioError(Exception):
    """An error a client can act on, with MLflow's ``error_code`` and the HTTP status MLflow gives it."""

    def __init__(self, message: str, error_code: str = "INVALID_PARAMETER_VALUE") -> None:
        super().__init__(message)
        self.message = message
        self.error_code = error_code

    @property
    def status(self) -> int:
        return HTTP_STATUS.get(self.error_code, 500)


def invalid(message: str) -> StudioError:
    """400 INVALID_PARAMETER_VALUE."""
    return StudioError(message, "INVALID_PARAMETER_VALUE")


def not_found(message: str) -> StudioError:
    """404 RESOURCE_DOES_NOT_EXIST."""
    return StudioError(message, "RESOURCE_DOES_NOT_EXIST")


def already_exists(message: str) -> StudioError:
    """400 RESOURCE_ALREADY_EXISTS."""
    return StudioError(message, "RESOURCE_ALREADY_EXISTS")
