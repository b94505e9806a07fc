"""What is wrong with data/: a Problem names the file, line, column and reason; BuildFailed carries every one.

Apart from the validation and the build so that what only reports problems, the app's start-up and the command
line's check of data/, imports neither (the validation alone is 10 ms of imports after DuckDB).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        col = f" column '{self.column}'" if self.column else ""
        return f"{where}:{col} {self.reason}"


class BuildFailed(Exception):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in the data; nothing was written")
