"""`python -m <package>` runs the job once; `python -m <package> migrate` applies migrations."""

from .cli import main

raise SystemExit(main())
