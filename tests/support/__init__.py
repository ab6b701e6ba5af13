"""Helpers shared by the generator's tests: rendering, venvs, real services, linters."""
