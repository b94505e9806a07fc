"""Prompts of a chosen length for measurement runs.

With the model's tokenizer the prompt is exactly `input_len` tokens as the server will count them (chat template
included), built from random ordinary words so that no two prompts share a prefix (a prefix cache would otherwise
make later requests look faster). Without a tokenizer the length can only be approximated, and the method says
how; the server's own prompt-token counts (usage) are recorded per request either way.
"""

from __future__ import annotations

import random
import re
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Callable

# Common English words; in the byte-level BPE vocabularies of Llama 3, Qwen2/3, DeepSeek and GPT-4 each of them with
# its leading space is usually a single token, so N words come out near N tokens. Near, not exact: that is why a
# run without a tokenizer says "approximated".
WORDS = (
    "the of and to in is you that it he was for on are as with his they at be this have from or one had by word "
    "but not what all were we when your can said there use an each which she do how their if will up other about "
    "out many then them these so some her would make like him into time has look two more write go see number no "
    "way could people my than first water been call who oil its now find long down day did get come made may part "
    "over new sound take only little work know place year live me back give most very after thing our just name "
    "good sentence man think say great where help through much before line right too mean old any same tell boy "
    "follow came want show also around form three small set put end does another well large must big even such "
    "because turn here why ask went men read need land different home us move try kind hand picture again change "
    "off play spell air away animal house point page letter mother answer found study still learn should world"
).split()

_WORD_TOKEN_RE = re.compile(r"^ [a-z]{2,12}$")


@dataclass(frozen=True)
class Prompt:
    text: str
    tokens: int | None  # as the tokenizer counts the rendered chat prompt; None when approximated
    method: str


class PromptError(ValueError):
    pass


class PromptMaker:
    """Makes unique prompts of a target length. `tokenizer` is a transformers tokenizer or None."""

    def __init__(self, tokenizer: Any | None, seed: int = 0, tokenizer_name: str = "", lock: Any | None = None):
        self.tokenizer = tokenizer
        self.lock = lock if lock is not None else nullcontext()
        self.rng = random.Random(seed)
        self.tokenizer_name = tokenizer_name
        self._word_ids: list[int] | None = None
        self._overhead: int | None = None

    # -- with a tokenizer -------------------------------------------------------------------------------------
    def _count(self, text: str) -> int:
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            rendered = tok.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                               tokenize=False)
            return len(tok(rendered, add_special_tokens=False)["input_ids"])
        return len(tok(text)["input_ids"])

    def _candidate_ids(self) -> list[int]:
        if self._word_ids is None:
            tok = self.tokenizer
            special = set(getattr(tok, "all_special_ids", []) or [])
            ids = sorted(i for i in tok.get_vocab().values() if i not in special)
            # Lower-case words with a leading space that re-tokenize to themselves: the pre-tokenizer splits text at
            # spaces, so any sequence of them keeps exactly one token per word. A vocabulary with too few of them
            # falls back to any ordinary token (the length loop below then corrects the drift).
            words = []
            for i in ids:
                text = tok.decode([i])
                if _WORD_TOKEN_RE.match(text) and tok(text, add_special_tokens=False)["input_ids"] == [i]:
                    words.append(i)
                    if len(words) >= 5000:
                        break
            self._word_ids = words if len(words) >= 8 else ids
        return self._word_ids

    def _exact(self, target: int) -> Prompt:
        tok = self.tokenizer
        if self._overhead is None:
            self._overhead = self._count("")
        body = target - self._overhead
        if body < 1:
            raise PromptError(f"input length {target} is too short: the chat template alone is {self._overhead} "
                              "tokens; ask for a longer input")
        ids = self.rng.choices(self._candidate_ids(), k=body)
        text = tok.decode(ids)
        count = self._count(text)
        for _ in range(20):
            if count == target:
                break
            diff = target - count
            if diff > 0:
                text += tok.decode(self.rng.choices(self._candidate_ids(), k=diff))
            else:
                own = tok(text, add_special_tokens=False)["input_ids"]
                text = tok.decode(own[: max(1, len(own) + diff)])
            count = self._count(text)
        template = "chat template included" if getattr(tok, "chat_template", None) else "no chat template"
        name = f" {self.tokenizer_name}" if self.tokenizer_name else ""
        if count == target:
            return Prompt(text, count, f"exact: {target} tokens by the tokenizer{name} ({template})")
        return Prompt(text, count, f"tokenizer{name}: {count} tokens for {target} asked ({template}; the random "
                                   "text would not re-tokenize to the exact length)")

    # -- without ------------------------------------------------------------------------------------------------
    def _approximate(self, target: int) -> Prompt:
        text = " ".join(self.rng.choices(WORDS, k=max(1, target)))
        return Prompt(text, None, f"approximated without a tokenizer: {target} common English words, about one "
                                  "token each; the chat template's tokens are not counted (the server's prompt "
                                  "token counts are in measurement_requests.input_tokens)")

    def make(self, target_tokens: int) -> Prompt:
        if target_tokens < 1:
            raise PromptError("input length must be at least 1 token")
        if self.tokenizer is None:
            return self._approximate(target_tokens)
        with self.lock:
            return self._exact(target_tokens)


def token_counter(tokenizer: Any | None, lock: Any | None = None) -> Callable[[str], int] | None:
    """Fallback output-token counter for servers that send no usage (the rows then say token_source=tokenizer)."""
    if tokenizer is None:
        return None
    guard = lock if lock is not None else nullcontext()

    def count(text: str) -> int:
        with guard:
            return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    return count
