"""The EdgekitError family: every error a user can cause carries one clear line.

The CLI prints ``error: <message>`` for these and exits non-zero without a traceback;
anything else is a bug in edgekit and keeps its traceback.
"""


class EdgekitError(Exception):
    """Base: a problem with the user's input or environment, explained in one line."""

    exit_code = 2


class ConfigError(EdgekitError):
    """A flag or a value is invalid."""


class UnknownNameError(ConfigError):
    """A name (model, format, engine, ...) is not registered."""


class UnsupportedError(EdgekitError):
    """A valid request edgekit cannot do (e.g. a format/precision combination)."""


class MissingDependencyError(EdgekitError):
    """An optional backend is not installed; the message names the extra to install."""


class DataError(EdgekitError):
    """Calibration or evaluation data is missing, empty or unreadable."""


class WeightsError(EdgekitError):
    """A weights file is missing, corrupt, or belongs to another architecture."""


class DeviceError(EdgekitError):
    """A device could not be reached or failed while running."""


class AccuracyGateError(EdgekitError):
    """An exported file is less accurate than the requested gate."""

    exit_code = 3


class UntrustedCodeError(WeightsError):
    """A model file holds code, which edgekit runs only with --trust-model-code."""


TRUST_HINT = "pass --trust-model-code only if you trust where the file came from"


class NonFiniteError(EdgekitError):
    """NaN or inf in weights, in inputs, or in a model's outputs."""


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first non-empty line of an exception's text (its type name when it has none), cut to ``limit``."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:limit]
