"""What the wizard answers: the shortlist's candidates with their deployment and score breakdown, the exclusions,
the what-if cases, and the result that holds them."""

from __future__ import annotations

from dataclasses import dataclass

from modelmatch.planning.wizard.request import WizardRequest


@dataclass(frozen=True)
class Unverified:
    """A requirement the catalog cannot confirm for a model: it lowers confidence instead of excluding."""

    requirement: str  # license | language | fit | capacity | context | latency | budget | modality | availability
    detail: str

    def __str__(self) -> str:
        return f"{self.requirement}: {self.detail}"


@dataclass(frozen=True)
class BenchmarkEvidence:
    """One benchmark score behind a quality term: the score, its source, and how it was normalised."""

    benchmark_id: str
    name: str
    value: float
    setting: str | None
    provenance: str
    source_url: str | None
    source_location: str | None
    catalog_lowest: float
    catalog_highest: float
    catalog_models: int
    normalized: float
    other_rows: int  # further rows for the same benchmark (other settings or sources) not used


@dataclass(frozen=True)
class TermBreakdown:
    """One term of a model's score (a quality category, cost or speed): its weight, value and why."""

    category: str
    weight: float  # share of the score (weights of the chosen use cases, normalised and averaged)
    value: float | None  # 0..1, None when there is no data
    contribution: float | None  # weight x value
    how: str
    evidence: tuple[BenchmarkEvidence, ...] = ()


@dataclass(frozen=True)
class Deployment:
    """How a ranked model would be run (self-hosted or through an API), what it costs and how fast it is."""

    kind: str  # self-host | api
    text: str
    usd_per_month: float | None
    cost_text: str
    tokens_per_s_per_sequence: float | None
    speed_text: str
    precision: str | None = None
    precision_label: str | None = None
    gpu_id: str | None = None
    gpu_name: str | None = None
    gpus_per_replica: int | None = None
    replicas: int | None = None
    memory_verdict: str | None = None
    memory_text: str | None = None
    total_per_gpu_gb: float | None = None
    provider: str | None = None
    provider_model: str | None = None
    tier: str | None = None
    price_effective_from: str | None = None
    price_source_url: str | None = None


@dataclass(frozen=True)
class Candidate:
    """A ranked model: its score, coverage, confidence, deployment and every term behind the score."""

    rank: int
    model_id: str
    display_name: str
    vendor: str
    variant: str
    score: float | None
    coverage: float
    confidence: str  # high | medium | low
    unverified: tuple[Unverified, ...]
    confirmed: tuple[str, ...]
    deployment: Deployment
    alternative: Deployment | None
    terms: tuple[TermBreakdown, ...]
    missing: tuple[str, ...]


@dataclass(frozen=True)
class Exclusion:
    """A model ruled out by a hard constraint, with every reason."""

    model_id: str
    display_name: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class SensitivityCase:
    """One what-if (another GPU, twice the GPUs, twice the budget) and how the answer would change."""

    label: str
    eligible: int
    top_model_id: str | None
    top_display_name: str | None
    added: tuple[str, ...]
    removed: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class RecommendResult:
    """A recommendation: the shortlist, the other eligible models, the excluded ones and the what-ifs."""

    build_id: str
    request: WizardRequest
    use_case_labels: tuple[str, ...]
    weights: tuple[tuple[str, float], ...]  # (category, share), largest first
    assumptions: tuple[str, ...]
    ranking_rule: str
    shortlist: tuple[Candidate, ...]
    other_eligible: tuple[str, ...]  # eligible but below the top_n, in rank order
    excluded: tuple[Exclusion, ...]
    sensitivity: tuple[SensitivityCase, ...]
