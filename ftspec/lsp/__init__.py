"""The language server (`ftspec lsp`): live diagnostics, completion, hover, formatting, go to file.

Needs the optional `lsp` extra (pygls, lsprotocol); the compiler never imports this package. The
logic lives in pure functions of a text and a position: `diagnose` (what `ftspec check` says of a
buffer, quick fixes), `complete`, `hover`, `navigate`; `server` wires them to pygls.
"""
