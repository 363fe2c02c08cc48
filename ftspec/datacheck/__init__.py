"""The data a plan names, read as the generated script will: located faults, and the quality report."""
