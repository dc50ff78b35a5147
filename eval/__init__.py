"""Evaluation: score retrieval, answers and citations against gold question sets."""
