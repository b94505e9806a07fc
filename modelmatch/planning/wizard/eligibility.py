"""Hard constraints: each model is excluded with its reasons (base checkpoint, modality, context, license,
no viable deployment, budget) or kept as eligible with what is confirmed and what cannot be."""

from __future__ import annotations

import re
from dataclasses import dataclass

from modelmatch.planning.records import DecisionCatalog, LicenseInfo, ModelInfo
from modelmatch.planning.wizard.options import DeploymentOption, api_option, self_host_option
from modelmatch.planning.wizard.request import WizardContext
from modelmatch.planning.wizard.results import Deployment, Exclusion, Unverified

MAU_LIMIT_USER = 100_000_000  # the wizard's question: "more than 100 million monthly active users?"


_MAU_RE = re.compile(r"(?:more than|over|exceeds?|above)\s+([\d.,]+)\s*(million|billion|m|b)\b(?=[^.;]{0,60}?"
                     r"monthly active users)", re.IGNORECASE)


def mau_thresholds(conditions: str | None) -> list[int]:
    """Monthly-active-user thresholds a license's conditions text states ("more than 700 million ...")."""
    out = []
    for number, unit in _MAU_RE.findall(conditions or ""):
        value = float(number.replace(",", ""))
        out.append(int(value * (1e9 if unit.lower() in ("billion", "b") else 1e6)))
    return out


def _license_checks(model: ModelInfo, lic: LicenseInfo | None, needs) -> tuple[list[str], list[str], list[str]]:
    """(reasons to exclude, unverified requirements, confirmed requirements)."""
    reasons, unverified, confirmed = [], [], []
    if lic is None:
        unverified.append(Unverified("license", "no license in the catalog for this model: check its terms before use"))
        return reasons, unverified, confirmed
    if needs.commercial_use:
        if lic.commercial_use == "no":
            reasons.append(f"license {lic.name} does not allow commercial use")
        elif lic.commercial_use is None:
            unverified.append(Unverified("license", (
                f"commercial-use terms of {lic.name} are not transcribed in the catalog; read "
                f"{lic.url or lic.source_url} before shipping")))
        else:
            confirmed.append(f"commercial use: {lic.commercial_use} ({lic.name})")
    if needs.over_100m_monthly_users:
        limits = mau_thresholds(lic.conditions)
        low = [t for t in limits if t <= MAU_LIMIT_USER]
        if low:
            reasons.append(f"{lic.name} requires a separate license above {min(low):,} monthly active users, and you "
                           "expect more than 100 million")
        elif limits:
            unverified.append(Unverified("license", (
                f"{lic.name} requires a separate license above {min(limits):,} monthly active users: "
                "check that you stay below it")))
        elif lic.commercial_use == "yes" and lic.conditions:
            confirmed.append(f"no user-count threshold in {lic.name}'s transcribed conditions")
        else:
            unverified.append(Unverified("license", (
                f"the catalog has no transcribed user-count conditions for {lic.name}")))
    if not needs.attribution_acceptable:
        if lic.attribution_required:
            reasons.append(f"{lic.name} requires attribution, which you said is not acceptable")
        elif lic.attribution_required is None:
            unverified.append(Unverified("license", f"whether {lic.name} requires attribution is not in the catalog"))
        else:
            confirmed.append(f"no attribution required by {lic.name}")
    return reasons, unverified, confirmed


def _language_checks(model: ModelInfo, languages: tuple[str, ...]) -> tuple[list[str], list[str]]:
    unverified, confirmed = [], []
    for lang in languages:
        if model.languages is None:
            unverified.append(Unverified("language", (
                f"{lang}: the catalog has no official language note for this model")))
        elif re.search(rf"\b{re.escape(lang)}\b", model.languages, re.IGNORECASE):
            confirmed.append(f"{lang} is named in the official language note")
        else:
            unverified.append(Unverified("language", (
                f"{lang} is not named in the official language note ({model.languages!r})")))
    return unverified, confirmed


@dataclass(frozen=True)
class Eligible:
    """A model that passes every hard constraint, with the deployment it is ranked on."""

    model: ModelInfo
    deployment: Deployment
    alternative: Deployment | None
    unverified: tuple[Unverified, ...]
    confirmed: tuple[str, ...]


def _budget_failure(ctx: WizardContext, dep: Deployment) -> str | None:
    budget = ctx.request.budget_usd_per_month
    if budget is not None and dep.usd_per_month is not None and dep.usd_per_month > budget:
        return f"{dep.kind} costs ${dep.usd_per_month:,.0f} a month, over your ${budget:,.0f} budget"
    return None


