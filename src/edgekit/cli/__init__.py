"""The command line: a thin click shell. Results on stdout (a table, or one JSON document
with --json); progress and warnings on stderr; EdgekitError -> one line, exit non-zero."""
