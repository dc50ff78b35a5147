"""A local model as a judge of answer phrases: how likely it finds each candidate as the answer.

The model is shown one short prompt (`phrase_messages`: the rule, the sentences the candidates come
from, the question) and is asked for nothing new: for each candidate phrase it gives the
log-probability of the phrase as its reply and of its turn ending right after. The prompt is evaluated
once and its state kept (llama.cpp's KV cache), so each phrase costs one batch of its own few tokens,
not another prompt; the model's own greedy phrase is read from the same state. `PhraseReading` is what
rag.phrase_model combines with the learned reader's scores.

This reaches below llama-cpp-python's public API (the context and batch of a `Llama`, as its own
`eval` uses them); the version it was written for is pinned by the shared wheel (0.3.x), and a
version without them is reported as such.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

PHRASE_RULES = (
    "Answer the question with a short phrase copied from the text. Give only the phrase, no sentence."
)
MAX_OWN_TOKENS = 16  # the model's own phrase stops here, at the end of its turn or at a line break
# Asked after the likeliest phrase, as if the model had replied with it: how sure it is that the text says so.
CONFIRM_QUESTION = "Is that answer stated in the text? Reply yes or no."
FLOOR_CONFIRMS = -30.0  # its log-odds are clipped to ±30, so one sure token cannot dominate the refusal
_CHATML = "<|im_start|>{role}\n{content}<|im_end|>\n"


@dataclass(frozen=True, slots=True)
class PhraseScore:
    """The model's log-probabilities for one candidate phrase as its whole reply."""

    log_probability: float  # of the phrase's tokens, each given those before it
    tokens: int
    end_log_probability: float  # of the turn ending right after the phrase

    @property
    def total(self) -> float:
        """The phrase and nothing more: a phrase cut short ("Hama" for "Hama and Homs") pays at the end."""
        return self.log_probability + self.end_log_probability

    @property
    def per_token(self) -> float:
        return self.total / (self.tokens + 1)


@dataclass(frozen=True, slots=True)
class PhraseReading:
    """A model's judgement of one question's candidate phrases, in the order given, and its own phrase."""

    scores: tuple[PhraseScore, ...]
    own: str  # the phrase the model writes itself, greedily ("" when it writes none)
    own_score: PhraseScore | None  # its score as a candidate; None when it wrote none
    prompt_tokens: int
    # log P(yes) - log P(no) when, having replied with its likeliest phrase, the model is asked whether the
    # text states it (CONFIRM_QUESTION); 0 when not asked.
    confirms: float = 0.0


@runtime_checkable
class PhraseJudge(Protocol):
    """What rag.phrase_reading needs of a model: a `PhraseReading` of phrases for a question."""

    name: str

    def read_phrases(
        self,
        question: str,
        sentences: Sequence[str],
        phrases: Sequence[str],
        on_piece: Callable[[str], None] | None = None,
    ) -> PhraseReading: ...


def phrase_messages(question: str, sentences: Sequence[str]) -> list[dict[str, str]]:
    """The prompt: the rule, the sentences as a list, the question."""
    text = "\n".join(f"- {' '.join(sentence.split())}" for sentence in sentences)
    return [
        {"role": "system", "content": PHRASE_RULES},
        {"role": "user", "content": f"Text:\n{text}\n\nQuestion: {question.strip()}"},
    ]


def render_prompt(llama: Any, messages: Sequence[dict[str, str]]) -> str:
    """The messages in the model's own chat template (from its GGUF), up to where its reply begins;
    ChatML when the file carries no template."""
    template = (getattr(llama, "metadata", None) or {}).get("tokenizer.chat_template")
    if not template:
        turns = "".join(_CHATML.format(**message) for message in messages)
        return turns + "<|im_start|>assistant\n"
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    def token_text(token: int) -> str:
        return str(llama.detokenize([token]).decode("utf-8", "replace")) if token >= 0 else ""

    formatter = Jinja2ChatFormatter(template, token_text(llama.token_eos()), token_text(llama.token_bos()))
    chat: Any = list(messages)  # llama_cpp's message types are TypedDicts of these same keys
    return str(formatter(messages=chat).prompt)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    values = logits.astype(np.float64)
    shifted = values - values.max()
    result: np.ndarray = shifted - np.log(np.exp(shifted).sum())
    return result


def _last_logits(llama: Any, rows: int = 1) -> np.ndarray:
    """The logits the last decode left, one row per token it was asked to keep logits for."""
    vocabulary = int(llama.n_vocab())
    flat = np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(rows * vocabulary,))
    return np.array(flat, copy=True).reshape(rows, vocabulary)


def _rewind(llama: Any, position: int) -> None:
    """Forget every token after `position` (the prompt), in the KV cache and in the Llama's count."""
    llama.n_tokens = position
    llama._ctx.kv_cache_seq_rm(-1, position, -1)


def _common_prefix(kept: Sequence[int], tokens: Sequence[int]) -> int:
    count = 0
    for old, new in zip(kept, tokens, strict=False):
        if old != new:
            break
        count += 1
    return count


