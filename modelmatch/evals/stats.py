"""Statistics over scored items: the Wilson interval of an accuracy, and consistency across translations."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

Z_95 = 1.959963984540054


def wilson_interval(correct: int, total: int, z: float = Z_95) -> tuple[float | None, float | None]:
    """Wilson score interval for a proportion (95% by default); (None, None) when total is 0."""
    if total <= 0:
        return None, None
    p = correct / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    # Rounded so that 1 - 1e-16 shows as 1: the interval of an all-right sample ends at exactly 1.
    return max(0.0, round(centre - half, 12)), min(1.0, round(centre + half, 12))


def same_answer(a: str | None, b: str | None) -> bool | None:
    """Do two translations' answers agree? None when neither has a comparable answer (two wrong free-text
    replies cannot be compared across languages)."""
    if a is None and b is None:
        return None
    return a == b


@dataclass(frozen=True)
class Consistency:
    agree: int
    compared: int
    groups_all_agree: int
    groups_compared: int

    @property
    def score(self) -> float | None:
        return self.agree / self.compared if self.compared else None

    @property
    def all_agree_share(self) -> float | None:
        return self.groups_all_agree / self.groups_compared if self.groups_compared else None


def consistency(answers: Sequence[tuple[str, str, str | None]], reference: str = "en") -> Consistency:
    """answers: (group_id, language, answer_key) for one model's scored items.

    score: the share of (reference-language item, other-language item) pairs in the same group whose answers
    agree (the recipe's "fraction of questions where the language variant gives the same answer as English").
    all_agree_share: the share of groups with 2+ comparable answers where every language gives the same answer.
    """
    groups: dict[str, dict[str, str | None]] = {}
    for group, language, key in answers:
        if group:
            groups.setdefault(group, {})[language] = key
    agree = compared = all_agree = groups_compared = 0
    for by_language in groups.values():
        if reference in by_language:
            ref = by_language[reference]
            for language, key in by_language.items():
                if language == reference:
                    continue
                same = same_answer(ref, key)
                if same is not None:
                    compared += 1
                    agree += int(same)
        keys = list(by_language.values())
        if len(keys) >= 2 and any(k is not None for k in keys):
            groups_compared += 1
            all_agree += int(all(k == keys[0] for k in keys))
    return Consistency(agree, compared, all_agree, groups_compared)
