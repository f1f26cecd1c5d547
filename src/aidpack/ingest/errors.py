"""What can go wrong in an import: every bad cell as a :class:`Problem`, raised together, nothing written."""

from __future__ import annotations

from dataclasses import dataclass

from aidpack.errors import ValidationFailed


@dataclass(frozen=True)
class Problem:
    """One bad cell (or file): where it is, what it holds, what was expected instead."""

    file: str
    row: int | None
    column: str | None
    value: str
    expected: str

    def to_dict(self) -> dict[str, str | int | None]:
        return {
            "file": self.file,
            "row": self.row,
            "column": self.column,
            "value": self.value,
            "expected": self.expected,
        }


class ImportInvalid(ValidationFailed):
    """Some rows are bad: the context lists every one of them; nothing was written."""

    code = "IMPORT_INVALID"

    def __init__(self, problems: list[Problem]) -> None:
        files = sorted({p.file for p in problems})
        super().__init__(
            f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {', '.join(files)}; "
            "nothing was imported",
            context={"errors": [p.to_dict() for p in problems]},
        )
        self.problems = problems


class ImportPathInvalid(ValidationFailed):
    """The path cannot be imported at all (missing, unknown kind, nothing importable in a folder)."""

    code = "IMPORT_PATH_INVALID"