def _requirement_checks(ctx: WizardContext, catalog: DecisionCatalog, model: ModelInfo
                        ) -> tuple[tuple[str, ...], tuple[Unverified, ...], tuple[str, ...]]:
    """(reasons to exclude, unverified, confirmed) from what the model is, before any deployment: base checkpoint,
    image input, context window, license, languages. Kept per catalog: the what-ifs change only the GPUs or the
    budget, and the key names every part of the request these checks read."""
    req = ctx.request
    key = ("requirement_checks", model.model_id, ctx.include_base, ctx.needs_image, req.context_tokens, req.license,
           ctx.languages)
    return catalog.derived(key, lambda: _check_requirements(ctx, catalog, model))


def _check_requirements(ctx: WizardContext, catalog: DecisionCatalog, model: ModelInfo
                        ) -> tuple[tuple[str, ...], tuple[Unverified, ...], tuple[str, ...]]:
    req = ctx.request
    reasons: list[str] = []
    unverified: list[str] = []
    confirmed: list[str] = []
    if model.variant == "base" and not ctx.include_base:
        reasons.append("base model (not instruction-tuned): included only for fine-tuning or when you ask for "
                       "base models")
    if ctx.needs_image:
        if model.modalities is None:
            unverified.append(Unverified("modality", (
                "image input: the catalog does not list this model's input modalities")))
        elif "image" not in model.modalities.split(";"):
            reasons.append(f"no image input (the catalog lists: {model.modalities})")
        else:
            confirmed.append("accepts image input")
    if model.context_length is None:
        unverified.append(Unverified("context", "no official context length in the catalog"))
    elif model.context_length < req.context_tokens:
        reasons.append(f"context window of {model.context_length:,} tokens is shorter than the "
                       f"{req.context_tokens:,} you need")
    else:
        confirmed.append(f"context window {model.context_length:,} tokens")
    lic_reasons, lic_unverified, lic_confirmed = _license_checks(
        model, catalog.licenses.get(model.license_id) if model.license_id else None, req.license)
    reasons += lic_reasons
    unverified += lic_unverified
    confirmed += lic_confirmed
    lang_unverified, lang_confirmed = _language_checks(model, ctx.languages)
    unverified += lang_unverified
    confirmed += lang_confirmed
    return tuple(reasons), tuple(unverified), tuple(confirmed)


def evaluate_models(ctx: WizardContext, catalog: DecisionCatalog, with_exclusions: bool = True
                    ) -> tuple[list[Eligible], list[Exclusion]]:
    """The eligible models and the excluded ones with their reasons. with_exclusions=False (the what-ifs, which
    compare only which models rank and in what order) returns no exclusions, skips the deployment options of a model
    already excluded by what it is (they could only add reasons to its exclusion), and works out the self-hosting
    options briefly: their texts stay empty."""
    eligible: list[Eligible] = []
    excluded: list[Exclusion] = []
    req = ctx.request
    for model in catalog.models.values():
        checked_reasons, checked_unverified, checked_confirmed = _requirement_checks(ctx, catalog, model)
        if checked_reasons and not with_exclusions:
            continue
        reasons = list(checked_reasons)
        unverified = list(checked_unverified)
        confirmed = list(checked_confirmed)

        options: list[DeploymentOption] = []
        failures: list[str] = []
        if req.deployment in ("self-host", "either") and ctx.gpu is not None:
            options.append(self_host_option(ctx, catalog, model, brief=not with_exclusions))
        if req.deployment in ("api", "either"):
            options.append(api_option(ctx, catalog, model))
        viable: list[DeploymentOption] = []
        for opt in options:
            failure = opt.failure or _budget_failure(ctx, opt.deployment)
            if failure:
                failures.append(failure)
            else:
                viable.append(opt)
        if not viable:
            reasons += failures or ["no deployment possible"]
        if reasons:
            if with_exclusions:
                excluded.append(Exclusion(model.model_id, model.display_name, tuple(dict.fromkeys(reasons))))
            continue
        # Prefer the option with a known, lower cost; between unknowns keep the order asked for (self-host first).
        viable.sort(key=lambda o: (o.deployment.usd_per_month is None, o.deployment.usd_per_month or 0.0))
        best = viable[0]
        alternative = viable[1].deployment if len(viable) > 1 else None
        extra = list(best.unverified)
        if best.deployment.usd_per_month is None and req.budget_usd_per_month is not None:
            extra.append(Unverified("budget", "not checked: the cost of this deployment is unknown"))
        eligible.append(Eligible(model, best.deployment, alternative, tuple(unverified + extra), tuple(confirmed)))
    return eligible, excluded
