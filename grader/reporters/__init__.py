"""Report writers: pure functions from result data to a format (terminal, Gradescope, ...)."""
