"""The application shell: the `newsdesk` commands (cli/) and the HTTP server that mounts the web UI
(server/). It sits above the library (index/, rag/) and the evaluation (eval/) and web UI (ui/)
packages; nothing below imports it (`python -m newsdesk_app.layers` checks)."""
