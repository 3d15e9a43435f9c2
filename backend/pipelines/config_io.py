"""Configuration as code: the pipeline metadata as one YAML document, exported, checked and imported whole.

The document holds what defines the pipelines: ``imports`` (PipelineConfig, with ``depends_on`` and the
after-first-success switch given as import names), ``quality_rules``, ``enrichment_rules`` and ``analytics``.
Access grants (PipelinePermission) are left out on purpose: they name users and groups, which differ
from one environment to the next; grant access where the pipelines are deployed.

Keys are the models' field names. Each entry states its row completely: a key left out takes the model's
default. Rows the file does not mention are left as they are (imports are deactivated, never deleted).
An import checks the whole file as the admin would before writing anything, then writes in one
transaction and asks for one code-location reload.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import yaml
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models, transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from backend.pipelines import validation as v
from backend.pipelines.models import AnalyticsConfig, DataEnrichmentRule, DataQualityRule, PipelineConfig
from backend.runs.errors import LaunchpadError

FORMAT_VERSION = 1
SWITCH_FIELD = "on_success_deactivate_self_and_activate_import"


@dataclass(frozen=True)
class Section:
    """One list in the document: which model, its natural key, and the order entries are written in."""

    key: str
    noun: str
    model: type[models.Model]
    natural_key: tuple[str, ...]
    sort_fields: tuple[str, ...]

    def fields(self) -> list[models.Field]:
        """The fields a user sets (no ids, timestamps, counters or history), natural key first."""
        meta = self.model._meta
        editable = [f for f in [*meta.concrete_fields, *meta.many_to_many] if f.editable and not f.primary_key]
        return sorted(editable, key=lambda f: f.name not in self.natural_key)

    def key_of(self, record: dict[str, Any]) -> tuple:
        return tuple(record.get(name) for name in self.natural_key)

    def describe(self, key: tuple) -> str:
        return " ".join(str(part) for part in key)


SECTIONS = (
    Section("imports", "import", PipelineConfig, ("import_name",), ("pipeline_name", "import_name")),
    Section("quality_rules", "quality rule", DataQualityRule, ("rule_name",), ("target_table", "rule_name")),
    Section(
        "enrichment_rules", "enrichment rule", DataEnrichmentRule, ("rule_name",), ("target_staging_table", "rule_name")
    ),
    Section(
        "analytics",
        "analytics config",
        AnalyticsConfig,
        ("target_table", "value_column", "date_column", "model_type"),
        ("target_table", "value_column", "date_column", "model_type"),
    ),
)
SECTION_BY_KEY = {section.key: section for section in SECTIONS}
RELOADING_SECTIONS = frozenset({"imports", "quality_rules", "enrichment_rules"})


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a document, located as precisely as it can be: file (and line), entry, field."""

    source: str
    entry: str = ""
    field: str = ""
    message: str = ""

    def __str__(self) -> str:
        return ": ".join(part for part in (self.source, self.entry, self.field, self.message) if part)


