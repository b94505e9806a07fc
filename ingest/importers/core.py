"""What every importer shares: the current data, price history comparison with guards, and the review batch.

An importer turns a source's response into `PriceOffer`s (or architecture rows); `plan_prices` compares each offer
with the price in force for the same provider, API model and tier, and decides: unchanged (the row is re-confirmed:
its as_of moves to today when the importer owns it), new or changed (a new dated row; the old one stays), or held
(a guard fired: the row is written with review=held and the build refuses it until accepted). `ImportPlan.files()`
renders everything to write; `write_plan` writes it all-or-nothing. Nothing touches the catalog file.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from ingest.guards import Finding, Quote, check_price, reason_text
from ingest.importers.files import CsvDocument, serialize_row, commit_files
from ingest.importers.units import fmt
from modelmatch.catalog.schema import PRICES
from ingest.data_files import IMPORTS_DIR
from ingest.validate import Row, ValidationResult, validate

Progress = Callable[[str], None]
PRICE_COLUMNS = ("input_usd_per_mtok", "cached_input_usd_per_mtok", "output_usd_per_mtok")
UNMAPPED_COLUMNS = ["external_id", "name", "detail", "suggested_model_id", "suggestion", "mapping_line"]


def quiet(_: str) -> None:
    pass


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def iso_utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).replace(tzinfo=None, microsecond=0).isoformat() + "Z"


@dataclass(frozen=True)
class PriceOffer:
    """One normalized price from a source, already mapped to a catalog model."""

    external_id: str
    provider: str
    model_id: str
    provider_model: str
    tier: str
    input_usd_per_mtok: Decimal | None
    cached_input_usd_per_mtok: Decimal | None
    output_usd_per_mtok: Decimal | None
    context_length: int | None
    source_url: str
    source_location: str
    notes: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.provider, self.provider_model, self.tier)

    def quote(self) -> Quote:
        return Quote(*(None if v is None else float(v) for v in (self.input_usd_per_mtok,
                                                                 self.cached_input_usd_per_mtok,
                                                                 self.output_usd_per_mtok)),
                     context_length=self.context_length)

    def describe(self) -> str:
        return describe_offering(self.provider, self.provider_model, self.tier)


def describe_offering(provider: str, provider_model: str, tier: str | None) -> str:
    return f"{provider} {provider_model}" + (f" [{tier}]" if tier else "")


def quote_of_row(values: dict[str, Any]) -> Quote:
    return Quote(values.get("input_usd_per_mtok"), values.get("cached_input_usd_per_mtok"),
                 values.get("output_usd_per_mtok"), values.get("context_length"))


def price_text(q: Quote) -> str:
    parts = []
    for label, value in (("in", q.input_usd_per_mtok), ("cached", q.cached_input_usd_per_mtok),
                         ("out", q.output_usd_per_mtok)):
        if value is not None:
            parts.append(f"{label} {value:.6g}")
    text = " / ".join(parts) + " $/Mtok" if parts else "no price"
    if q.context_length is not None:
        text += f", context {q.context_length:,}"
    return text


@dataclass
class RowChange:
    change: str  # new | changed | unchanged | held | still-held
    offering: str
    model_id: str
    before: str = ""
    after: str = ""
    reason: str = ""
    file_line: str = ""
    _record: Any = None  # the CsvDocument record, to learn its line once rendered

    def as_json(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


@dataclass
class Unmapped:
    external_id: str
    name: str = ""
    detail: str = ""
    suggested_model_id: str = ""
    suggestion: str = ""
    mapping_line: str = ""


@dataclass
class CurrentData:
    """data/ as validation reads it now: the rows importers compare against."""

    data_dir: Path
    result: ValidationResult

    @classmethod
    def read(cls, data_dir: Path) -> "CurrentData":
        return cls(Path(data_dir), validate(Path(data_dir)))

    @property
    def models(self) -> dict[str, dict[str, Any]]:
        return {r.values["model_id"]: r.values for r in self.result.tables.get("models", []) if r.values["model_id"]}

    def rows(self, table: str) -> list[Row]:
        return self.result.tables.get(table, [])

    def rel(self, path: Path) -> str:
        return path.resolve().relative_to(self.data_dir.parent.resolve()).as_posix()


@dataclass
class ImportPlan:
    source: str
    data_dir: Path
    retrieved_at: dt.datetime
    urls: list[str]
    mapping_file: str
    mapping_entries: int
    changes: list[RowChange] = field(default_factory=list)
    unmapped: list[Unmapped] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # mapped ids the source no longer lists
    skipped: list[str] = field(default_factory=list)  # entries that could not be imported, and why
    facts: list[str] = field(default_factory=list)  # differences to check by hand (never written)
    documents: dict[str, CsvDocument] = field(default_factory=dict)  # table name -> import file
    data_problems: int = 0
    maps_ids: bool = True  # False for sources addressed by catalog id (hf-config): no unmapped list

    @property
    def folder(self) -> Path:
        return self.data_dir / IMPORTS_DIR / self.source

    def count(self, change: str) -> int:
        return sum(1 for c in self.changes if c.change == change)

    @property
    def written_rows(self) -> list[RowChange]:
        return [c for c in self.changes if c.change in ("new", "changed", "held")]

    def headline(self) -> str:
        suggested = sum(1 for u in self.unmapped if u.suggested_model_id)
        parts = [f"{self.count('new')} new", f"{self.count('changed')} changed",
                 f"{self.count('unchanged')} unchanged", f"{self.count('held')} held for review"]
        if self.count("still-held"):
            parts.append(f"{self.count('still-held')} still held")
        if self.maps_ids:
            parts.append(f"{len(self.unmapped)} unmapped" + (f" ({suggested} with a suggested catalog model)"
                                                              if suggested else ""))
        if self.missing:
            parts.append(f"{len(self.missing)} mapped but missing from the source")
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        return f"{self.source}: " + ", ".join(parts)

    # -- rendering -----------------------------------------------------------------------------------------------
    def files(self) -> dict[Path, str]:
        out: dict[Path, str] = {}
        for table, doc in self.documents.items():
            text = doc.render()
            if not doc.existed or text != doc.path.read_bytes().decode("utf-8"):
                out[doc.path] = text
            self._learn_lines(doc, text)
        if self.maps_ids:
            out[self.folder / "unmapped.csv"] = self._unmapped_csv()
        out[self.folder / "last_fetch.json"] = json.dumps(self.summary(), indent=2, ensure_ascii=False) + "\n"
        out[self.folder / "last_fetch.md"] = self.markdown()
        return out

    def _learn_lines(self, doc: CsvDocument, text: str) -> None:
        reparsed = CsvDocument.load_text(doc.path, text)
        lines = {id(old): new.line for old, new in zip(doc.rows(), reparsed.rows())}
        rel = f"{self.data_dir.name}/{IMPORTS_DIR}/{self.source}/{doc.path.name}"
        for change in self.changes:
            if change._record is not None and id(change._record) in lines:
                change.file_line = f"{rel}:{lines[id(change._record)]}"

    def _unmapped_csv(self) -> str:
        rows = sorted(self.unmapped, key=lambda u: (u.suggested_model_id == "", u.external_id))
        return "".join([serialize_row(UNMAPPED_COLUMNS)]
                       + [serialize_row([getattr(u, c) for c in UNMAPPED_COLUMNS]) for u in rows])

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "retrieved_at": iso_utc(self.retrieved_at),
            "urls": self.urls,
            "mapping_file": self.mapping_file,
            "mapping_entries": self.mapping_entries,
            "headline": self.headline(),
            "counts": {k: self.count(k) for k in ("new", "changed", "unchanged", "held", "still-held")}
            | {"unmapped": len(self.unmapped), "missing": len(self.missing), "skipped": len(self.skipped)},
            "rows": [c.as_json() for c in self.changes if c.change != "unchanged"],
            "missing": self.missing,
            "skipped": self.skipped,
            "facts": self.facts,
            "unmapped_with_suggestion": [u.__dict__ for u in self.unmapped if u.suggested_model_id],
        }

    def markdown(self) -> str:
        lines = [f"# `{self.source}` import, {iso_utc(self.retrieved_at)}", "",
                 "Written by `python -m ingest fetch`; review it, then `python -m ingest build`.", "",
                 "Sources read:", ""]
        lines += [f"- <{u}>" for u in self.urls[:20]]
        if len(self.urls) > 20:
            lines.append(f"- … and {len(self.urls) - 20} more")
        lines += ["", f"Mapping: `{self.mapping_file}` ({self.mapping_entries} entries).", "",
                  f"**{self.headline()}**", ""]
        sections = (("held", "Held for review: the build refuses these until accepted"),
                    ("still-held", "Still held from an earlier fetch (same values)"),
                    ("new", "New offerings"), ("changed", "Changed (a new dated row; the old row stays)"))
        for change, title in sections:
            rows = [c for c in self.changes if c.change == change]
            if not rows:
                continue
            lines += [f"## {title}", "", "| row | offering | before | after | why held |", "|---|---|---|---|---|"]
            lines += [f"| {_md(c.file_line)} | {_md(c.offering)} | {_md(c.before)} | {_md(c.after)} | "
                      f"{_md(c.reason)} |" for c in rows]
            lines.append("")
        if any(c.change == "held" for c in self.changes):
            lines += ["Accept a held row after checking its source: `python -m ingest accept FILE:LINE "
                      "--note \"checked <where>\"`; drop it: `python -m ingest reject FILE:LINE`.", ""]
        if self.facts:
            lines += ["## To check by hand (not written)", ""] + [f"- {_md(f)}" for f in self.facts] + [""]
        if self.missing:
            lines += ["## Mapped but missing from the source (renamed or retired?)", ""]
            lines += [f"- `{m}`" for m in self.missing] + [""]
        if self.skipped:
            lines += ["## Skipped", ""] + [f"- {_md(s)}" for s in self.skipped] + [""]
        suggested = [u for u in self.unmapped if u.suggested_model_id]
        if self.maps_ids:
            lines += [f"## Unmapped: {len(self.unmapped)} (all in `unmapped.csv`)", ""]
        if suggested:
            lines += [f"{len(suggested)} look like catalog models; to import them, review and paste these lines "
                      f"into `{self.mapping_file}`:", "", "```"] + [u.mapping_line for u in suggested] + ["```", ""]
        if self.data_problems:
            lines += [f"Note: data/ had {self.data_problems} validation problem(s) when this ran "
                      "(`python -m ingest check`).", ""]
        return "\n".join(lines)


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


# -- prices -------------------------------------------------------------------------------------------------------
def _same(incoming: Decimal | int | None, existing: Any) -> bool:
    """Is a value the source states equal to the catalog's? A value the source does not state never differs."""
    if incoming is None:
        return True
    if existing is None:
        return False
    return abs(float(incoming) - float(existing)) <= 1e-9 * max(1.0, abs(float(existing)))