def _score(llama: Any, position: int, first: np.ndarray, phrase: str) -> PhraseScore:
    tokens = [int(t) for t in llama.tokenize(phrase.encode("utf-8"), add_bos=False, special=False)]
    if not tokens:
        return PhraseScore(float("-inf"), 0, float("-inf"))
    _rewind(llama, position)
    llama._batch.set_batch(batch=tokens, n_past=position, logits_all=True)
    llama._ctx.decode(llama._batch)
    rows = [_log_softmax(row) for row in _last_logits(llama, len(tokens))]
    steps = [float(first[tokens[0]])] + [float(rows[i][tokens[i + 1]]) for i in range(len(tokens) - 1)]
    return PhraseScore(sum(steps), len(tokens), float(rows[-1][llama.token_eos()]))


def _own_phrase(
    llama: Any, position: int, first: np.ndarray, on_piece: Callable[[str], None] | None
) -> tuple[str, PhraseScore | None]:
    """The model's greedy reply, to the end of its turn or of the line, at most MAX_OWN_TOKENS, each
    new piece of text handed to `on_piece` as it is written; and its score, from the same steps (the
    log-probability of each token chosen, then of the turn ending where it stopped)."""
    _rewind(llama, position)
    written: list[int] = []
    logits, total, sent = first, 0.0, 0
    for _ in range(MAX_OWN_TOKENS):
        token = int(np.argmax(logits))
        if token == llama.token_eos() or b"\n" in llama.detokenize([token]):
            break
        written.append(token)
        total += float(logits[token])
        llama.eval([token])
        logits = _log_softmax(_last_logits(llama)[0])
        text = str(llama.detokenize(written).decode("utf-8", "ignore")).lstrip()  # a split character waits
        if on_piece is not None and len(text) > sent:
            on_piece(text[sent:])
            sent = len(text)
    _rewind(llama, position)
    # The sentences are shown as a list: a model may copy a line's marker, or end on its full stop.
    phrase = str(llama.detokenize(written).decode("utf-8", "replace")).strip().lstrip("-*• ").rstrip(". ")
    if not phrase:
        return "", None
    return phrase, PhraseScore(total, len(written), float(logits[llama.token_eos()]))


def read_phrases(
    llama: Any,
    question: str,
    sentences: Sequence[str],
    phrases: Sequence[str],
    *,
    own: bool = True,
    on_piece: Callable[[str], None] | None = None,
) -> PhraseReading:
    """Scores `phrases` as replies to the prompt of `question` and `sentences` on a loaded llama.cpp
    model (`llama_cpp.Llama`), the prompt evaluated once; with `own`, the model first writes its own
    phrase (greedily, each piece handed to `on_piece` as it comes), scored from the same steps."""
    if not all(hasattr(llama, name) for name in ("_ctx", "_batch", "n_tokens")):
        raise RuntimeError("this llama-cpp-python has no context and batch to score phrases with (0.3.x has)")
    prompt = render_prompt(llama, phrase_messages(question, sentences))
    tokens = [int(t) for t in llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)]
    # The rules and the chat template open every prompt alike: the state the last one left is kept that
    # far (at least the last token is evaluated again, for its logits).
    kept = _common_prefix(llama.input_ids[: llama.n_tokens].tolist(), tokens)
    _rewind(llama, min(kept, len(tokens) - 1))
    llama.eval(tokens[llama.n_tokens :])
    position = int(llama.n_tokens)
    first = _log_softmax(_last_logits(llama)[0])
    written, written_score = _own_phrase(llama, position, first, on_piece) if own else ("", None)
    scores = tuple(_score(llama, position, first, phrase) for phrase in phrases)
    judged = [(score.total, phrase) for score, phrase in zip(scores, phrases, strict=True)]
    judged += [(written_score.total, written)] if written_score is not None else []
    confirms = 0.0
    if judged:
        likeliest = max(judged, key=lambda pair: pair[0])[1]
        confirms = _confirms(llama, question, sentences, likeliest, tokens[:position])
    _rewind(llama, position)
    return PhraseReading(scores, written, written_score, position, confirms)


def _confirms(
    llama: Any, question: str, sentences: Sequence[str], phrase: str, prompt: Sequence[int]
) -> float:
    """log P(yes) - log P(no) for the model's first word after replying `phrase` and being asked
    CONFIRM_QUESTION, evaluated on from the kept prompt (`prompt`, its tokens)."""
    messages = [
        *phrase_messages(question, sentences),
        {"role": "assistant", "content": phrase},
        {"role": "user", "content": CONFIRM_QUESTION},
    ]
    tokens = [
        int(t)
        for t in llama.tokenize(render_prompt(llama, messages).encode("utf-8"), add_bos=False, special=True)
    ]
    kept = _common_prefix(prompt, tokens)
    _rewind(llama, kept)
    llama.eval(tokens[kept:])
    last = _log_softmax(_last_logits(llama)[0])
    yes, no = (_word_log_probability(llama, last, word) for word in ("yes", "no"))
    return float(np.clip(yes - no, FLOOR_CONFIRMS, -FLOOR_CONFIRMS))


def _word_log_probability(llama: Any, log_probabilities: np.ndarray, word: str) -> float:
    """log P of a reply starting with `word`, in any of its usual capitalizations (first token of each)."""
    firsts = {
        int(llama.tokenize(form.encode("utf-8"), add_bos=False, special=False)[0])
        for form in (word, word.capitalize(), word.upper())
    }
    return float(np.logaddexp.reduce([log_probabilities[token] for token in firsts]))
