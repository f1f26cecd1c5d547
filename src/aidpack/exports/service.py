"""``aidpack export FORMAT PATH``: check the target, write the files, record who exported what.

Writing files changes no data, but an ``export.<format>`` audit event is appended anyway (in the caller's
transaction, after the files are written) so that the record shows every export.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sqlalchemy.orm import Session

from aidpack.audit.service import record
from aidpack.errors import DomainError
from aidpack.exports import files, iati
from aidpack.exports.tables import collect


class ExportFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"
    HXL = "hxl"
    IATI = "iati"


REF_LENGTH = 200  # audit events' entity_ref column

#: Formats written as a folder of files; the others are one file.
FOLDER_FORMATS = frozenset({ExportFormat.CSV, ExportFormat.HXL})


class UnknownExportFormat(DomainError):
    code = "UNKNOWN_EXPORT_FORMAT"


class ExportTargetExists(DomainError):
    code = "EXPORT_TARGET_EXISTS"


class ExportPathUnwritable(DomainError):
    code = "EXPORT_PATH_UNWRITABLE"


class ExportNameMismatch(DomainError):
    code = "EXPORT_NAME_MISMATCH"


@dataclass(frozen=True)
class ExportResult:
    format: ExportFormat
    path: Path
    files: tuple[Path, ...]
    rows: dict[str, int]

    def to_dict(self) -> dict[str, object]:
        return {
            "format": self.format.value,
            "path": str(self.path),
            "files": [str(p) for p in self.files],
            "rows": self.rows,
        }


#: The file name ending a one-file export must have.
FILE_SUFFIXES: dict[ExportFormat, str] = {ExportFormat.XLSX: ".xlsx", ExportFormat.IATI: ".xml"}


def parse_format(text: str) -> ExportFormat:
    try:
        return ExportFormat(text.strip().lower())
    except ValueError:
        formats = ", ".join(f.value for f in ExportFormat)
        raise UnknownExportFormat(
            f"unknown export format {text!r}; use one of {formats}", context={"format": text, "formats": formats}
        ) from None


def _check_target(fmt: ExportFormat, path: Path, *, force: bool) -> None:
    hint = {"hint": "choose another path, or give --force to overwrite"}
    if fmt in FOLDER_FORMATS:
        if path.exists() and not path.is_dir():
            raise ExportTargetExists(f"{path} is a file; a {fmt.value} export is a folder", context={"path": str(path)})
        if path.is_dir() and any(path.iterdir()) and not force:
            raise ExportTargetExists(f"the folder {path} is not empty", context={"path": str(path), **hint})
        return
    if path.is_dir():
        raise ExportTargetExists(f"{path} is a folder; a {fmt.value} export is one file", context={"path": str(path)})
    suffix = FILE_SUFFIXES.get(fmt)
    if suffix is not None and path.suffix.lower() != suffix:
        # A workbook named .txt opens nowhere (a spreadsheet program goes by the name).
        raise ExportNameMismatch(f"{path}: a {fmt.value} export is a {suffix} file; name it so",
                                   context={"path": str(path), "hint": f"for example {path.with_suffix(suffix)}"})
    if path.exists() and not force:
        raise ExportTargetExists(f"the file {path} already exists", context={"path": str(path), **hint})


def _write(session: Session, fmt: ExportFormat, path: Path) -> tuple[list[Path], dict[str, int]]:
    if fmt is ExportFormat.IATI:
        return [path], {"activities": iati.write(session, path)}
    data = collect(session, public=fmt is ExportFormat.HXL)
    if fmt is ExportFormat.XLSX:
        return files.write_workbook(path, data), data.rows()
    return files.write_folder(path, data, hxl=fmt is ExportFormat.HXL), data.rows()


def export(session: Session, *, fmt: str, path: Path, force: bool, actor: str) -> ExportResult:
    """Write the export and append its audit event (flushes, never commits)."""
    found = parse_format(fmt)
    _check_target(found, path, force=force)
    try:
        written, rows = _write(session, found, path)
    except OSError as exc:
        raise ExportPathUnwritable(
            f"cannot write {path}: {exc.strerror or exc}", context={"path": str(path)}
        ) from None
    result = ExportResult(found, path, tuple(written), rows)
    where = str(path.resolve())
    record(
        session,
        actor=actor,
        action=f"export.{found.value}",
        entity="export",
        entity_ref=where if len(where) <= REF_LENGTH else "…" + where[-(REF_LENGTH - 1) :],
        before=None,
        after={"format": found.value, "path": where, "files": [p.name for p in written], "rows": rows},
    )
    return result