class ConfigFileError(LaunchpadError):
    """A configuration document that cannot be used; ``problems`` says every reason, one per line."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        super().__init__(f"{len(problems)} problem(s) found; nothing was written.")
        self.problems = tuple(problems)


# ------------------------------------------------------------------------------------------ export


def canonical_json(value: Any) -> Any:
    """JSON values with object keys sorted at every level, so equal values are written identically."""
    if isinstance(value, dict):
        return {key: canonical_json(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [canonical_json(item) for item in value]
    return value


def record_of(section: Section, obj: models.Model, links: dict[str, Any] | None = None) -> dict[str, Any]:
    """A row as its document entry. Relations to imports are import names; ``links`` gives them for unsaved rows."""
    record: dict[str, Any] = {}
    for f in section.fields():
        if links is not None and (f.many_to_many or f.many_to_one):
            record[f.name] = links[f.name]
        elif f.many_to_many:
            record[f.name] = sorted(related.import_name for related in getattr(obj, f.name).all())
        elif f.many_to_one:
            related = getattr(obj, f.name)
            record[f.name] = related.import_name if related else None
        elif isinstance(f, models.JSONField):
            record[f.name] = canonical_json(getattr(obj, f.attname))
        else:
            record[f.name] = getattr(obj, f.attname)
    return record


def _sort_key(section: Section) -> Callable[[dict[str, Any]], tuple]:
    return lambda record: tuple(str(record[name]) for name in section.sort_fields)


def _rows(section: Section) -> models.QuerySet:
    rows = section.model.objects.all()
    if section.model is PipelineConfig:
        rows = rows.select_related(SWITCH_FIELD).prefetch_related("depends_on")
    return rows


def configs_export(pipeline: str | None = None) -> dict[str, Any]:
    """The metadata as a document; ``pipeline`` limits it to one group, its rules and its analytics."""
    records = {s.key: [record_of(s, obj) for obj in _rows(s)] for s in SECTIONS}
    if pipeline is not None:
        imports = [r for r in records["imports"] if r["pipeline_name"] == pipeline]
        if not imports:
            raise LaunchpadError(f"There is no pipeline named {pipeline}.")
        staging = {r["staging_table"] for r in imports}
        destinations = {r["destination_table"] for r in imports}
        records = {
            "imports": imports,
            "quality_rules": [r for r in records["quality_rules"] if r["target_table"] in staging],
            "enrichment_rules": [r for r in records["enrichment_rules"] if r["target_staging_table"] in staging],
            "analytics": [r for r in records["analytics"] if r["target_table"] in destinations],
        }
    document: dict[str, Any] = {"version": FORMAT_VERSION}
    for section in SECTIONS:
        document[section.key] = sorted(records[section.key], key=_sort_key(section))
    return document


class _Dumper(yaml.SafeDumper):
    """Lists indented under their key; text with line breaks as literal blocks."""

    def increase_indent(self, flow: bool = False, indentless: bool = False):
        return super().increase_indent(flow, False)


def _represent_text(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)


_Dumper.add_representer(str, _represent_text)


def document_dump(document: dict[str, Any]) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=120)


def configs_export_yaml(pipeline: str | None = None) -> str:
    return document_dump(configs_export(pipeline))


# ------------------------------------------------------------------------------------------ reading


class _Entry(dict):
    """A mapping read from YAML that remembers the line it started on."""

    line: int = 0


class _Loader(yaml.SafeLoader):
    """Safe YAML that refuses a key given twice in one mapping (PyYAML would keep the last silently)."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> _Entry:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value != "<<":
            key = loader.construct_object(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is given twice (first on line {seen[key]})", key_node.start_mark
                )
            seen[key] = key_node.start_mark.line + 1
    entry = _Entry(loader.construct_mapping(node, deep=True))
    entry.line = node.start_mark.line + 1
    return entry


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def document_parse(text: str, source: str) -> dict[str, Any]:
    """The YAML text as a document with known top-level keys; raises ConfigFileError naming the line."""
    try:
        document = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigFileError([ConfigProblem(where, message=f"not valid YAML: {problem}.")]) from exc
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigFileError([ConfigProblem(source, message="the file must be a mapping with imports, rules, ...")])
    known = ["version", *SECTION_BY_KEY]
    problems = [
        ConfigProblem(source, field=str(key), message=f"unknown key; known keys are {', '.join(known)}.")
        for key in document
        if key not in known
    ]
    if document.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        problems.append(ConfigProblem(source, field="version", message=f"this version reads version {FORMAT_VERSION}."))
    for key in SECTION_BY_KEY:
        if not isinstance(document.get(key) or [], list):
            problems.append(ConfigProblem(source, field=key, message="must be a list of entries."))
    if problems:
        raise ConfigFileError(problems)
    return document


def entry_label(section: Section, index: int, entry: Any) -> str:
    """``imports[3] (daily_sales)``: the entry's place in the file and its name when it has one."""
    label = f"{section.key}[{index}]"
    if isinstance(entry, dict):
        key = [str(entry[name]) for name in section.natural_key if isinstance(entry.get(name), str)]
        if key:
            label += f" ({' '.join(key)})"
    return label


def entry_source(source: str, entry: Any) -> str:
    line = getattr(entry, "line", 0)
    return f"{source}:{line}" if line else source


