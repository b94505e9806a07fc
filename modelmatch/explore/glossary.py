"""Plain-words definitions shown in the Glossary: metrics, provenance, prices and memory formulas."""

from __future__ import annotations

from modelmatch.catalog.prices import BLEND_RULE
from modelmatch.catalog.scores import CHARTED_RULE

TERMS: tuple[tuple[str, str], ...] = (
    ("official", "Provenance tier: read directly in the vendor's own page, repository, paper or config (model card, "
                 "tech report, official blog, datasheet)."),
    ("official-copy", "Provenance tier: an exact copy of an official document read elsewhere (a dated web-archive "
                      "capture, a commit page of the vendor's own repository, a config copied verbatim); the row "
                      "cites the official URL and where the copy was read."),
    ("derived", "Provenance tier: computed from official numbers by a formula written in the row, e.g. head_dim = "
                "hidden_size / num_attention_heads. The build recomputes it."),
    ("secondary", "Provenance tier: no official source could be opened, but two independent reputable sources (an "
                  "engineering registry, a hardware partner's datasheet, a paper) state the same number; both are "
                  "cited. A copied architecture must also reproduce the official parameter count."),
    ("measured", "Provenance tier: measured by this project, with the command and hardware recorded (older rows: "
                 "local-run)."),
    ("measured by", "A score published in another vendor's official report, e.g. Qwen2.5-72B as measured in the "
                    "DeepSeek-V3 README (older rows: third-party). Re-measurements often differ from the vendor's "
                    "own, so the vendor's own number is charted first."),
    ("how sure", "The weakest provenance tier among the numbers a result rests on: a memory fit is only as sure as "
                 "its parameter count, its KV-cache numbers and the GPU's memory."),
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
