"""One module per CLI command. They parse input and call the plain functions of the core.

Nothing here imports copier at module level: `newservice --help` must stay fast.
"""
