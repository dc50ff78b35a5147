"""Sentence-aware, token-counted chunking with overlap.

Chunks are runs of whole sentences whose tiktoken count stays within `max_tokens`;
the next chunk repeats the last sentences of the previous one (up to `overlap_tokens`)
so that a fact spanning a boundary is still found whole. Only a sentence that alone
exceeds the budget is cut, at word boundaries (or characters, for a word that long).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from index.records import Article, Chunk, stable_hash
from index.sentences import sentence_spans
from index.tokens import DEFAULT_ENCODING, get_encoding


@dataclass(frozen=True, slots=True)
class ChunkerSettings:
    max_tokens: int = 200
    overlap_tokens: int = 40
    encoding: str = DEFAULT_ENCODING

    def __post_init__(self) -> None:
        if self.max_tokens < 16:
            raise ValueError(f"max_tokens must be at least 16, got {self.max_tokens}")
        if not 0 <= self.overlap_tokens < self.max_tokens // 2:
            raise ValueError(
                f"overlap_tokens must be between 0 and {self.max_tokens // 2 - 1}, got {self.overlap_tokens}"
            )

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class Chunker:
    def __init__(self, settings: ChunkerSettings | None = None) -> None:
        self.settings = settings or ChunkerSettings()
        self._encoding = get_encoding(self.settings.encoding)

    def count(self, text: str) -> int:
        return len(self._encoding.encode(text, disallowed_special=()))

    def chunk(self, article: Article) -> list[Chunk]:
        text = article.text
        pieces = list(self._pieces(text))
        chunks: list[Chunk] = []
        seen: set[str] = set()
        for start, end in self._windows(text, pieces):
            body = text[start:end]
            chunk_id = stable_hash(article.id, body)
            if chunk_id in seen:  # the same passage twice in one article
                chunk_id = stable_hash(article.id, body, str(start))
            seen.add(chunk_id)
            chunks.append(Chunk(chunk_id, article.id, len(chunks), body, start, end, self.count(body)))
        return chunks

    def _pieces(self, text: str) -> Iterator[tuple[int, int, int]]:
        """Sentences with their token counts, over-long ones cut to fit the budget."""
        budget = self.settings.max_tokens
        for start, end in sentence_spans(text):
            tokens = self.count(text[start:end])
            if tokens <= budget:
                yield start, end, tokens
            else:
                yield from self._cut_long(text, start, end)

    def _cut_long(self, text: str, start: int, end: int) -> Iterator[tuple[int, int, int]]:
        budget = self.settings.max_tokens
        tokens = self._encoding.encode(text[start:end], disallowed_special=())
        _, offsets = self._encoding.decode_with_offsets(tokens)
        piece_start, index = start, 0
        while piece_start < end:
            index += budget
            cut = end if index >= len(tokens) else start + offsets[index]
            space = text.rfind(" ", piece_start + 1, cut)
            if cut < end and space > piece_start:
                cut = space  # prefer a word boundary inside the window
            while cut > piece_start + 1 and self.count(text[piece_start:cut]) > budget:
                cut = piece_start + (cut - piece_start) * 9 // 10
            cut = max(cut, piece_start + 1)
            yield piece_start, cut, self.count(text[piece_start:cut])
            piece_start = cut
            while piece_start < end and text[piece_start].isspace():
                piece_start += 1
            index = bisect_left(offsets, piece_start - start)

    def _windows(self, text: str, pieces: list[tuple[int, int, int]]) -> Iterator[tuple[int, int]]:
        budget, overlap = self.settings.max_tokens, self.settings.overlap_tokens
        first = 0
        while first < len(pieces):
            last = first
            while last + 1 < len(pieces):
                candidate = text[pieces[first][0] : pieces[last + 1][1]]
                if sum(p[2] for p in pieces[first : last + 2]) > budget or self.count(candidate) > budget:
                    break
                last += 1
            yield pieces[first][0], pieces[last][1]
            if last + 1 >= len(pieces):
                return
            # Step back over trailing sentences worth at most `overlap` tokens.
            next_first, carried = last + 1, 0
            while next_first - 1 > first and carried + pieces[next_first - 1][2] <= overlap:
                next_first -= 1
                carried += pieces[next_first][2]
            first = next_first
