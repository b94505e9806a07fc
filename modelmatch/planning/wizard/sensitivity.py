"""What would change the answer: the same request re-ranked with the budget doubled, twice the GPUs, or each other
catalog GPU, compared with the answer itself."""

from __future__ import annotations

import dataclasses

from modelmatch.planning.architecture import PlanInputError
from modelmatch.planning.records import DecisionCatalog, ModelInfo
from modelmatch.planning.request import resolve_gpu
from modelmatch.planning.speed import match_hardware
from modelmatch.planning.wizard.ranking import rank_order
from modelmatch.planning.wizard.request import WizardRequest
from modelmatch.planning.wizard.results import Candidate, SensitivityCase


def sensitivity_cases(request: WizardRequest, catalog: DecisionCatalog, base: list[Candidate]) -> list[SensitivityCase]:
    cases: list[tuple[str, WizardRequest]] = []
    if request.budget_usd_per_month is not None:
        cases.append((f"budget doubled to ${request.budget_usd_per_month * 2:,.0f}",
                      dataclasses.replace(request, budget_usd_per_month=request.budget_usd_per_month * 2)))
    if request.deployment != "api" and (request.gpu or request.custom_gpu_memory_gb is not None):
        if request.custom_gpu_memory_gb is not None:
            cases.append((f"device memory doubled to {request.custom_gpu_memory_gb * 2:g} GB",
                          dataclasses.replace(request, custom_gpu_memory_gb=request.custom_gpu_memory_gb * 2)))
        else:
            gpu = resolve_gpu(catalog, request.gpu)
            cases.append((f"{request.gpu_count * 2} × {gpu.name} instead of {request.gpu_count}",
                          dataclasses.replace(request, gpu_count=request.gpu_count * 2)))
            for other in catalog.gpus.values():
                if other.gpu_id != gpu.gpu_id:
                    cases.append((f"{request.gpu_count} × {other.name} instead",
                                  dataclasses.replace(request, gpu=other.gpu_id, gpu_bandwidth_gbps=None)))
    base_ids = [c.model_id for c in base]
    base_set = set(base_ids)
    out = []
    ranked_by_gpu: dict[tuple, list[ModelInfo] | None] = {}
    for label, changed in cases:
        # Two catalog GPUs with the same memory and bandwidth that no measured run names (the A100 40GB SXM and
        # PCIe, the H200 SXM and NVL) rank the same: the what-ifs compare only which models rank and in what order,
        # and a GPU enters the ranking through its memory (fit), its bandwidth (roofline) and measured runs on it.
        alike = _ranks_alike(catalog, changed)
        if alike is not None and alike in ranked_by_gpu:
            ranked = ranked_by_gpu[alike]
        else:
            try:
                ranked = rank_order(dataclasses.replace(changed, with_sensitivity=False), catalog)
            except PlanInputError:
                ranked = None
            if alike is not None:
                ranked_by_gpu[alike] = ranked
        if ranked is None:
            # The what-if leaves the range the planner handles (1,024 GPUs doubled, a budget doubled to infinity):
            # there is nothing to compare, and the answer to the request itself stands.
            continue
        ids = [c.model_id for c in ranked]
        # Looked up in sets: a list lookup per model made this quadratic (about 3 s of the what-ifs on a catalog of
        # 5,000 models).
        ranked_now = set(ids)
        added = tuple(i for i in ids if i not in base_set)
        removed = tuple(i for i in base_ids if i not in ranked_now)
        top = ranked[0] if ranked else None
        base_top = base[0].model_id if base else None
        parts = [f"{len(ids)} eligible (now {len(base_ids)})"]
        if added:
            parts.append(f"adds {', '.join(catalog.models[i].display_name for i in added[:5])}"
                         + (f" and {len(added) - 5} more" if len(added) > 5 else ""))
        if removed:
            parts.append(f"drops {', '.join(catalog.models[i].display_name for i in removed[:5])}"
                         + (f" and {len(removed) - 5} more" if len(removed) > 5 else ""))
        if top is None:
            parts.append("no model is left")
        elif top.model_id != base_top:
            parts.append(f"top pick becomes {top.display_name}")
        else:
            parts.append("same top pick")
        out.append(SensitivityCase(label, len(ids), top.model_id if top else None, top.display_name if top else None,
                                   added, removed, "; ".join(parts)))
    return out


def _ranks_alike(catalog: DecisionCatalog, changed: WizardRequest) -> tuple | None:
    """A key shared by the what-ifs on other catalog GPUs that rank the same (same memory and bandwidth, named by
    no measured run); None for any other what-if."""
    if changed.gpu is None or changed.gpu_bandwidth_gbps is not None or changed.custom_gpu_memory_gb is not None:
        return None
    gpu = catalog.gpus.get(changed.gpu)
    if gpu is None or gpu.gpu_id in _measured_gpu_ids(catalog):
        return None
    return (dataclasses.replace(changed, gpu=None), gpu.memory_gb, gpu.memory_bandwidth_gbps)


def _measured_gpu_ids(catalog: DecisionCatalog) -> frozenset[str]:
    """The catalog GPUs some measured run was on (as far as its hardware name tells)."""
    def compute() -> frozenset[str]:
        matched = (match_hardware(catalog, row.hardware) for rows in catalog.measurements.values() for row in rows
                   if row.hardware)
        return frozenset(gpu.gpu_id for gpu in matched if gpu is not None)
    return catalog.derived(("measured_gpu_ids",), compute)
