"""Moved: ``import_tf`` is in ``edgekit._optional``, ``captured_stderr`` in ``edgekit._quiet``.

Kept until zoo/keras/user_model.py (being changed on main) imports the new place."""
from .._optional import import_tf  # noqa: F401
from .._quiet import captured_stderr  # noqa: F401
