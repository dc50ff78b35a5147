"""The Newsdesk web UI (gradio): presentation over the `Newsdesk` service, nothing more."""

from ui.app import build_ui

__all__ = ["build_ui"]
