"""What can go wrong in an import: every bad cell as a :class:`Problem`, raised together, nothing written."""

from __future__ import annotations

from dataclasses import dataclass

from aidpack.errors import ValidationFailed


@dataclass(frozen=True)
class Problem:
    """One bad cell (or file, or sheet): where it is, what it holds, what was expected instead.

    ``sheet`` names the workbook's sheet when a multi-sheet workbook is imported (``file`` is the workbook).
    """

    file: str
    row: int | None
    column: str | None
    value: str
    expected: str
    sheet: str | None = None

    def to_dict(self) -> dict[str, str | int | None]:
        found: dict[str, str | int | None] = {"file": self.file}
        if self.sheet is not None:
            found["sheet"] = self.sheet
        found.update({"row": self.row, "column": self.column, "value": self.value, "expected": self.expected})
        return found


class ImportInvalid(ValidationFailed):
    """Some rows are bad: the context lists every one of them; nothing was written."""

    code = "IMPORT_INVALID"

    def __init__(self, problems: list[Problem]) -> None:
        files = sorted({p.file for p in problems})
        sheets = list(dict.fromkeys(p.sheet for p in problems if p.sheet is not None))
        where = ", ".join(files) + (f" (sheet{'s' if len(sheets) != 1 else ''} {', '.join(sheets)})" if sheets else "")
        super().__init__(
            f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {where}; nothing was imported",
            context={"errors": [p.to_dict() for p in problems]},
        )
        self.problems = problems


class ImportPathInvalid(ValidationFailed):
    """The path cannot be imported at all (missing, unknown kind, nothing importable in a folder)."""

    code = "IMPORT_PATH_INVALID"
