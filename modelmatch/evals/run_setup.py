"""Before an eval run starts: its settings, each endpoint's price and record, the cost estimate shown before
anything is sent, creating a run and what a (re)start still has to send. The run itself is modelmatch.evals.runner.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import asdict, dataclass

from modelmatch.chat.endpoints import Endpoint
from modelmatch.evals.sets import EvalItem, EvalSet, sent_prompt
from modelmatch.evals.store import EndpointRecord, EvalStore

MAX_ENDPOINTS = 6
TEMPLATE_OVERHEAD_TOKENS = 16  # chat-template tokens around each message (an estimate)


@dataclass(frozen=True)
class RunConfig:
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 1024
    thinking: bool | None = None
    concurrency: int = 4
    retries: int = 3
    retry_base_s: float = 2.0
    breaker_failures: int = 3  # items in a row failing after retries before the endpoint counts as down; 0 = never
    cost_cap_usd: float | None = 2.0  # None = no cap
    add_answer_instruction: bool = True

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "RunConfig":
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass(frozen=True)
class Price:
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    note: str

    def cost(self, input_tokens: float, output_tokens: float) -> float:
        return (input_tokens * self.input_usd_per_mtok + output_tokens * self.output_usd_per_mtok) / 1e6


def endpoint_price(reader, endpoint: Endpoint, today: dt.date) -> tuple[Price | None, str]:
    """The catalog list price the playground uses for this endpoint (modelmatch.chat.playground.estimate_cost)."""
    if endpoint.kind == "transformers":
        return None, "local model: no API price (runs on your hardware)"
    from modelmatch.chat.playground import estimate_cost  # the playground's choice of price row, reused as is

    try:
        estimate = estimate_cost(reader, endpoint, None, today)
    except Exception as exc:  # a catalog problem must not stop an eval; the run is then unpriced
        return None, f"price lookup failed ({type(exc).__name__}); cost not counted"
    if not estimate.price_rows:
        return None, estimate.note
    row = estimate.price_rows[0]
    pin, pout = row.get("input_usd_per_mtok"), row.get("output_usd_per_mtok")
    if pin is None or pout is None or (isinstance(pin, float) and math.isnan(pin)) or (
            isinstance(pout, float) and math.isnan(pout)):
        return None, f"the catalog price for {endpoint.model_id} lacks an input or output price"
    since = row.get("effective_from")
    since_text = since.strftime("%Y-%m-%d") if hasattr(since, "strftime") else str(since or "?")
    note = (f"{row.get('provider')} {row.get('provider_model')} list price since {since_text}: ${float(pin):g} in / "
            f"${float(pout):g} out per Mtok (no cache discount)")
    return Price(float(pin), float(pout), note), note


def endpoint_record(endpoint: Endpoint, price: Price | None, price_note: str) -> EndpointRecord:
    return EndpointRecord(endpoint.name, endpoint.kind, endpoint.model, endpoint.model_id, endpoint.provider,
                          endpoint.provider_model, price.input_usd_per_mtok if price else None,
                          price.output_usd_per_mtok if price else None, price_note)


def price_of(record: EndpointRecord) -> Price | None:
    if record.input_usd_per_mtok is None or record.output_usd_per_mtok is None:
        return None
    return Price(record.input_usd_per_mtok, record.output_usd_per_mtok, record.price_note)


# ---------------------------------------------------------------------------------------------------------------
# Estimates before anything is sent


# Counted by the regex engine rather than a Python loop over characters: the Evals page estimates every item of the
# set on each rerun, and the loop was a third of its warm rerun.
_HAN = re.compile("[\u3400-\u9fff]")
_THAI = re.compile("[\u0e00-\u0e7f]")


def typical_input_tokens(text: str) -> int:
    """A rough count: ~4 characters per token in Latin script, 1 per Chinese character, 2 Thai characters per
    token (assumptions, not measurements; the server's counts replace them once replies arrive)."""
    han = len(_HAN.findall(text))
    thai = len(_THAI.findall(text))
    other = len(text) - han - thai
    return math.ceil(han + thai / 2 + other / 4) + TEMPLATE_OVERHEAD_TOKENS


def upper_input_tokens(text: str) -> int:
    """An upper bound: byte-level tokenizers never use more tokens than UTF-8 bytes."""
    return len(text.encode("utf-8")) + 4 * TEMPLATE_OVERHEAD_TOKENS


def request_text(item: EvalItem, sent: str) -> str:
    return (item.system_prompt or "") + sent


@dataclass(frozen=True)
class EndpointEstimate:
    endpoint_name: str
    requests: int
    input_tokens: int  # typical estimate
    output_tokens_assumed: int  # per reply, the user's assumption
    max_output_tokens: int  # per reply, the hard limit sent with each request
    usd_typical: float | None
    usd_upper: float | None  # every reply uses max tokens and every prompt its byte count
    price_note: str


@dataclass(frozen=True)
class RunEstimate:
    endpoints: list[EndpointEstimate]
    requests: int
    usd_typical: float
    usd_upper: float
    unpriced: list[str]  # endpoints whose cost is unknown (local models, no catalog price)


def estimate_run(todo: dict[str, list[EvalItem]], endpoints: list[Endpoint], prices: dict[str, Price | None],
                 price_notes: dict[str, str], config: RunConfig, sent: dict[str, str],
                 typical_output_tokens: int = 300) -> RunEstimate:
    rows = []
    for endpoint in endpoints:
        items = todo.get(endpoint.name, [])
        max_out = min(config.max_tokens, endpoint.max_tokens_cap)
        assumed = min(typical_output_tokens, max_out)
        typical_in = sum(typical_input_tokens(request_text(i, sent[i.item_id])) for i in items)
        upper_in = sum(upper_input_tokens(request_text(i, sent[i.item_id])) for i in items)
        price = prices.get(endpoint.name)
        rows.append(EndpointEstimate(
            endpoint.name, len(items), typical_in, assumed, max_out,
            price.cost(typical_in, assumed * len(items)) if price else None,
            price.cost(upper_in, max_out * len(items)) if price else None,
            price_notes.get(endpoint.name, "")))
    return RunEstimate(rows, sum(r.requests for r in rows), sum(r.usd_typical or 0 for r in rows),
                       sum(r.usd_upper or 0 for r in rows), [r.endpoint_name for r in rows if r.usd_upper is None])


# ---------------------------------------------------------------------------------------------------------------
# Creating and resuming runs


def create_run(store: EvalStore, eval_set: EvalSet, endpoints: list[Endpoint], config: RunConfig,
               prices: dict[str, Price | None], price_notes: dict[str, str], extra_settings: dict | None = None) -> str:
    if not 1 <= len(endpoints) <= MAX_ENDPOINTS:
        raise ValueError(f"an eval runs on 1 to {MAX_ENDPOINTS} endpoints, got {len(endpoints)}")
    if len({e.name for e in endpoints}) != len(endpoints):
        raise ValueError("the same endpoint is listed twice")
    sent = [sent_prompt(item, config.add_answer_instruction) for item in eval_set.items]
    records = [endpoint_record(e, prices.get(e.name), price_notes.get(e.name, "")) for e in endpoints]
    settings = {**config.as_dict(), **(extra_settings or {})}
    return store.create_run(eval_set.name, eval_set.sha256, eval_set.source, eval_set.items, sent, settings, records)


def todo_items(store: EvalStore, run_id: str, endpoint_names: list[str]) -> dict[str, list[EvalItem]]:
    """Per endpoint, the items not yet scored (never sent, failed, or not sent): what a (re)start sends."""
    items = store.items(run_id)
    return {name: [i for i in items if i.item_id not in store.completed_items(run_id, name)]
            for name in endpoint_names}