def _type_problem(f: models.Field, value: Any) -> str | None:
    """Why ``value`` cannot go into field ``f``, before Django would quietly convert it; None when it fits."""
    if f.many_to_many:
        ok = isinstance(value, list) and all(isinstance(item, str) for item in value)
        return None if ok else "must be a list of import names."
    if f.many_to_one:
        return None if value is None or isinstance(value, str) else "must be an import name (or null)."
    if isinstance(f, models.BooleanField):
        return None if isinstance(value, bool) else "must be true or false."
    if isinstance(f, models.IntegerField):
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else "must be a whole number."
    if isinstance(f, models.JSONField):
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            return "must hold only text, numbers, true/false, null, lists and mappings (quote dates)."
        return None
    if isinstance(f, models.CharField | models.TextField):
        if value is None or isinstance(value, str):
            return None
        return f"must be text, not {type(value).__name__} {value!r} (quote it)."
    return None


def entry_shape_problems(section: Section, index: int, entry: Any, source: str) -> list[ConfigProblem]:
    """An entry's keys and value types: unknown keys, missing required ones, values of the wrong kind."""
    where, label = entry_source(source, entry), entry_label(section, index, entry)
    if not isinstance(entry, dict):
        return [ConfigProblem(where, label, "", f"each entry of {section.key} must be a mapping of field: value.")]
    fields = {f.name: f for f in section.fields()}
    problems = [
        ConfigProblem(where, label, str(name), f"unknown field for {section.noun}s; known: {', '.join(fields)}.")
        for name in entry
        if name not in fields
    ]
    for name, f in fields.items():
        if name not in entry:
            if name in section.natural_key or (not f.blank and not f.has_default()):
                problems.append(ConfigProblem(where, label, name, "missing; every entry needs it."))
        elif (reason := _type_problem(f, entry[name])) is not None:
            problems.append(ConfigProblem(where, label, name, reason))
    return problems


# ------------------------------------------------------------------------------------------ planning


@dataclass
class PlannedRow:
    """One entry of the file against the database: what it is now (None: new) and what it would become."""

    section: Section
    where: str
    label: str
    key: tuple
    instance: models.Model
    before: dict[str, Any] | None
    after: dict[str, Any]

    @property
    def action(self) -> str:
        if self.before is None:
            return "create"
        return "update" if self.changes else "unchanged"

    @property
    def changes(self) -> list[tuple[str, Any, Any]]:
        if self.before is None:
            return []
        return [(name, self.before[name], value) for name, value in self.after.items() if self.before[name] != value]


@dataclass
class ImportPlan:
    source: str
    rows: list[PlannedRow] = field(default_factory=list)

    def counts(self) -> dict[str, dict[str, int]]:
        counts = {s.key: {"create": 0, "update": 0, "unchanged": 0} for s in SECTIONS}
        for row in self.rows:
            counts[row.section.key][row.action] += 1
        return counts

    @property
    def needs_reload(self) -> bool:
        return any(row.action != "unchanged" and row.section.key in RELOADING_SECTIONS for row in self.rows)


def _validation_problems(source: str, label: str, exc: ValidationError) -> list[ConfigProblem]:
    if not hasattr(exc, "error_dict"):
        return [ConfigProblem(source, label, "", message) for message in exc.messages]
    return [
        ConfigProblem(source, label, "" if name == NON_FIELD_ERRORS else name, message)
        for name, messages in exc.message_dict.items()
        for message in messages
    ]


