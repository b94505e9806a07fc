"""The catalog's column schema: declared once, used for validation, the DuckDB DDL and the UI's labels.

Every table is a folder of CSV files under data/ (see data/README.md). A column's `kind` decides how a cell is
parsed and checked; `references` ties a column to another table's key; `maximum` catches absurd values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnKind = Literal["text", "int", "float", "bool", "date", "datetime", "url", "enum"]

DUCKDB_TYPES: dict[str, str] = {
    "text": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "date": "DATE",
    "datetime": "TIMESTAMP",
    "url": "VARCHAR",
    "enum": "VARCHAR",
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: ColumnKind
    help: str
    required: bool = False
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    references: tuple[str, str] | None = None  # (table, column)
    label: str = ""

    @property
    def display_label(self) -> str:
        return self.label or self.name.replace("_", " ")

    @property
    def is_numeric(self) -> bool:
        return self.kind in ("int", "float")


@dataclass(frozen=True)
class Table:
    name: str
    help: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    # Tables whose numbers must each be traceable to a source (the house rule: no number without its source).
    sourced: bool = True
    column_by_name: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "column_by_name", {c.name: c for c in self.columns})

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _source_columns(required: bool = True) -> tuple[Column, ...]:
    return (
        Column("source_url", "url", "Exact official page or file the row was transcribed from.", required=required),
        Column("source_location", "text", "Where in the source: table, figure, section or file.", label="where in source"),
        Column("as_of", "date", "Date of the source version that was read (YYYY-MM-DD).", required=required),
    )


# How sure a number is: every sourced row says which tier its numbers come from (data/README.md, "Provenance
# tiers"). Ordered strongest first; a result that depends on several rows is as sure as its weakest tier.
TIERS = ("official", "official-copy", "derived", "secondary", "measured")
# Score rows written before the tiers existed; still read so older files stay valid. third-party = an official
# report of another vendor (new rows: official + measured_by), local-run = measured.
LEGACY_SCORE_PROVENANCES = ("third-party", "local-run")


def _provenance_columns(required: bool = False) -> tuple[Column, ...]:
    """The tier columns, declared once for every sourced table (validation rules: ingest/provenance.py)."""
    return (
        Column("provenance", "enum", "How sure the row's numbers are: official (the vendor's own page, repo, paper "
               "or config, read directly), official-copy (an exact copy of an official document read elsewhere; "
               "copy_url says where), derived (computed from official numbers; formula says how), secondary (two "
               "independent reputable sources that agree; second_source_url), measured (this project's runs).",
               required=required, choices=TIERS),
        Column("copy_url", "url", "official-copy: where the copy of the official document was read (web-archive "
               "capture, commit page, verbatim copy); source_url stays the official URL."),
        Column("formula", "text", "Derived cells: 'column = expression over other columns', ;-separated "
               "(head_dim = hidden_size / num_attention_heads). Those cells are tier derived; the build recomputes "
               "each formula and refuses a row whose cell disagrees."),
        Column("second_source_url", "url", "secondary: the second, independent source that states the same "
               "numbers (required for secondary)."),
    )


# Tiers a model's parameter counts may have when they come from another source than the rest of its row.
OWN_SOURCE_TIERS = ("official", "official-copy", "secondary")


def _own_source_columns(prefix: str, facts: str, official: str, where: str) -> tuple[Column, ...]:
    """Where some cells of a model row come from when it is not the row's source: {prefix}provenance and the columns
    that name that source (what each tier needs: the copy's URL, the second source). Empty: the row's own tier and
    source. Validation: modelmatch/catalog/provenance.py (own_source_problems)."""
    p = prefix
    return (
        Column(f"{p}provenance", "enum", f"Tier of {facts} when they come from another source than the row: "
               f"official ({official}, read directly), official-copy (an exact copy of it read elsewhere: "
               f"{p}copy_url) or secondary (two independent reputable sources that agree: {p}source_url and "
               f"{p}second_source_url). Empty: the row's tier.", choices=OWN_SOURCE_TIERS),
        Column(f"{p}source_url", "url", f"Where {facts} are stated (required with {p}provenance); for "
               "official-copy the official URL."),
        Column(f"{p}source_location", "text", f"Where in {p}source_url (and {p}second_source_url) {where}."),
        Column(f"{p}as_of", "date", "Date of the version of that source that was read."),
        Column(f"{p}copy_url", "url", f"official-copy: where the exact copy of {p}source_url was read."),
        Column(f"{p}second_source_url", "url", f"secondary: the second, independent source that states the same "
               f"{facts}."),
    )


# A model row read on a pricing page whose counts only engines' and hardware vendors' pages state.
_PARAMS_SOURCE_COLUMNS = _own_source_columns(
    "params_", "params_total_b, params_active_b and architecture (dense / moe)", "the vendor's page",
    "the counts are")
# A model row read in the README whose context only the config states (max_position_embeddings).
_CONTEXT_SOURCE_COLUMNS = _own_source_columns(
    "context_", "context_length, context_length_extended and max_output_tokens", "the vendor's page or config",
    "the context length is (a config field such as max_position_embeddings, a table row)")
# A row whose license only a card copy or two registries name. The license's terms keep the tier of their
# licenses row; this is the tier of the statement that license_id governs the model.
_LICENSE_SOURCE_COLUMNS = _own_source_columns(
    "license_", "license_id", "the vendor's page, card or repository", "the license is named")


REVIEW_STATES = ("held", "accepted")


def _import_columns() -> tuple[Column, ...]:
    """Columns for rows an importer wrote (`python -m ingest fetch`); empty on hand-transcribed rows.

    A row a guard flagged is `held`: the build refuses it until a maintainer checks the source and sets `accepted`
    (`python -m ingest accept FILE:LINE`) or deletes the row (`python -m ingest reject FILE:LINE`).
    """
    return (
        Column("review", "enum", "Empty: nothing to review. held: an import guard flagged this row and the build "
               "refuses it until a maintainer accepts it. accepted: a maintainer checked the source.",
               choices=REVIEW_STATES),
        Column("review_reason", "text", "Which import guard flagged the row, and why."),
        Column("retrieved_at", "datetime", "When an importer fetched the source (UTC); empty for rows typed by "
               "hand."),
    )


def _attention_layout_columns() -> tuple[Column, ...]:
    """Architecture numbers for attention beyond plain MHA/GQA/MLA (names as in the official configs).

    Sliding-window layers keep at most `sliding_window` tokens; hybrid linear attention (Gated DeltaNet) keeps a
    fixed-size state per linear layer and full KV only on every `full_attention_interval`-th layer; DeepSeek Sparse
    Attention adds an FP8 indexer key per token and layer and attends to `index_topk` tokens.
    """
    return (
        Column("sliding_window_layers", "int", "Layers that use the sliding window (the others attend globally); "
               "empty when every layer attends globally.", minimum=0, maximum=1000),
        Column("full_attention_interval", "int", "Hybrid linear attention: every N-th layer is full attention, the "
               "others linear (Gated DeltaNet).", minimum=1, maximum=1000),
        Column("linear_num_key_heads", "int", "Linear-attention (Gated DeltaNet) query/key heads.", minimum=1,
               maximum=10_000),
        Column("linear_num_value_heads", "int", "Linear-attention (Gated DeltaNet) value heads.", minimum=1,
               maximum=10_000),
        Column("linear_key_head_dim", "int", "Linear-attention key head dimension.", minimum=1, maximum=10_000),
        Column("linear_value_head_dim", "int", "Linear-attention value head dimension.", minimum=1, maximum=10_000),
        Column("linear_conv_kernel_dim", "int", "Linear-attention short convolution width.", minimum=1, maximum=1000),
        Column("attn_output_gate", "bool", "Gated attention (Qwen3-Next, Qwen3.5): the query projection also yields "
               "a per-head output gate, so it is twice as wide (config key attn_output_gate / Megatron "
               "--attention-output-gate)."),
        Column("shared_expert_intermediate_size", "int", "MoE shared expert width when it differs from "
               "moe_intermediate_size (Qwen MoE configs name it); empty = moe_intermediate_size.", minimum=1,
               maximum=1_000_000),
        Column("index_n_heads", "int", "DeepSeek Sparse Attention indexer heads.", minimum=1, maximum=10_000),
        Column("index_head_dim", "int", "DeepSeek Sparse Attention indexer key dimension.", minimum=1,
               maximum=10_000),
        Column("index_topk", "int", "DeepSeek Sparse Attention: key-value tokens selected per query token.",
               minimum=1, maximum=100_000_000),
        Column("compress_ratios", "text", "DeepSeek-V4 hybrid attention: the config's per-layer compress_ratios, "
               "';'-separated (0 = sliding window only, 4 = compressed sparse attention with the indexer, 128 = "
               "heavily compressed attention); the config lists one entry more than num_layers, for the "
               "multi-token-prediction layer."),
        Column("o_groups", "int", "DeepSeek-V4 grouped output projection: head groups, each projected to "
               "o_lora_rank before one mixing projection to hidden_size.", minimum=1, maximum=10_000),
        Column("o_lora_rank", "int", "DeepSeek-V4 grouped output projection: width of each group's projection.",
               minimum=1, maximum=1_000_000),
        Column("hc_mult", "int", "DeepSeek-V4 manifold-constrained hyper-connections: residual streams per token "
               "(each layer mixes them with small learned projections).", minimum=1, maximum=64),
        Column("mtp_params_b", "float", "Multi-token-prediction module weights, billions (loaded only when an "
               "engine uses it for speculative decoding).", minimum=0, maximum=5000),
        Column("attention_not_modelled", "text", "What is missing to compute this model's attention memory (e.g. an "
               "unpublished compressed-attention layout); the planner says 'not modelled: <this>'."),
    )


VENDORS = ("Alibaba", "DeepSeek", "Meta", "Mistral AI", "01.AI", "Google", "OpenAI", "Anthropic")
VARIANTS = ("base", "instruct", "reasoning", "coder", "math", "vision")
CATEGORIES = (
    "knowledge", "coding", "math", "reasoning", "multilingual", "chinese", "instruction", "agentic",
    "long-context", "vision",
)
PROVENANCES = TIERS + LEGACY_SCORE_PROVENANCES
# A score's mode: the same weights give different numbers thinking and not thinking, so the mode is a dimension of
# the score, not a disagreement between sources. n.a. = the source states no mode for a model that has modes.
SCORE_MODES = ("thinking", "non-thinking", "base", "n.a.")
# The modes a chart or matrix is drawn in; a row whose source states no mode (n.a.) counts in each of them.
CHART_SCORE_MODES = tuple(mode for mode in SCORE_MODES if mode != "n.a.")

MODELS = Table(
    "models",
    "One row per model (open weights or API-only).",
    (
        Column("model_id", "text", "Hugging Face repo id, or vendor/api-name for API-only models.", required=True),
        Column("display_name", "text", "Name shown in the UI.", required=True),
        Column("family", "text", "Release family, e.g. Qwen2.5, DeepSeek-V3.", required=True),
        Column("vendor", "enum", "Who publishes the model.", required=True, choices=VENDORS),
        Column("variant", "enum", "Kind of checkpoint.", required=True, choices=VARIANTS),
        Column("reasoning", "enum", "Thinks before answering: no, yes, or hybrid (switchable).",
               choices=("no", "yes", "hybrid")),
        Column("release_date", "date", "First public release."),
        Column("open_weights", "bool", "Weights downloadable.", required=True),
        Column("params_total_b", "float", "Total parameters, billions.", minimum=0.01, maximum=5000,
               label="params total (B)"),
        Column("params_active_b", "float", "Parameters active per token, billions (dense: = total).",
               minimum=0.01, maximum=5000, label="params active (B)"),
        Column("architecture", "enum", "Dense or mixture-of-experts.", choices=("dense", "moe")),
        Column("attention", "enum", "Attention type; decides the KV-cache formula.",
               choices=("mha", "gqa", "mqa", "mla")),
        Column("context_length", "int", "Officially stated context window, tokens.", minimum=512,
               maximum=100_000_000, label="context (tokens)"),
        Column("license_id", "text", "Key into licenses; empty when no license statement with a tier was found "
               "(license_provenance: when the statement that this license governs the model is in another "
               "document than the row's).", references=("licenses", "license_id")),
        Column("modalities", "text", "Input modalities, ;-separated."),
        Column("languages", "text", "Officially stated language coverage."),
        Column("base_model_id", "text", "Base or parent model in the catalog.", references=("models", "model_id")),
        *_source_columns(),
        Column("notes", "text", "Free text."),
        Column("context_length_extended", "int", "Officially stated context with the vendor's extension method "
               "(YaRN, DCA...), tokens; empty when none is stated.", minimum=512, maximum=100_000_000,
               label="extended context (tokens)"),
        Column("max_output_tokens", "int", "Officially stated maximum output length, tokens.", minimum=1,
               maximum=100_000_000, label="max output (tokens)"),
        *_provenance_columns(),
        *_PARAMS_SOURCE_COLUMNS,
        *_CONTEXT_SOURCE_COLUMNS,
        *_LICENSE_SOURCE_COLUMNS,
    ),
    key=("model_id",),
)

ARCHITECTURES = Table(
    "architectures",
    "Architecture numbers from the official config.json or paper; the memory planner depends on them.",
    (
        Column("model_id", "text", "Model.", required=True, references=("models", "model_id")),
        Column("num_layers", "int", "Transformer layers (num_hidden_layers).", minimum=1, maximum=1000),
        Column("hidden_size", "int", "Model width.", minimum=1, maximum=1_000_000),
        Column("num_attention_heads", "int", "Query heads.", minimum=1, maximum=10_000),
        Column("num_kv_heads", "int", "Key/value heads (GQA); equals heads for MHA.", minimum=1, maximum=10_000),
        Column("head_dim", "int", "Per-head dimension.", minimum=1, maximum=10_000),
        Column("intermediate_size", "int", "Dense MLP width.", minimum=1, maximum=10_000_000),
        Column("vocab_size", "int", "Vocabulary size.", minimum=1, maximum=10_000_000),
        Column("tie_word_embeddings", "bool", "Input and output embeddings shared."),
        Column("max_position_embeddings", "int", "Config's maximum positions.", minimum=1, maximum=100_000_000),
        Column("sliding_window", "int", "Local attention window, tokens.", minimum=1, maximum=100_000_000),
        Column("torch_dtype", "text", "Dtype of the released weights."),
        Column("n_routed_experts", "int", "MoE routed experts per layer.", minimum=1, maximum=100_000),
        Column("n_shared_experts", "int", "MoE always-on shared experts.", minimum=0, maximum=1000),
        Column("experts_per_token", "int", "Routed experts chosen per token.", minimum=1, maximum=1000),
        Column("moe_intermediate_size", "int", "Width of one expert's MLP.", minimum=1, maximum=10_000_000),
        Column("first_k_dense", "int", "Leading layers with a dense MLP instead of MoE.", minimum=0, maximum=1000),
        Column("kv_lora_rank", "int", "MLA compressed KV rank.", minimum=1, maximum=100_000),
        Column("qk_rope_head_dim", "int", "MLA decoupled RoPE key dimension.", minimum=1, maximum=10_000),
        Column("qk_nope_head_dim", "int", "MLA non-RoPE query/key head dimension.", minimum=1, maximum=10_000),
        Column("v_head_dim", "int", "MLA value head dimension.", minimum=1, maximum=10_000),
        Column("q_lora_rank", "int", "MLA compressed query rank.", minimum=1, maximum=100_000),
        *_attention_layout_columns(),
        *_source_columns(),
        Column("notes", "text", "Free text (derived values say how they were derived)."),
        *_import_columns(),
        *_provenance_columns(),
    ),
    key=("model_id",),
)

BENCHMARKS = Table(
    "benchmarks",
    "What each benchmark measures.",
    (
        Column("benchmark_id", "text", "Lower-case id, e.g. mmlu-pro.", required=True),
        Column("name", "text", "Display name.", required=True),
        Column("category", "enum", "Skill the benchmark tests.", required=True, choices=CATEGORIES),
        Column("metric", "text", "What the number is: accuracy, pass@1, win rate, rating.", required=True),
        Column("unit", "enum", "percent (0-100), score, or rating.", required=True,
               choices=("percent", "score", "rating")),
        Column("higher_is_better", "bool", "Direction of the metric.", required=True),
        Column("description", "text", "What it measures, in plain words."),
        Column("url", "url", "Paper or official site."),
    ),
    key=("benchmark_id",),
    sourced=False,
)

SCORES = Table(
    "scores",
    "Published and locally measured benchmark results.",
    (
        Column("model_id", "text", "Model.", required=True, references=("models", "model_id")),
        Column("benchmark_id", "text", "Benchmark.", required=True, references=("benchmarks", "benchmark_id")),
        Column("value", "float", "The result, in the benchmark's unit (percent as 0-100).", required=True,
               minimum=-1_000_000, maximum=1_000_000),
        Column("setting", "text", "How it was run: shots, CoT, thinking mode, pass@k."),
        Column("provenance", "enum", "Tier: official (published by a vendor, read directly; measured_by names "
               "another vendor that ran it), official-copy, derived, secondary, or measured (this project's runs). "
               "Legacy: third-party, local-run.", required=True, choices=PROVENANCES),
        *_source_columns(),
        Column("notes", "text", "Free text."),
        *_provenance_columns()[1:],
        Column("measured_by", "text", "Who ran the benchmark when it is not the model's vendor (an official report "
               "of another vendor, e.g. DeepSeek measuring Qwen2.5-72B); empty: the model's vendor."),
        Column("mode", "enum", "thinking, non-thinking, base (a base checkpoint) or n.a. (the source states no "
               "mode). Empty: the build derives it from the setting and the model (mode_source = derived).",
               choices=SCORE_MODES),
        Column("mode_source", "enum", "stated (the row's mode cell) or derived (filled by the build's stated "
               "rule); written by the build, leave empty.", choices=("stated", "derived")),
    ),
    key=("model_id", "benchmark_id", "setting", "mode", "source_url", "source_location"),
)

LICENSES = Table(
    "licenses",
    "Licenses and their real conditions.",
    (
        Column("license_id", "text", "Key, e.g. apache-2.0, qwen, llama-3.1.", required=True),
        Column("name", "text", "Full name.", required=True),
        Column("url", "url", "The license text."),
        Column("commercial_use", "enum", "yes, conditional or no; empty until the license text was read.",
               choices=("yes", "conditional", "no")),
        Column("conditions", "text", "The conditions that matter, e.g. a monthly-active-user threshold."),
        Column("attribution_required", "bool", "Must derivatives or products credit the model."),
        Column("summary", "text", "Plain-words summary."),
        Column("source_url", "url", "Where the terms were read.", required=True),
        Column("as_of", "date", "Date of the version read.", required=True),
        Column("user_threshold_mau", "int", "Monthly active users above which the license requires a separate "
               "license from the licensor; empty when the license has no such threshold.", minimum=1,
               maximum=100_000_000_000, label="user threshold (MAU)"),
        Column("source_location", "text", "Where in the license text (section).", label="where in source"),
        *_provenance_columns(),
    ),
    key=("license_id",),
)

PRICES = Table(
    "prices",
    "Official API prices; a change is a new row, history is kept.",
    (
        Column("provider", "text", "Who sells the API.", required=True),
        Column("model_id", "text", "Catalog model served under this API name at that time.", required=True,
               references=("models", "model_id")),
        Column("provider_model", "text", "The provider's API model name.", required=True),
        Column("tier", "text", "Condition the price applies to (input length band, off-peak...)."),
        Column("input_usd_per_mtok", "float", "USD per million input tokens.", minimum=0, maximum=1000,
               label="input $/Mtok"),
        Column("cached_input_usd_per_mtok", "float", "USD per million cache-hit input tokens.", minimum=0,
               maximum=1000, label="cached input $/Mtok"),
        Column("output_usd_per_mtok", "float", "USD per million output tokens.", minimum=0, maximum=1000,
               label="output $/Mtok"),
        Column("effective_from", "date", "Date the price took effect.", required=True),
        *_source_columns(),
        Column("notes", "text", "Free text."),
        Column("context_length", "int", "Context window this provider serves at this price, tokens (may be "
               "shorter than the model's).", minimum=512, maximum=100_000_000, label="served context (tokens)"),
        *_import_columns(),
        *_provenance_columns(),
    ),
    key=("provider", "provider_model", "tier", "effective_from"),
)

SERVED_MODELS = Table(
    "served_models",
    "Which model an API offering (provider + API model name) served in each period: the offering is not the model.",
    (
        Column("provider", "text", "Who sells the API.", required=True),
        Column("provider_model", "text", "The provider's API model name, e.g. deepseek-chat.", required=True),
        Column("model_id", "text", "Catalog model served under that name in this period.", required=True,
               references=("models", "model_id")),
        Column("mode", "enum", "The mode the name serves the model in (deepseek-chat: non-thinking; "
               "deepseek-reasoner: thinking); n.a. for models without modes.", required=True,
               choices=SCORE_MODES),
        Column("served_from", "date", "First day of the period.", required=True),
        Column("served_until", "date", "First day the name no longer served this model (empty: still served, or "
               "until the next period of the same name)."),
        *_source_columns(),
        Column("notes", "text", "Free text."),
        *_provenance_columns(),
    ),
    key=("provider", "provider_model", "served_from"),
)

GPUS = Table(
    "gpus",
    "Accelerators for the planner, from vendor datasheets.",
    (
        Column("gpu_id", "text", "Key, e.g. h100-sxm.", required=True),
        Column("name", "text", "Product name.", required=True),
        Column("vendor", "text", "Maker.", required=True),
        Column("memory_gb", "float", "Memory, GB.", required=True, minimum=1, maximum=10_000),
        Column("memory_bandwidth_gbps", "float", "Memory bandwidth, GB/s.", minimum=1, maximum=1_000_000,
               label="bandwidth (GB/s)"),
        Column("bf16_tflops_dense", "float", "Dense BF16 tensor TFLOPS.", minimum=0.1, maximum=100_000),
        Column("fp8_tflops_dense", "float", "Dense FP8 tensor TFLOPS.", minimum=0.1, maximum=100_000),
        Column("form_factor", "text", "SXM, PCIe, ..."),
        Column("tdp_w", "float", "Max power, W.", minimum=1, maximum=100_000),
        *_source_columns(),
        Column("notes", "text", "Free text."),
        Column("int8_tops_dense", "float", "Dense INT8 tensor TOPS.", minimum=0.1, maximum=100_000),
        Column("interconnect", "text", "GPU-to-GPU link and its bandwidth as the datasheet states it "
               "(NVLink 900 GB/s, PCIe Gen5 128 GB/s...)."),
        *_provenance_columns(),
    ),
    key=("gpu_id",),
)

_MS = {"minimum": 0, "maximum": 86_400_000}

MEASUREMENTS = Table(
    "measurements",
    "One summary row per measured configuration (written by the measurement harness).",
    (
        Column("run_id", "text", "Unique id of the measured configuration.", required=True),
        Column("model_id", "text", "Model measured.", required=True, references=("models", "model_id")),
        Column("engine", "text", "Serving engine (vllm, transformers, ...).", required=True),
        Column("engine_version", "text", "Engine version.", required=True),
        Column("path", "text", "Code path (e.g. eager, static-cache+compile, openai-stream)."),
        Column("hardware", "text", "GPU name as nvidia-smi reports it, or CPU.", required=True),
        Column("gpu_count", "int", "GPUs used.", minimum=0, maximum=1024),
        Column("dtype", "text", "Weights dtype.", required=True),
        Column("quantization", "text", "Quantization scheme, if any."),
        Column("weights", "enum", "official or random-init.", required=True, choices=("official", "random-init")),
        Column("concurrency", "int", "Concurrent requests / batch size.", minimum=1, maximum=1_000_000),
        Column("request_rate_per_s", "float", "Poisson request rate, if used.", minimum=0, maximum=1_000_000),
        Column("input_len", "int", "Prompt tokens per request.", minimum=0, maximum=100_000_000),
        Column("output_len", "int", "Requested output tokens per request.", minimum=0, maximum=100_000_000),
        Column("requests_ok", "int", "Completed requests.", required=True, minimum=0, maximum=100_000_000),
        Column("requests_failed", "int", "Failed requests (never averaged in).", required=True, minimum=0,
               maximum=100_000_000),
        Column("ttft_ms_p50", "float", "Time to first token, median, ms.", **_MS),
        Column("ttft_ms_p95", "float", "Time to first token, p95, ms.", **_MS),
        Column("ttft_ms_p99", "float", "Time to first token, p99, ms.", **_MS),
        Column("tpot_ms_p50", "float", "Time per output token after the first, median, ms.", **_MS),
        Column("tpot_ms_p95", "float", "Time per output token, p95, ms.", **_MS),
        Column("tpot_ms_p99", "float", "Time per output token, p99, ms.", **_MS),
        Column("itl_ms_p50", "float", "Inter-token latency, median, ms.", **_MS),
        Column("itl_ms_p95", "float", "Inter-token latency, p95, ms.", **_MS),
        Column("itl_ms_p99", "float", "Inter-token latency, p99, ms.", **_MS),
        Column("e2e_ms_p50", "float", "End-to-end latency, median, ms.", **_MS),
        Column("e2e_ms_p95", "float", "End-to-end latency, p95, ms.", **_MS),
        Column("e2e_ms_p99", "float", "End-to-end latency, p99, ms.", **_MS),
        Column("output_tokens_per_s", "float", "Sum of output tokens / benchmark wall time.", minimum=0,
               maximum=100_000_000, label="output tok/s"),
        Column("total_tokens_per_s", "float", "(input + output tokens) / wall time.", minimum=0,
               maximum=1_000_000_000),
        Column("prefill_tokens_per_s", "float", "Prompt tokens processed per second (local runs).", minimum=0,
               maximum=1_000_000_000),
        Column("peak_memory_gb", "float", "Peak accelerator memory, GB.", minimum=0, maximum=100_000),
        Column("kv_cache_bytes_per_token", "float", "Measured KV-cache bytes per token.", minimum=0,
               maximum=1_000_000_000),
        Column("token_source", "enum", "Where token counts came from: the server's usage, a tokenizer count, both "
               "(mixed), or fixed-length token tensors (local runs, counts exact by construction).",
               choices=("server-usage", "tokenizer", "mixed", "fixed-length")),
        Column("duration_s", "float", "Benchmark wall time, seconds.", minimum=0, maximum=10_000_000),
        Column("measured_at", "datetime", "When the run finished (UTC).", required=True),
        Column("command", "text", "The command that produced the row."),
        Column("notes", "text", "Free text."),
        # Added by the measurement harness (issue 6); all optional, so older files stay valid.
        Column("status", "enum", "complete, or why the run stopped early: interrupted (Ctrl-C) or time-limit; the "
               "row then covers only the requests that completed.", choices=("complete", "interrupted", "time-limit")),
        Column("warmup_requests", "int", "Requests sent before measuring and never recorded.", minimum=0,
               maximum=1_000_000),
        Column("input_len_method", "text", "How prompts of input_len tokens were made (exact with a tokenizer, or "
               "how the length was approximated)."),
        Column("input_tokens_mean", "float", "Mean prompt tokens of the successful requests as counted (server "
               "usage or tokenizer).", minimum=0, maximum=100_000_000),
        Column("output_tokens_mean", "float", "Mean output tokens of the successful requests.", minimum=0,
               maximum=100_000_000),
        Column("ttfat_ms_p50", "float", "Time to the first answer (non-reasoning) token, median, ms.", **_MS),
        Column("kv_cache_formula_bytes_per_token", "float", "The planner's KV-cache formula for this model "
               "(modelmatch/planning/memory.py), bytes per token.", minimum=0, maximum=1_000_000_000),
        Column("kv_cache_measured_to_formula", "float", "kv_cache_bytes_per_token / kv_cache_formula_bytes_per_token.",
               minimum=0, maximum=1_000_000),
        Column("memory_bandwidth_gbps", "float", "Memory bandwidth the roofline used, GB/s (the notes say whose).",
               minimum=0, maximum=1_000_000),
        Column("roofline_tokens_per_s", "float", "Decode roofline for this batch: bandwidth / bytes read per step "
               "(weights touched + KV cache).", minimum=0, maximum=1_000_000_000),
        Column("roofline_fraction", "float", "output_tokens_per_s / roofline_tokens_per_s.", minimum=0,
               maximum=1000),
        Column("copy_bandwidth_gbps", "float", "Memory bandwidth a device-to-device copy reached in the same run, "
               "GB/s (bytes read + written; the notes say how it was timed).", minimum=0, maximum=1_000_000),
        Column("copy_roofline_tokens_per_s", "float", "The decode roofline on copy_bandwidth_gbps instead of the "
               "datasheet bandwidth.", minimum=0, maximum=1_000_000_000),
        Column("copy_roofline_fraction", "float", "output_tokens_per_s / copy_roofline_tokens_per_s.", minimum=0,
               maximum=1000),
        Column("gpu_driver", "text", "GPU driver version as nvidia-smi reports it."),
        # Published measurements (a vendor's own benchmark tables) enter through the normal build with their source.
        Column("peak_memory_scope", "enum", "What peak_memory_gb covers: one GPU, or the sum over all GPUs used "
               "(a script that adds torch.cuda.max_memory_allocated of every device), or end-of-generation: one "
               "GPU's figure that equals the weights plus the cache of prompt and generated tokens and sits below the "
               "lowest peak an unchunked prefill can reach, so the prompt's forward pass is not in it (notes give the "
               "arithmetic).",
               choices=("per-gpu", "sum-over-gpus", "end-of-generation")),
        Column("source_url", "url", "Published measurement: the page the row was transcribed from."),
        Column("source_location", "text", "Published measurement: table and row in the source.",
               label="where in source"),
        Column("as_of", "date", "Published measurement: date of the source version read."),
        *_provenance_columns(),
    ),
    key=("run_id",),
    sourced=False,
)

MEASUREMENT_REQUESTS = Table(
    "measurement_requests",
    "One row per measured request (raw data behind a measurements row).",
    (
        Column("run_id", "text", "Summary row.", required=True, references=("measurements", "run_id")),
        Column("request_index", "int", "Order of the request in the run.", required=True, minimum=0,
               maximum=100_000_000),
        Column("ok", "bool", "Completed without error.", required=True),
        Column("error", "text", "Error message when it failed (never a key)."),
        Column("input_tokens", "int", "Prompt tokens.", minimum=0, maximum=100_000_000),
        Column("output_tokens", "int", "Output tokens.", minimum=0, maximum=100_000_000),
        Column("reasoning_tokens", "int", "Output tokens spent thinking.", minimum=0, maximum=100_000_000),
        Column("ttft_ms", "float", "Time to first content chunk, ms.", **_MS),
        Column("ttfat_ms", "float", "Time to first answer (non-reasoning) token, ms.", **_MS),
        Column("tpot_ms", "float", "(latency - ttft) / (output_tokens - 1), ms.", **_MS),
        Column("e2e_ms", "float", "Request latency, ms.", **_MS),
        Column("itl_ms", "text", "Gaps between content chunks, ms, ;-separated."),
        Column("started_at_s", "float", "Start offset from the run's start, seconds.", minimum=0,
               maximum=10_000_000),
        Column("token_source", "enum", "Where this request's token counts came from.",
               choices=("server-usage", "tokenizer", "fixed-length")),
        Column("connect_ms", "float", "Starting the request -> the request handed to the kernel (connection setup, "
               "TLS); TTFT and E2E are timed from that send.", **_MS),
    ),
    key=("run_id", "request_index"),
    sourced=False,
)

USE_CASE_CATEGORIES = CATEGORIES + ("cost", "speed")

USE_CASE_WEIGHTS = Table(
    "use_case_weights",
    "The recommendation wizard's weights: for each use case, how much each benchmark category, cost and speed "
    "count. Product judgments, not measurements: each row says why.",
    (
        Column("use_case", "text", "Use-case id, e.g. math-science-reasoning.", required=True),
        Column("label", "text", "Use case as the wizard shows it.", required=True),
        Column("category", "enum", "A benchmark category, or cost or speed.", required=True,
               choices=USE_CASE_CATEGORIES),
        Column("weight", "float", "Share of the use case's score (a use case's weights are normalised to sum to 1).",
               required=True, minimum=0, maximum=1),
        Column("rationale", "text", "Why this category matters this much for this use case.", required=True),
        Column("seed_reference", "text", "Where the use case comes from (the article in shared/seeds naming it)."),
    ),
    key=("use_case", "category"),
    sourced=False,
)

# Order matters: a table is validated after the tables it references.
TABLES: tuple[Table, ...] = (
    LICENSES, MODELS, ARCHITECTURES, BENCHMARKS, SCORES, PRICES, SERVED_MODELS, GPUS, MEASUREMENTS,
    MEASUREMENT_REQUESTS, USE_CASE_WEIGHTS,
)
TABLE_BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}

# Value bounds that depend on another table: a percent score cannot exceed 100.
PERCENT_MAX = 100.0
PRICE_MAX_USD_PER_MTOK = 1000.0


def ddl(table: Table) -> str:
    cols = ", ".join(f'"{c.name}" {DUCKDB_TYPES[c.kind]}' for c in table.columns)
    return f'CREATE TABLE "{table.name}" ({cols})'
