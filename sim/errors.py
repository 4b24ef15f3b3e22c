"""The one error type the command line turns into a clear message and exit code 2."""

from __future__ import annotations


class ScenarioError(Exception):
    """Bad input: names where it came from (file or option), the field path and what is allowed."""

    def __init__(self, source: str, field: str | None, message: str) -> None:
        self.source = source
        self.field = field
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.source}: {self.field}" if self.field else self.source
        return f"{where}: {self.message}"
