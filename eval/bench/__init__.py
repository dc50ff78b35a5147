"""`newsdesk bench`: speed and memory figures, each beside a baseline measured in the same run.

Stages: ingest (end to end against plain SentenceTransformer.encode), query (retrieval and ask latency
against BM25 alone, queries/s against a live server), scale (synthetic vectors up to 1M rows against
exact search) and startup (serve to first answer). Benchmarks print figures; nothing here asserts
a timing.
"""
