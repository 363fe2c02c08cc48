"""The command line and what it prints: argument parsing, diagnostics and the plan table."""

import os

# Pydantic looks for plugins (entry points of the `pydantic` group) in the metadata of every installed distribution
# before it builds its first validator: ~3% of a cold `ftspec check` beside the training stack. The compiler's
# models are its own, for no plugin to observe; a setting the user made is kept. The scripts ftspec starts get the
# environment without it (`STARTUP_ONLY`, which ftspec.run.launch.environment removes).
STARTUP_ONLY: dict[str, str] = {}
if "PYDANTIC_DISABLE_PLUGINS" not in os.environ:
    STARTUP_ONLY["PYDANTIC_DISABLE_PLUGINS"] = os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
