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


def one_line(exc, limit: int = 600) -> str:
    """A runtime's own message on one line, its cause kept: C++ runtimes put the cause last,
    after lines that only say where the exception was thrown ("Exception from
    src/inference/src/cpp/core.cpp:84:"), so those are dropped and the rest joined; past
    ``limit`` the middle is cut, never the end. runtime_bench/runner.py has a copy (it imports
    nothing from edgekit)."""
    import re

    text = str(exc).strip() if not isinstance(exc, str) else exc.strip()
    lines = [ln.strip().rstrip(":") for ln in text.splitlines() if ln.strip().rstrip(":")]
    kept = [ln for ln in lines if not re.fullmatch(r"Exception from \S+:\d+", ln)] or lines
    out = "; ".join(kept) or (type(exc).__name__ if not isinstance(exc, str) else "")
    return out if len(out) <= limit else out[: limit // 3] + " ... " + out[-(2 * limit // 3):]


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first non-empty line of an exception's text (its type name when it has none), cut to ``limit``."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:limit]