def _offer_matches(offer: PriceOffer, values: dict[str, Any]) -> bool:
    return all(_same(getattr(offer, c), values.get(c)) for c in PRICE_COLUMNS) and \
        _same(offer.context_length, values.get("context_length"))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (Decimal, int)):
        return fmt(value)
    return str(value)


def import_notes(source: str, day: dt.date, extra: str = "") -> str:
    text = (f"Imported by `python -m ingest fetch {source}` on {day.isoformat()}: effective_from is the date the "
            "importer first saw this price, not necessarily the date it began.")
    return f"{text} {extra}".strip()


def plan_prices(plan: ImportPlan, current: CurrentData, offers: list[PriceOffer], progress: Progress = quiet) -> None:
    """Compare each offer with the price history in data/ and stage new rows in the source's import file."""
    path = plan.folder / "prices.csv"
    doc = plan.documents.get("prices") or CsvDocument.load(path, PRICES.column_names)
    plan.documents["prices"] = doc
    own_rel = current.rel(path) if path.exists() else None
    today = plan.retrieved_at.astimezone(dt.timezone.utc).date()
    history: dict[tuple[str, str, str], list[Row]] = {}
    for row in current.rows("prices"):
        v = row.values
        history.setdefault((v["provider"] or "", v["provider_model"] or "", v["tier"] or ""), []).append(row)
    seen: set[tuple[str, str, str]] = set()
    for offer in offers:
        if offer.key in seen:
            plan.skipped.append(f"{offer.describe()}: listed twice by the source; the first listing was used")
            continue
        seen.add(offer.key)
        rows = sorted((r for r in history.get(offer.key, []) if r.values.get("effective_from") is not None),
                      key=lambda r: r.values["effective_from"])
        in_force = next((r for r in reversed(rows)
                         if r.values.get("review") != "held" and r.values["effective_from"] <= today), None)
        held = [r for r in rows if r.values.get("review") == "held"]
        after = price_text(offer.quote())
        if in_force is not None and _offer_matches(offer, in_force.values):
            if in_force.file == own_rel:
                record = doc.at_line(in_force.line)
                if record is not None and record.values.get("as_of") != today.isoformat():
                    doc.update(record, {"as_of": today.isoformat(), "retrieved_at": iso_utc(plan.retrieved_at)})
            plan.changes.append(RowChange("unchanged", offer.describe(), offer.model_id, after=after,
                                          file_line=f"{in_force.file}:{in_force.line}"))
            for h in held:
                plan.facts.append(f"{h.file}:{h.line} is held ({h.values.get('review_reason')}) but the source "
                                  f"shows the price in force again ({after}): reject it?")
            continue
        if any(_offer_matches(offer, h.values) for h in held):
            h = next(h for h in held if _offer_matches(offer, h.values))
            plan.changes.append(RowChange("still-held", offer.describe(), offer.model_id, after=after,
                                          reason=h.values.get("review_reason") or "", file_line=f"{h.file}:{h.line}"))
            continue
        same_day = [r for r in rows if r.values["effective_from"] == today]
        foreign_same_day = [r for r in same_day if r.file != own_rel]
        if foreign_same_day:
            r = foreign_same_day[0]
            plan.skipped.append(f"{offer.describe()}: {r.file}:{r.line} already has a row dated {today} with "
                                f"{price_text(quote_of_row(r.values))}; the source says {after}: check by hand")
            continue
        before_quote = quote_of_row(in_force.values) if in_force is not None else None
        findings: list[Finding] = check_price(offer.quote(), before_quote)
        values = {
            "provider": offer.provider, "model_id": offer.model_id, "provider_model": offer.provider_model,
            "tier": offer.tier, **{c: _cell(getattr(offer, c)) for c in PRICE_COLUMNS},
            "effective_from": today.isoformat(), "source_url": offer.source_url,
            "source_location": offer.source_location, "as_of": today.isoformat(),
            "notes": offer.notes or import_notes(plan.source, today),
            "context_length": _cell(offer.context_length),
            "review": "held" if findings else "", "review_reason": reason_text(findings),
            "retrieved_at": iso_utc(plan.retrieved_at),
        }
        own_same_day = next((doc.at_line(r.line) for r in same_day if r.file == own_rel), None)
        if findings and own_same_day is not None and (own_same_day.values or {}).get("review") != "held":
            # The key has one row per day: writing the held price would replace today's applied row, and
            # rejecting it later would lose that price. Keep the applied row; a later fetch queues the change.
            plan.skipped.append(
                f"{offer.describe()}: the source now says {after}, which the guards would hold "
                f"({reason_text(findings)}), but {own_rel}:{own_same_day.line} already records today's price; "
                "fetch again on a later day to queue it for review, or check the source and edit by hand")
            continue
        if own_same_day is not None:
            doc.update(own_same_day, values)
            record = own_same_day
        else:
            record = doc.append(values)
        kind = "held" if findings else ("changed" if in_force is not None else "new")
        plan.changes.append(RowChange(kind, offer.describe(), offer.model_id,
                                      before=price_text(before_quote) if before_quote else "",
                                      after=after, reason=reason_text(findings), _record=record))
    progress(f"compared {len(offers)} offer(s) with the price history in data/")


def write_plan(plan: ImportPlan) -> list[Path]:
    """Write the batch all-or-nothing (call it under imports_lock, with the plan made under the same lock)."""
    files = plan.files()
    commit_files(files)
    return list(files)


def start_plan(source: str, data_dir: Path, retrieved_at: dt.datetime, urls: list[str], mapping_rel: str,
               mapping_entries: int, current: CurrentData) -> ImportPlan:
    return ImportPlan(source, Path(data_dir), retrieved_at, urls, mapping_rel, mapping_entries,
                      data_problems=len(current.result.problems))
