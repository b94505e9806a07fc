"""`python -m ingest fetch hf-config MODEL_ID... | --missing`: architecture numbers from a model's config.json.

GET {base}/{repo}/resolve/{revision}/config.json. The Hub answers with the commit it served (X-Repo-Commit), so the
row's source_url is pinned to that commit. Field names follow the data contract (num_hidden_layers ->
num_layers, num_key_value_heads -> num_kv_heads, num_experts / num_local_experts -> n_routed_experts, ...);
multimodal configs nest the language model under text_config, which wins over top-level fields.

A model without an architecture row gets one in data/imports/hf-config/architectures.csv (guards can hold it). A
model whose row was typed by hand is never overwritten: the differences (and the blanks config.json could fill)
are listed for a maintainer to copy.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from dataclasses import dataclass
from typing import Any

from ingest.guards import check_architecture, reason_text
from ingest.importers import http
from ingest.importers.core import CurrentData, ImportPlan, Progress, RowChange, iso_utc, quiet, start_plan
from ingest.importers.files import CsvDocument
from ingest.importers.mapping import MappingError, load_mapping, mapping_path
from ingest.importers.units import fmt
from modelmatch.catalog.schema import ARCHITECTURES
from ingest.validate import Problem
from modelmatch import settings

SOURCE = "hf-config"
INT_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("num_layers", ("num_hidden_layers", "n_layer", "num_layers")),
    ("hidden_size", ("hidden_size", "n_embd", "d_model")),
    ("num_attention_heads", ("num_attention_heads", "n_head")),
    ("num_kv_heads", ("num_key_value_heads",)),
    ("head_dim", ("head_dim",)),
    ("intermediate_size", ("intermediate_size",)),
    ("vocab_size", ("vocab_size",)),
    ("max_position_embeddings", ("max_position_embeddings",)),
    ("n_routed_experts", ("n_routed_experts", "num_experts", "num_local_experts")),
    ("n_shared_experts", ("n_shared_experts",)),
    ("experts_per_token", ("num_experts_per_tok",)),
    ("moe_intermediate_size", ("moe_intermediate_size",)),
    ("first_k_dense", ("first_k_dense_replace",)),
    ("kv_lora_rank", ("kv_lora_rank",)),
    ("qk_rope_head_dim", ("qk_rope_head_dim",)),
    ("qk_nope_head_dim", ("qk_nope_head_dim",)),
    ("v_head_dim", ("v_head_dim",)),
    ("q_lora_rank", ("q_lora_rank",)),
    # Hybrid linear attention (Qwen3-Next, Qwen3.5) and DeepSeek Sparse Attention (V3.2): the planner's layouts.
    ("full_attention_interval", ("full_attention_interval",)),
    ("linear_num_key_heads", ("linear_num_key_heads",)),
    ("linear_num_value_heads", ("linear_num_value_heads",)),
    ("linear_key_head_dim", ("linear_key_head_dim",)),
    ("linear_value_head_dim", ("linear_value_head_dim",)),
    ("linear_conv_kernel_dim", ("linear_conv_kernel_dim",)),
    ("shared_expert_intermediate_size", ("shared_expert_intermediate_size",)),
    ("index_n_heads", ("index_n_heads",)),
    ("index_head_dim", ("index_head_dim",)),
    ("index_topk", ("index_topk",)),
)
REQUIRED = ("num_layers", "hidden_size", "num_attention_heads")
VALUE_COLUMNS = [name for name, _ in INT_FIELDS] + ["tie_word_embeddings", "sliding_window", "sliding_window_layers",
                                                    "torch_dtype", "attn_output_gate"]
# Qwen MoE configs name the shared expert only by its width (one shared expert when it is above zero).
ONE_SHARED_EXPERT_MODEL_TYPES = ("qwen2_moe", "qwen3_next", "qwen3_5_moe", "qwen3_5_moe_text")


class SchemaChanged(http.FetchError):
    pass


@dataclass(frozen=True)
class ParsedConfig:
    values: dict[str, Any]
    notes: list[str]
    nested: bool  # language-model fields came from text_config


def parse_config(cfg: Any, url: str) -> ParsedConfig:
    if not isinstance(cfg, dict):
        raise SchemaChanged(f"config.json from {url} changed shape: it is a {type(cfg).__name__}, not an object; "
                            "nothing was written")
    nested = isinstance(cfg.get("text_config"), dict)
    merged = {**cfg, **cfg["text_config"]} if nested else dict(cfg)
    values: dict[str, Any] = {}
    notes: list[str] = []
    for column, names in INT_FIELDS:
        for name in names:
            raw = merged.get(name)
            if raw is None:
                continue
            if isinstance(raw, bool) or not isinstance(raw, int):
                raise SchemaChanged(f"config.json from {url} changed shape: {name} is {raw!r}, expected a whole "
                                    "number; the format changed or this is not a language-model config; nothing was "
                                    "written")
            values[column] = raw
            if name != column and name not in ("num_hidden_layers", "num_key_value_heads", "num_experts_per_tok",
                                               "first_k_dense_replace"):
                notes.append(f"{column} = {name}")
            break
    missing = [c for c in REQUIRED if c not in values]
    if missing:
        raise SchemaChanged(f"config.json from {url} changed shape: it has no {', '.join(missing)} (top-level "
                            f"keys: {', '.join(sorted(cfg)[:15])}); the format changed or this is not a transformer "
                            "language-model config; nothing was written")
    tie = merged.get("tie_word_embeddings")
    if isinstance(tie, bool):
        values["tie_word_embeddings"] = tie
    dtype = merged.get("torch_dtype", merged.get("dtype"))
    if isinstance(dtype, str) and dtype:
        values["torch_dtype"] = dtype
    window = merged.get("sliding_window")
    if isinstance(window, int) and not isinstance(window, bool) and merged.get("use_sliding_window") is not False:
        values["sliding_window"] = window
    elif isinstance(window, int) and not isinstance(window, bool):
        notes.append(f"sliding_window {window} not recorded: use_sliding_window is false")
    layer_types = merged.get("layer_types")
    if isinstance(layer_types, list) and all(isinstance(t, str) for t in layer_types):
        sliding = sum(1 for t in layer_types if t == "sliding_attention")
        if sliding and "sliding_window" in values:
            values["sliding_window_layers"] = sliding
            notes.append(f"sliding_window_layers = {sliding} layer_types entries 'sliding_attention'")
    mla = "kv_lora_rank" in values
    if "num_kv_heads" not in values and not mla:
        values["num_kv_heads"] = values["num_attention_heads"]
        notes.append("no num_key_value_heads: multi-head attention, num_kv_heads = num_attention_heads")
    if "head_dim" not in values and not mla and values["hidden_size"] % values["num_attention_heads"] == 0:
        values["head_dim"] = values["hidden_size"] // values["num_attention_heads"]
        notes.append("head_dim derived as hidden_size / num_attention_heads (config has no head_dim)")
    if "num_local_experts" in merged and "moe_intermediate_size" not in values and "intermediate_size" in values:
        values["moe_intermediate_size"] = values["intermediate_size"]
        notes.append("moe_intermediate_size = intermediate_size (each of num_local_experts is a full MLP)")
    shared = merged.get("shared_expert_intermediate_size")
    model_type = merged.get("model_type")
    if model_type in ONE_SHARED_EXPERT_MODEL_TYPES and isinstance(shared, int) and shared > 0 \
            and "n_shared_experts" not in values:
        values["n_shared_experts"] = 1
        notes.append(f"n_shared_experts = 1: {model_type} has one shared expert (shared_expert_intermediate_size "
                     f"{shared})")
    gate = merged.get("attn_output_gate")
    if isinstance(gate, bool):
        values["attn_output_gate"] = gate
    elif model_type == "qwen3_next" and "full_attention_interval" in values:
        # Qwen3-Next's config has no key for it: its attention is always gated (the query projection also yields
        # the per-head output gate).
        values["attn_output_gate"] = True
        notes.append("attn_output_gate = true: Qwen3-Next's full-attention layers are gated attention")
    return ParsedConfig(values, notes, nested)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return fmt(value) if isinstance(value, int) else str(value)


def _differences(new: dict[str, Any], old: dict[str, Any]) -> tuple[list[str], list[str]]:
    differs, fills = [], []
    for column in VALUE_COLUMNS:
        if column not in new:
            continue
        if old.get(column) is None:
            fills.append(f"{column}={_cell(new[column])}")
        elif old[column] != new[column]:
            differs.append(f"{column} {_cell(old[column])} -> {_cell(new[column])}")
    return differs, fills


def resolve_targets(current: CurrentData, model_ids: list[str], missing_only: bool) -> list[str]:
    models = current.models
    if missing_only:
        have = {r.values["model_id"] for r in current.rows("architectures")}
        return sorted(m for m, v in models.items() if v.get("open_weights") and m not in have)
    problems = []
    for model_id in model_ids:
        if model_id not in models:
            close = [m for m in models if m.lower() == model_id.lower()]
            hint = f" (did you mean {close[0]}?)" if close else " (add it to data/models first)"
            problems.append(Problem("command line", 0, "model_id", f"{model_id!r} is not in data/models{hint}"))
        elif not models[model_id].get("open_weights"):
            problems.append(Problem("command line", 0, "model_id", f"{model_id!r} is API-only (open_weights false):"
                                                                   " it has no config.json"))
    if problems:
        raise MappingError(problems)
    return list(dict.fromkeys(model_ids))


def fetch(data_dir, current: CurrentData, model_ids: list[str], missing_only: bool = False,
          revision: str | None = None, skip_failed: bool = False, progress: Progress = quiet,
          clock=None) -> ImportPlan | None:
    base = settings.get("huggingface_base_url").rstrip("/")
    http.check_base_url(base, "MODELMATCH_HUGGINGFACE_BASE_URL")
    token = settings.get("huggingface_token").strip()
    limits = http.FetchLimits(settings.fetch_timeout_s(), settings.fetch_max_bytes(),
                              {"Authorization": f"Bearer {token}"} if token else {})
    models = current.models
    mapping = load_mapping(data_dir, SOURCE, set(models))
    repo_for = {e.model_id: e for e in mapping.values()}
    targets = resolve_targets(current, model_ids, missing_only)
    if not targets:
        progress("nothing to fetch: every open-weights model already has an architecture row")
        return None
    arch_rows = {r.values["model_id"]: r for r in current.rows("architectures")}
    path = data_dir / "imports" / SOURCE / "architectures.csv"
    own_rel = current.rel(path) if path.exists() else None
    doc = CsvDocument.load(path, ARCHITECTURES.column_names)
    plan: ImportPlan | None = None
    failures: list[str] = []
    for index, model_id in enumerate(targets, start=1):
        entry = repo_for.get(model_id)
        repo = entry.external_id if entry else model_id
        rev = revision or (entry.revision if entry and entry.revision else "main")
        url = f"{base}/{urllib.parse.quote(repo, safe='/')}/resolve/{urllib.parse.quote(rev, safe='')}/config.json"
        progress(f"[{index}/{len(targets)}] GET {url}")
        try:
            response = http.get(url, limits, clock=clock)
            parsed = parse_config(http.parse_json(response, "config.json"), url)
        except http.FetchError as exc:
            if not skip_failed:
                raise
            failures.append(f"{model_id}: {exc}")
            progress(f"  failed (skipped): {exc}")
            continue
        commit = response.header("x-repo-commit") or ""
        progress(f"  ok: {len(parsed.values)} fields" + (f", commit {commit[:12]}" if commit else ""))
        if plan is None:
            plan = start_plan(SOURCE, data_dir, response.retrieved_at, [],
                              current.rel(mapping_path(data_dir, SOURCE)), len(mapping), current)
            plan.documents["architectures"] = doc
            plan.maps_ids = False
        plan.urls.append(url)
        today = response.retrieved_at.astimezone(dt.timezone.utc).date()
        pinned = f"{base}/{repo}/blob/{commit}/config.json" if commit else f"{base}/{repo}/blob/{rev}/config.json"
        existing = arch_rows.get(model_id)
        new = parsed.values
        if existing is not None and existing.file != own_rel:
            differs, fills = _differences(new, existing.values)
            findings = check_architecture(new, existing.values)
            where = f"{existing.file}:{existing.line}"
            if differs or fills:
                text = f"{model_id} ({where}, typed by hand; not changed): config.json at {pinned}"
                if differs:
                    text += " differs: " + ", ".join(differs)
                if fills:
                    text += ("; it" if differs else "") + " could fill blanks: " + ", ".join(fills)
                if findings:
                    text += f" [guards: {reason_text(findings)}]"
                plan.facts.append(text)
            plan.changes.append(RowChange("unchanged", model_id, model_id, file_line=where,
                                          after="differs from config.json: see notes" if differs else ""))
            continue
        findings = check_architecture(new, existing.values if existing is not None else None)
        notes = "; ".join(parsed.notes)
        values = {"model_id": model_id, **{c: _cell(new.get(c)) for c in VALUE_COLUMNS},
                  "source_url": pinned,
                  "source_location": "config.json" + (" (text_config)" if parsed.nested else ""),
                  "as_of": today.isoformat(),
                  "notes": (f"Imported by `python -m ingest fetch hf-config` on {today}" +
                            (f" from revision {rev}" if rev != "main" else "") + (f". {notes}." if notes else ".")),
                  "review": "held" if findings else "", "review_reason": reason_text(findings),
                  "retrieved_at": iso_utc(response.retrieved_at),
                  # The vendor's own repository read at a pinned commit is tier official; a config fetched from
                  # another account is left without a tier for the maintainer to judge (the build warns).
                  "provenance": "official" if repo.split("/")[0] == model_id.split("/")[0] else ""}
        if existing is None:
            record = doc.append(values)
            plan.changes.append(RowChange("held" if findings else "new", model_id, model_id,
                                          after=_summary(new), reason=reason_text(findings), _record=record))
            continue
        record = doc.at_line(existing.line)
        differs, _ = _differences(new, existing.values)
        if differs and findings and existing.values.get("review") != "held":
            # Rejecting a held update would delete the row and lose the values in use: keep the applied row.
            plan.skipped.append(f"{model_id}: config.json at {pinned} changed ({', '.join(differs)}) and the guards "
                                f"would hold it ({reason_text(findings)}); {existing.file}:{existing.line} keeps the "
                                "values in use: check the config and edit the row by hand if the change is real")
            continue
        if not differs and existing.values.get("review") != "held":
            if record is not None:
                doc.update(record, {"as_of": today.isoformat(), "retrieved_at": iso_utc(response.retrieved_at),
                                    "source_url": pinned})
            plan.changes.append(RowChange("unchanged", model_id, model_id, file_line=f"{existing.file}:"
                                                                                     f"{existing.line}"))
            continue
        if record is not None:
            doc.update(record, values)
        plan.changes.append(RowChange("held" if findings else "changed", model_id, model_id,
                                      before=", ".join(differs), after=_summary(new), reason=reason_text(findings),
                                      _record=record))
    if plan is None:
        raise http.FetchError("every config.json failed:\n  " + "\n  ".join(failures))
    plan.skipped += failures
    return plan


def _summary(values: dict[str, Any]) -> str:
    keys = ("num_layers", "hidden_size", "num_attention_heads", "num_kv_heads", "head_dim", "n_routed_experts",
            "kv_lora_rank", "max_position_embeddings")
    return ", ".join(f"{k} {_cell(values[k])}" for k in keys if k in values)
