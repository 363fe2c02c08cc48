"""The emitted files: the Jinja2 templates, the values they read, and the filter that writes Python literals."""