class _Planner:
    """Checks every entry of a parsed document against the models and the database, collecting all problems."""

    def __init__(self, document: dict[str, Any], source: str) -> None:
        self.document = document
        self.source = source
        self.problems: list[ConfigProblem] = []
        self.plan = ImportPlan(source)
        self.existing = {s.key: {s.key_of(record_of(s, obj)): obj for obj in _rows(s)} for s in SECTIONS}

    def run(self) -> ImportPlan:
        for section in SECTIONS:
            seen: dict[tuple, str] = {}
            for index, entry in enumerate(self.document.get(section.key) or []):
                self._entry(section, index, entry, seen)
        self._check_links()
        if self.problems:
            raise ConfigFileError(self.problems)
        return self.plan

    def _problem(self, entry: Any, label: str, name: str, message: str) -> None:
        self.problems.append(ConfigProblem(entry_source(self.source, entry), label, name, message))

    def _entry(self, section: Section, index: int, entry: Any, seen: dict[tuple, str]) -> None:
        label = entry_label(section, index, entry)
        shape = entry_shape_problems(section, index, entry, self.source)
        if shape:
            self.problems.extend(shape)
            return
        fields = {f.name: f for f in section.fields()}
        key = tuple(entry[name] for name in section.natural_key)
        if key in seen:
            self._problem(entry, label, section.natural_key[0], f"the same {section.noun} is given in {seen[key]}.")
            return
        seen[key] = label
        self._build(section, label, key, entry, fields)

    def _build(self, section: Section, label: str, key: tuple, entry: dict, fields: dict[str, models.Field]) -> None:
        existing = self.existing[section.key].get(key)
        before = record_of(section, existing) if existing is not None else None
        instance = existing if existing is not None else section.model()
        links: dict[str, Any] = {}
        for name, f in fields.items():
            value = entry.get(name, f.get_default() if not f.many_to_many else [])
            if f.many_to_many:
                links[name] = sorted(set(value))
            elif f.many_to_one:
                links[name] = value
            else:
                if value is None and not f.null:
                    value = ""
                setattr(instance, f.attname, value)
        try:
            instance.full_clean(exclude=[name for name, f in fields.items() if f.many_to_one])
        except ValidationError as exc:
            self.problems.extend(_validation_problems(entry_source(self.source, entry), label, exc))
            return
        after = record_of(section, instance, links if section.model is PipelineConfig else None)
        self.plan.rows.append(
            PlannedRow(section, entry_source(self.source, entry), label, key, instance, before, after)
        )

    def _check_links(self) -> None:
        """depends_on and the switch name imports that exist (in the file or the database) and form no cycle."""
        planned = {row.key[0]: row for row in self.plan.rows if row.section.model is PipelineConfig}
        existing = {key[0]: obj for key, obj in self.existing["imports"].items()}
        known = set(planned) | set(existing)
        edges = {name: record_of(SECTION_BY_KEY["imports"], obj)["depends_on"] for name, obj in existing.items()}
        for name, row in planned.items():
            edges[name] = row.after["depends_on"]
            source = row.where
            for dep in row.after["depends_on"]:
                if dep == name:
                    self.problems.append(
                        ConfigProblem(source, row.label, "depends_on", "an import cannot depend on itself.")
                    )
                elif dep not in known:
                    self.problems.append(
                        ConfigProblem(
                            source, row.label, "depends_on", f"{dep} is neither in the file nor in the database."
                        )
                    )
            switch = row.after[SWITCH_FIELD]
            if switch == name:
                self.problems.append(
                    ConfigProblem(source, row.label, SWITCH_FIELD, "an import cannot switch to itself.")
                )
            elif switch is not None and switch not in known:
                self.problems.append(
                    ConfigProblem(
                        source, row.label, SWITCH_FIELD, f"{switch} is neither in the file nor in the database."
                    )
                )
        for cycle in dependency_cycles(edges, start_from=planned):
            row = planned[cycle[0]]
            chain = " -> ".join(cycle)
            self.problems.append(
                ConfigProblem(row.where, row.label, "depends_on", f"these dependencies form a cycle: {chain}.")
            )


def dependency_cycles(edges: dict[str, list[str]], start_from: Any = None) -> list[list[str]]:
    """Each distinct cycle once, as a path from its first name (in ``start_from`` order) back to it."""
    found: list[list[str]] = []
    members: set[frozenset[str]] = set()
    for name in start_from if start_from is not None else sorted(edges):
        if name in {n for cycle in members for n in cycle} or name not in edges:
            continue
        cycle = v.find_cycle(name, {k: [d for d in deps if d != k] for k, deps in edges.items()})
        if cycle and frozenset(cycle) not in members:
            members.add(frozenset(cycle))
            found.append([str(n) for n in cycle])
    return found


