"""The `newsdesk` command line: `main` is the group, the other modules add commands to it."""
