"""One error hierarchy for the engine: a plain message for users, technical detail apart."""

from __future__ import annotations


class EngineError(Exception):
    """Base error. ``message`` is safe to show users; ``detail`` is for logs; ``hint`` says what to do."""

    default_hint = ""

    def __init__(self, message: str, *, detail: str = "", hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.hint = hint or self.default_hint

    def __str__(self) -> str:
        return self.message


class ConfigError(EngineError):
    default_hint = "Check the import's settings in the admin."


class FileFormatError(EngineError):
    default_hint = "Open the file and check it has a header row and the expected layout."


class SchemaMismatchError(EngineError):
    default_hint = "Add the missing columns to the staging table, or map the file's columns with 'column mapping'."


class LoadError(EngineError):
    default_hint = "Fix the value in the file (or widen the column type) and run the import again."


class TransformError(EngineError):
    default_hint = "Check the transform procedure and the destination table; staging rows were kept."


class QualityError(EngineError):
    """A quality rule could not be evaluated (a bad rule or a missing column), as opposed to data failing it."""

    default_hint = "Fix the rule in the admin (Data quality rules) or the staging table, then run the import again."


class EnrichmentError(EngineError):
    default_hint = "Fix the enrichment rule in the admin, or create the lookup table and columns it names."