def configs_plan(text: str, source: str) -> ImportPlan:
    """Parse and check a whole document; raises ConfigFileError listing every problem, or returns the plan."""
    return _Planner(document_parse(text, source), source).run()


# ------------------------------------------------------------------------------------------ applying


@contextmanager
def _reload_signals_muted() -> Iterator[None]:
    """Row saves normally each ask for a reload; an import asks once, at the end, for the whole file."""
    from backend.runs import signals as run_signals

    muted = [
        (signal, sender, run_signals.reload_after_config_save)
        for signal in (post_save, post_delete)
        for sender in (PipelineConfig, DataQualityRule, DataEnrichmentRule)
    ]
    muted.append((m2m_changed, PipelineConfig.depends_on.through, run_signals.reload_after_dependency_change))
    disconnected = [
        (signal, sender, receiver) for signal, sender, receiver in muted if signal.disconnect(receiver, sender=sender)
    ]
    try:
        yield
    finally:
        for signal, sender, receiver in disconnected:
            signal.connect(receiver, sender=sender)


def _import_save_order(rows: list[PlannedRow]) -> list[PlannedRow]:
    """Imports whose switch target is also being written come after that target where the chain allows."""
    by_name = {row.key[0]: row for row in rows}
    order: list[PlannedRow] = []
    placed: set[str] = set()
    for name in by_name:
        chain: list[str] = []
        current = name
        while current in by_name and current not in placed and current not in chain:
            chain.append(current)
            current = by_name[current].after[SWITCH_FIELD]
        for member in reversed(chain):
            placed.add(member)
            order.append(by_name[member])
    return order


def _apply_imports(rows: list[PlannedRow]) -> None:
    saved: dict[str, PipelineConfig] = {}

    def lookup(name: str | None) -> PipelineConfig | None:
        if name is None:
            return None
        return saved.get(name) or PipelineConfig.objects.filter(import_name=name).first()

    unresolved = []
    for row in _import_save_order(rows):
        target = lookup(row.after[SWITCH_FIELD])
        setattr(row.instance, SWITCH_FIELD, target)
        row.instance.save()
        saved[row.key[0]] = row.instance
        if row.after[SWITCH_FIELD] is not None and target is None:
            unresolved.append(row)
    for row in unresolved:
        setattr(row.instance, SWITCH_FIELD, lookup(row.after[SWITCH_FIELD]))
        row.instance.save()
    relinked = [row for row in rows if row.before is None or row.before["depends_on"] != row.after["depends_on"]]
    for row in relinked:
        row.instance.depends_on.clear()
    for row in relinked:
        row.instance.depends_on.add(*[lookup(name) for name in row.after["depends_on"]])


def configs_apply(plan: ImportPlan) -> dict[str, dict[str, int]]:
    """Write the plan in one transaction (only rows that change) and ask for one code-location reload."""
    from backend.runs import services

    changed = [row for row in plan.rows if row.action != "unchanged"]
    with transaction.atomic(), _reload_signals_muted():
        _apply_imports([row for row in changed if row.section.model is PipelineConfig])
        for row in changed:
            if row.section.model is not PipelineConfig:
                row.instance.save()
        if plan.needs_reload:
            services.code_location_reload_request()
    return plan.counts()


# ------------------------------------------------------------------------------------------ reporting


def _shown(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def plan_diff_lines(plan: ImportPlan) -> list[str]:
    """What an import would do, entry by entry, with each changed field as ``old -> new``."""
    lines = []
    for row in plan.rows:
        lines.append(f"{row.label}: {row.action}")
        lines.extend(f"    {name}: {_shown(old)} -> {_shown(new)}" for name, old, new in row.changes)
    return lines


def counts_line(counts: dict[str, dict[str, int]], *, planned: bool) -> str:
    words = ("to create", "to update", "unchanged") if planned else ("created", "updated", "unchanged")
    parts = []
    for section in SECTIONS:
        c = counts[section.key]
        numbers = ", ".join(
            f"{c[action]} {word}" for action, word in zip(("create", "update", "unchanged"), words, strict=True)
        )
        parts.append(f"{section.key.replace('_', ' ')}: {numbers}")
    return "; ".join(parts)
