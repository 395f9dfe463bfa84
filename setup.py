"""The package list, which pyproject.toml cannot express: every ``app*`` package plus the
migrations (``migrations/`` at the checkout's root) installed as ``app.migrations``, so an
installed server finds them (app.MIGRATIONS_DIR)."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["app*"]), "app.migrations", "app.migrations.versions"],
    package_dir={"app.migrations": "migrations"},
)
