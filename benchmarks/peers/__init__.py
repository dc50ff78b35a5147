"""Peer frameworks measured beside Newsdesk; see run.py."""
