"""Which score mode (thinking, non-thinking, base) a model is ranked and billed in under the wizard's chosen mode."""

from __future__ import annotations

import dataclasses
import re

from modelmatch.planning.records import ModelInfo
from modelmatch.planning.request import UsageProfile

WIZARD_MODES = ("", "thinking", "non-thinking")
WIZARD_MODE_RULE = ("Mode per model: models that always think are ranked on thinking scores, models without a "
                    "thinking mode on non-thinking scores, base checkpoints on base scores; hybrid models in the "
                    "mode you choose (default: thinking). Scores whose source states no mode count in every mode. "
                    "Thinking tokens are billed exactly for models ranked in thinking mode.")


def model_mode(model: ModelInfo, chosen: str) -> str:
    """The mode a model is ranked (and billed) in, under the wizard's chosen mode."""
    if model.variant == "base":
        return "base"
    if model.reasoning == "yes":
        return "thinking"
    if model.reasoning == "hybrid":
        return chosen or "thinking"
    return "non-thinking"


def usage_in_mode(usage: UsageProfile, model: ModelInfo, chosen: str) -> UsageProfile:
    """The usage billed for this model: no thinking tokens when it is ranked in a non-thinking mode."""
    if model_mode(model, chosen) == "thinking" or usage.thinking_tokens_per_output_token == 0:
        return usage
    return dataclasses.replace(usage, thinking_tokens_per_output_token=0.0)


def tier_mode(tier: str | None) -> str | None:
    """The mode a price tier is for, when its name says so ("non-reasoning pattern (non-thinking)")."""
    text = (tier or "").lower()
    if re.search(r"non[- ]?(?:thinking|reasoning)", text):
        return "non-thinking"
    if re.search(r"thinking|reasoning", text):
        return "thinking"
    return None
