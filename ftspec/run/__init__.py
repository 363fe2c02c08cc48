"""`ftspec run` and `ftspec eval`: launch what was emitted, and record what a run was made from."""
