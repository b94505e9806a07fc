"""Plain-words definitions shown in the Glossary: metrics, provenance, prices and memory formulas."""

from __future__ import annotations

from modelmatch.prices import BLEND_RULE
from modelmatch.scores import CHARTED_RULE

TERMS: tuple[tuple[str, str], ...] = (
    ("official", "A number published by the model's own vendor (model card, tech report, official blog)."),
    ("third-party", "A number for this model published in another vendor's official report, e.g. Qwen2.5-72B "
                    "as measured in the DeepSeek-V3 README. Re-measurements often differ from the vendor's own."),
    ("local-run", "A number measured by this project, with the command and hardware recorded."),
    ("as of", "The date of the source version the number was read from (commit, publication or page date)."),
    ("stale", "The source is older than the staleness threshold; newer numbers may exist."),
    ("charted number", CHARTED_RULE),
    ("setting", "How the benchmark was run as the source states it: shots (examples in the prompt), CoT "
                "(chain of thought), pass@k, thinking or non-thinking mode for hybrid reasoning models."),
    ("blended price", BLEND_RULE),
    ("cached input", "Price per million input tokens served from the provider's prompt cache (repeated prefixes)."),
    ("active parameters", "Parameters used for each token. Mixture-of-experts models route each token through a "
                          "few experts, so active < total: speed follows active, memory follows total."),
    ("KV cache per token", "Memory the attention cache needs for each token of context. GQA/MHA: 2 x layers x "
                           "KV heads x head dim x bytes per element. MLA (DeepSeek-V2/V3): layers x (kv_lora_rank "
                           "+ qk_rope_head_dim) x bytes per element."),
    ("TTFT", "Time to first token: from sending the request to the first streamed chunk carrying content "
             "(reasoning counts as content)."),
    ("TPOT", "Time per output token after the first: (latency - TTFT) / (output tokens - 1), per request."),
    ("ITL", "Inter-token latency: the gaps between consecutive content chunks."),
    ("output tokens/s", "Sum of output tokens of all requests / benchmark wall time. Failed requests are counted "
                        "separately and never averaged in; warm-up requests never reach the results."),
    ("roofline", "Upper bound for batch-1 decode speed: memory bandwidth / bytes read per token (weights touched "
                 "per token plus the KV cache read)."),
)
