"""`python -m <package>` runs the worker; see `cli.py` for the subcommands."""

from .cli import main

raise SystemExit(main())
