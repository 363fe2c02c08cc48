"""`ftspec suggest`: the catalog's base models for a domain and a task, and what it takes to fit them."""
