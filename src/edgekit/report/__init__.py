"""Results database (db.py), comparisons and the regression gate (compare.py), reports with
plots (markdown.py, html.py, plots.py)."""
