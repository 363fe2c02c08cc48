"""`ftspec diff`: what changed in meaning between two specs (or git revisions of one), and what follows from it."""
