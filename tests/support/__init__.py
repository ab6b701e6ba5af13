"""Helpers shared by the generator's tests: rendering, generated-repo venvs, real services, linters."""
