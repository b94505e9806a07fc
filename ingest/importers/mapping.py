"""Mapping files: which external id (an OpenRouter model, a LiteLLM key, a Hugging Face repo) is which catalog model.

Maintainers edit data/mappings/<source>.csv by hand; an importer never guesses a mapping (it only suggests one in
unmapped.csv). Every problem is reported with file, line and column, and a broken mapping stops the import before
anything is written.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from ingest.data_files import MAPPINGS_DIR
from ingest.validate import FORMULA_RE, Problem


@dataclass(frozen=True)
class MappingSpec:
    source: str
    filename: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    help: str

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional


SPECS: dict[str, MappingSpec] = {
    "openrouter": MappingSpec(
        "openrouter", "openrouter.csv", ("external_id", "model_id"), ("notes",),
        "external_id = OpenRouter model id (e.g. the `id` field of /api/v1/models); model_id = the catalog model it "
        "serves. Each of its provider endpoints becomes a price row: provider OpenRouter, tier 'via <provider>'."),
    "litellm": MappingSpec(
        "litellm", "litellm.csv", ("external_id", "model_id", "provider"), ("provider_model", "tier", "notes"),
        "external_id = key in LiteLLM's price map; provider = who sells the API, spelled as in data/prices so the "
        "history continues (e.g. DeepSeek); provider_model defaults to the key after its last '/'; tier optional."),
    "hf-config": MappingSpec(
        "hf-config", "huggingface.csv", ("external_id", "model_id"), ("revision", "notes"),
        "Optional. external_id = Hugging Face repo to read config.json from when it differs from the catalog "
        "model_id; revision pins a branch, tag or commit (default main)."),
}


class MappingError(Exception):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class MappingEntry:
    external_id: str
    model_id: str
    line: int
    provider: str = ""
    provider_model: str = ""
    tier: str = ""
    revision: str = ""
    notes: str = ""


def mapping_path(data_dir: Path, source: str) -> Path:
    return Path(data_dir) / MAPPINGS_DIR / SPECS[source].filename


def header_line(source: str) -> str:
    return ",".join(SPECS[source].columns) + "\n"


def load_mapping(data_dir: Path, source: str, known_models: set[str]) -> dict[str, MappingEntry]:
    """Read and check data/mappings/<file>; a missing file is an empty mapping. Raises MappingError."""
    spec = SPECS[source]
    path = mapping_path(data_dir, source)
    rel = f"{Path(data_dir).name}/{MAPPINGS_DIR}/{spec.filename}"
    if not path.exists():
        return {}
    problems: list[Problem] = []
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MappingError([Problem(rel, 0, "", f"file is not UTF-8 (offset {exc.start}); save it as UTF-8")]) \
            from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return {}
    except csv.Error as exc:
        raise MappingError([Problem(rel, 1, "", f"cannot parse the header row: {exc}")]) from None
    for name in header:
        if name not in spec.columns:
            problems.append(Problem(rel, 1, name, f"unknown column (allowed: {', '.join(spec.columns)})"))
    for name in spec.required:
        if name not in header:
            problems.append(Problem(rel, 1, name, "required column is missing from the header"))
    if problems:
        raise MappingError(problems)
    entries: dict[str, MappingEntry] = {}
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(Problem(rel, line, "", f"malformed CSV: {exc}"))
            break
        if not cells or all(c.strip() == "" for c in cells):
            continue
        if len(cells) != len(header):
            problems.append(Problem(rel, line, "", f"has {len(cells)} cells but the header has {len(header)}"))
            continue
        values = {name: cell.strip() for name, cell in zip(header, cells)}
        bad = False
        for name, value in values.items():
            if FORMULA_RE.match(value):
                problems.append(Problem(rel, line, name, f"starts like a spreadsheet formula: {value[:40]!r}"))
                bad = True
        for name in spec.required:
            if not values.get(name):
                problems.append(Problem(rel, line, name, "is required but empty"))
                bad = True
        model_id = values.get("model_id", "")
        if model_id and model_id not in known_models:
            problems.append(Problem(rel, line, "model_id", f"{model_id!r} is not in data/models (add the model "
                                                           "first, or fix the spelling)"))
            bad = True
        external_id = values.get("external_id", "")
        if external_id in entries:
            problems.append(Problem(rel, line, "external_id", f"{external_id!r} is mapped twice; first at "
                                                              f"{rel}:{entries[external_id].line}"))
            bad = True
        if bad:
            continue
        entries[external_id] = MappingEntry(
            external_id=external_id, model_id=model_id, line=line, provider=values.get("provider", ""),
            provider_model=values.get("provider_model", ""), tier=values.get("tier", ""),
            revision=values.get("revision", ""), notes=values.get("notes", ""))
    if problems:
        raise MappingError(problems)
    return entries
