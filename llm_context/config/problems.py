"""A validation failure inside one profile field (`Problem`, carrying the field's path), and
the error a caller makes of it once it knows the file and profile (`config_error`)."""

from __future__ import annotations

from ..errors import LLMConfigError
from ..shown import shown

__all__ = ["Problem", "config_error"]


class Problem(Exception):
    """A validation failure inside one field; the caller adds file and profile."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def under(self, prefix: str) -> Problem:
        sep = "" if not self.path or self.path.startswith("[") else "."
        return Problem(self.message, f"{prefix}{sep}{self.path}" if self.path else prefix)


def config_error(origin: str, profile: str | None, problem: Problem) -> LLMConfigError:
    # Names the user typed: a key pasted as a profile name or a field must not show.
    where = f"{origin}: profile {shown(profile)}" if profile is not None else origin
    field = f", field {shown(problem.path)}" if problem.path else ""
    return LLMConfigError(f"{where}{field}: {problem.message}")
