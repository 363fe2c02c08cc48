"""The command line and what it prints: argument parsing, diagnostics and the plan table."""
