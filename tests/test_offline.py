"""Nothing is downloaded at run time: tokens and embeddings work with the network unreachable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Any HTTP(S) request goes to a closed local port and fails at once.
UNREACHABLE = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}


def run_offline(code: str, tmp_path: Path) -> str:
    env = {
        **os.environ,
        **UNREACHABLE,
        "TIKTOKEN_CACHE_DIR": str(tmp_path / "tiktoken-cache"),
        "HF_HOME": str(tmp_path / "hf-home"),
    }
    env.pop("HF_HUB_OFFLINE", None)
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_tiktoken_counts_tokens_from_an_empty_cache_without_network(tmp_path: Path) -> None:
    out = run_offline(
        "from index.tokens import count_tokens; print(count_tokens('Hama, Homs and Latakia'))", tmp_path
    )
    assert out == "9"  # cl100k_base: H|ama|,| H|oms| and| L|atak|ia
    assert len(list((tmp_path / "tiktoken-cache").iterdir())) == 1


@pytest.mark.model
def test_the_bundled_model_embeds_without_network(tmp_path: Path) -> None:
    out = run_offline(
        "from index.embedding import make_embedder; v = make_embedder().embed(['news']); print(v.shape)",
        tmp_path,
    )
    assert out.endswith("(1, 384)")
