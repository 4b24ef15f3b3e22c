"""The errors the command line turns into one clear line: bad input (exit 2), an interrupted batch (130)."""

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


class Interrupted(Exception):
    """Ctrl-C stopped a batch of runs (compare, sweep); the finished ones are kept in `folder`."""

    def __init__(self, folder, kept: int, total: int) -> None:
        self.folder, self.kept, self.total = folder, kept, total
        super().__init__(f"interrupted: {kept} of {total} runs are kept in {folder}/; run the same command "
                         f"again (with --out {folder}) to resume")
