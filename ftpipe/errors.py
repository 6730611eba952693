"""The errors a user can cause, each printed by a stage as one line (see :mod:`ftpipe.cli`).

Every message names where the problem is: the file, the record (id or line) and the field
for data; the key and the allowed values for params; the model directory for models.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input (data, params, model): a stage prints the message and exits 1."""


class DataError(UserError, ValueError):
    """A data file or record is malformed; the message names file, record and field."""

    def __init__(self, source: str, record: str | None, field_: str | None, message: str):
        self.source, self.record, self.field, self.detail = str(source), record, field_, message
        where = str(source)
        if record is not None:
            where += f": record {record}"
        if field_ is not None:
            where += f": field '{field_}'"
        super().__init__(f"{where}: {message}")

    def from_file(self, path: str) -> DataError:
        """The same error naming the file it came from, for code that only knew the split."""
        return DataError(path, self.record, self.field, self.detail)


class ParamsError(UserError, ValueError):
    """A params.yaml key is missing, unknown, mistyped or out of range."""


class ModelError(UserError, RuntimeError):
    """A model or tokenizer cannot be found or does not fit the params."""
