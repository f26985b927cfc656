"""The run-folder contract: what an artifact is (name, producing stage, caption) and a registry of them.

The rows are declared next to the stage bodies that produce them (``causalvae.pipeline``'s stage modules,
carried by the stages' rows of ``STAGE_TABLE``); the pipeline assembles them into one
:class:`ArtifactRegistry` and hands it to its ``export`` stage (which refuses to write an artifact the
registry does not list) and to the report (which reads what is listed and says which stage failed when
an expected file is missing), so the two cannot drift apart.  Names are the keys of
``RunContext.effects`` / ``graphs`` / ``tables``; a name ending in ``*`` is a family (``circuit_*``: one
graph per factor and part).  Stages are the names of ``status.json``.

>>> registry = ArtifactRegistry([ArtifactSpec.graph("circuit_*", "Circuit").of_stage("circuits")])
>>> registry.spec("graph", "circuit_posX_encoder").path
'graphs/circuit_posX_encoder'
>>> registry.spec("table", "assignments") is None
True
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace

#: Where each kind of artifact lives in a run folder, and its file suffixes.
FOLDERS = {"effect": ("effects", (".npz", ".csv")), "graph": ("graphs", (".graphml", ".dot", ".json", ".svg")),
           "table": ("tables", (".csv",)), "figure": ("figures", (".png",))}
#: Where a new artifact is declared (named in the error for an undeclared one).
DECLARED_IN = "the artifacts of the stage that produces it (its stage module, carried by its row of STAGE_TABLE)"


@dataclass(frozen=True)
class ArtifactSpec:
    """One artifact (or family ``name*``) of a run folder.

    ``expected``: a run whose stage finished must have written it (its absence marks the stage as
    incomplete in the report); ``sort_by``: table columns to sort rows by, most important first.
    A stage module declares its artifacts with :meth:`effect`, :meth:`graph`, :meth:`table` and
    :meth:`figure` (``stage`` left empty); the stage's row binds them to its name (:meth:`of_stage`).
    """

    kind: str
    name: str
    stage: str
    title: str
    caption: str = ""
    expected: bool = False
    sort_by: tuple[str, ...] = ()

    @classmethod
    def effect(cls, name: str, title: str, caption: str, *, expected: bool = False) -> ArtifactSpec:
        """An effect matrix (``effects/<name>.npz`` and ``.csv``), written by export from ``ctx.effects``."""
        return cls("effect", name, "", title, caption, expected)

    @classmethod
    def graph(cls, name: str, title: str, caption: str = "", *, expected: bool = False) -> ArtifactSpec:
        """A graph (``graphs/<name>.graphml``, ``.dot``, ``.json`` and, when small, ``.svg``) from ``ctx.graphs``."""
        return cls("graph", name, "", title, caption, expected)

    @classmethod
    def table(cls, name: str, title: str, caption: str, *, expected: bool = False,
              sort_by: Iterable[str] = ()) -> ArtifactSpec:
        """A table (``tables/<name>.csv``), written by export from ``ctx.tables``."""
        return cls("table", name, "", title, caption, expected, tuple(sort_by))

    @classmethod
    def figure(cls, name: str, title: str, caption: str) -> ArtifactSpec:
        """A figure (``figures/<name>.png``), written by the stage itself."""
        return cls("figure", name, "", title, caption)

    def of_stage(self, stage: str) -> ArtifactSpec:
        """This artifact, produced by ``stage`` (refused when it is declared for another stage).

        >>> ArtifactSpec.table("motifs", "Motifs", "Counts.").of_stage("motifs_and_classes").stage
        'motifs_and_classes'
        """
        if self.stage not in ("", stage):
            raise ValueError(f"{self.kind} {self.name!r} is declared for stage {self.stage!r}, not {stage!r}")
        return replace(self, stage=stage)

    @property
    def path(self) -> str:
        """Path inside the run folder, without suffix."""
        return f"{FOLDERS[self.kind][0]}/{self.name}"

    def matches(self, name: str) -> bool:
        return fnmatch.fnmatchcase(name, self.name)


@dataclass(frozen=True)
class ArtifactRegistry:
    """The artifacts a run folder may hold, each named once, in the order given (the report's order).

    >>> registry = ArtifactRegistry((
    ...     ArtifactSpec.effect("factor_latent", "factor × latent", "Response", expected=True).of_stage("input"),
    ...     ArtifactSpec.effect("factor_unit", "factor × unit", "Response", expected=True).of_stage("input"),
    ...     ArtifactSpec.table("circuits", "Circuits", "Per factor.").of_stage("circuits"),
    ...     ArtifactSpec.graph("circuit_*", "Circuit").of_stage("circuits")))
    >>> registry.spec("table", "circuits").stage
    'circuits'
    >>> list(registry.of_kind("effect"))
    ['factor_latent', 'factor_unit']
    >>> ArtifactRegistry((ArtifactSpec.table("circuits", "Circuits", ""),))
    Traceback (most recent call last):
    ...
    ValueError: table 'circuits' names no stage: declare it in the artifacts of a stage's row
    """

    specs: tuple[ArtifactSpec, ...]

    def __post_init__(self) -> None:
        specs = tuple(self.specs)
        object.__setattr__(self, "specs", specs)
        seen: dict[tuple[str, str], str] = {}
        for s in specs:
            if s.kind not in FOLDERS:
                raise ValueError(f"artifact {s.name!r}: kind must be one of {sorted(FOLDERS)}, got {s.kind!r}")
            if not s.stage:
                raise ValueError(f"{s.kind} {s.name!r} names no stage: declare it in the artifacts of a stage's row")
            if (s.kind, s.name) in seen:
                raise ValueError(f"{s.kind} {s.name!r} is declared twice (stages {seen[s.kind, s.name]!r} "
                                 f"and {s.stage!r})")
            seen[s.kind, s.name] = s.stage

    def __iter__(self) -> Iterator[ArtifactSpec]:
        return iter(self.specs)

    def __len__(self) -> int:
        return len(self.specs)

    def spec(self, kind: str, name: str) -> ArtifactSpec | None:
        """The entry of artifact ``name`` of ``kind`` (a family entry named after it), or None."""
        if kind not in FOLDERS:
            raise ValueError(f"kind must be one of {sorted(FOLDERS)}, got {kind!r}")
        found = next((s for s in self.specs if s.kind == kind and s.matches(name)), None)
        return found if found is None or found.name == name else replace(found, name=name)

    def of_kind(self, kind: str) -> dict[str, ArtifactSpec]:
        """Entries of one kind, by name, in registry order (families included)."""
        return {s.name: s for s in self.specs if s.kind == kind}

    def check_registered(self, produced: Mapping[str, Iterable[str]]) -> None:
        """Raise if a stage produced an artifact the registry does not list.

        ``produced`` maps a kind to the names produced (e.g. ``{"table": ctx.tables}``).

        >>> registry = ArtifactRegistry((ArtifactSpec.table("circuits", "Circuits", "").of_stage("circuits"),))
        >>> registry.check_registered({"table": ["circuits"]})
        >>> registry.check_registered({"table": ["assignments"]})
        Traceback (most recent call last):
        ...
        ValueError: table 'assignments' is not in the run-folder registry: add it to the artifacts of the stage that produces it (its stage module, carried by its row of STAGE_TABLE) with its title and caption
        """
        for kind, names in produced.items():
            for name in names:
                if self.spec(kind, name) is None:
                    raise ValueError(f"{kind} {name!r} is not in the run-folder registry: add it to {DECLARED_IN} "
                                     "with its title and caption")

    def unproduced(self, produced: Mapping[str, Iterable[str]], done_stages: Iterable[str]) -> list[ArtifactSpec]:
        """Expected artifacts of finished stages that were not produced (declarations that drifted).

        >>> registry = ArtifactRegistry((
        ...     ArtifactSpec.effect("factor_latent", "", "", expected=True).of_stage("input_manipulation"),
        ...     ArtifactSpec.effect("factor_unit", "", "", expected=True).of_stage("input_manipulation")))
        >>> [s.name for s in registry.unproduced({"effect": ["factor_latent"]}, ["input_manipulation"])]
        ['factor_unit']
        """
        done = set(done_stages)
        names = {kind: set(values) for kind, values in produced.items()}
        return [s for s in self.specs if s.expected and s.stage in done and s.kind in names
                and not any(s.matches(n) for n in names[s.kind])]
