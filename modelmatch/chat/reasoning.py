"""Separate a model's thinking from its answer when the server sends both as plain text in <think>...</think>.

Servers with a reasoning parser (vLLM --reasoning-parser, DeepSeek's API) send `reasoning_content` apart; others
stream the tags inside the content. Tags can be split across chunks ("<thi" + "nk>"), so the splitter holds back
the shortest tail that could still become a tag.
"""

from __future__ import annotations

from typing import Literal

OPEN_TAG, CLOSE_TAG = "<think>", "</think>"
Piece = tuple[Literal["reasoning", "content"], str]


class ThinkSplitter:
    def __init__(self, starts_in_thinking: bool = False):
        # Templates such as DeepSeek-R1's put "<think>\n" into the prompt, so the reply starts mid-thought.
        self.thinking = starts_in_thinking
        self.seen_open = starts_in_thinking
        self._held = ""

    def _expected_tag(self) -> str:
        return CLOSE_TAG if self.thinking else OPEN_TAG

    def feed(self, text: str) -> list[Piece]:
        pieces: list[Piece] = []
        buffer = self._held + text
        self._held = ""
        while buffer:
            tag = self._expected_tag()
            index = buffer.find(tag)
            if index >= 0:
                self._emit(pieces, buffer[:index])
                buffer = buffer[index + len(tag):]
                if self.thinking:
                    self.thinking = False
                elif not self.seen_open:
                    # Only a leading think block is reasoning; a later "<think>" in an answer is just text.
                    self.thinking = self.seen_open = True
                else:
                    self._emit(pieces, tag)
                continue
            keep = _partial_suffix(buffer, tag)
            self._emit(pieces, buffer[: len(buffer) - keep])
            self._held = buffer[len(buffer) - keep:]
            break
        return pieces

    def finish(self) -> list[Piece]:
        pieces: list[Piece] = []
        self._emit(pieces, self._held)
        self._held = ""
        return pieces

    def _emit(self, pieces: list[Piece], text: str) -> None:
        if not text:
            return
        kind = "reasoning" if self.thinking else "content"
        if pieces and pieces[-1][0] == kind:
            pieces[-1] = (kind, pieces[-1][1] + text)
        else:
            pieces.append((kind, text))


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of text that is a proper prefix of tag."""
    for length in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-length:]):
            return length
    return 0


def split_complete(text: str, starts_in_thinking: bool = False) -> tuple[str, str]:
    """(reasoning, answer) of a whole reply."""
    splitter = ThinkSplitter(starts_in_thinking)
    pieces = splitter.feed(text) + splitter.finish()
    return ("".join(t for k, t in pieces if k == "reasoning"), "".join(t for k, t in pieces if k == "content"))
