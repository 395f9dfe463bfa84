"""What the tests import: plain helpers, constants and value classes, one module per noun.

Fixtures and hooks live in the ``conftest.py`` files and build on these. Tests import from
here, never from a conftest: pytest loads conftests as per-directory plugins, not as a library.
"""

import pkgutil

import pytest

# Rewrite the asserts in these helpers as pytest does in conftest files and tests, so a
# failing helper assertion still shows the values it compared. The submodules are named one
# by one: they are not imported yet, whereas this package already is.
pytest.register_assert_rewrite(
    *(f"{__name__}.{module.name}" for module in pkgutil.iter_modules(__path__))
)
