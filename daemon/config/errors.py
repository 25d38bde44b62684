"""What a config that cannot be used raises: light, so that the CLI's error boundary can
catch it without loading the config models (pydantic)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConfigProblem:
    path: str
    message: str
    line: int | None = None

    def render(self) -> str:
        where = self.path or "(top level)"
        if self.line is not None:
            where += f" (line {self.line})"
        return f"  {where}: {self.message}"


class ConfigError(Exception):
    """A config file that cannot be used, with every problem found in it."""

    def __init__(self, file: str, problems: list[ConfigProblem]):
        self.file = file
        self.problems = problems
        super().__init__(str(self))

    def __str__(self) -> str:
        count = len(self.problems)
        head = (
            f"config error in {self.file}"
            if count == 1
            else f"{count} config errors in {self.file}"
        )
        return head + ":\n" + "\n".join(problem.render() for problem in self.problems)
