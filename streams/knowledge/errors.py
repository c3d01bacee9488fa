"""How a knowledge query can fail, as callers (the console, the API) report it."""


class KnowledgeError(Exception):
    """A query that could not be answered: `status` is the HTTP status for the API."""

    def __init__(self, message: str, *, status: int, code: str, field: str = ""):
        super().__init__(message)
        self.status = status
        self.code = code
        self.field = field
