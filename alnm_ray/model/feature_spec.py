"""The feature-set grammar, parsed once into a :class:`FeatureSetSpec`.

A feature-set name is either *plain* -- ``+``-joined tokens whose columns are
concatenated into one table -- or *post-fusion*, ``post:`` followed by
``+``-joined plain names whose per-modality probabilities an SVM stacks.

Tokens of plain sets:

* ``radiomics`` -- PyRadiomics columns of the ``radiomics`` table;
* ``deep`` -- ``deep_*`` columns of the ``deep`` table;
* ``combined`` -- radiomics + deep (pre-fusion);
* ``clinical`` -- every feature column of the ``clinical`` table;
* any other table name -- all its feature columns (an imported table).

``all`` is not a set: ``alnm-ray tune`` expands it against the store's
feature tables (:func:`alnm_ray.tune.inputs.resolve_feature_sets`).

Example:
    >>> spec = FeatureSetSpec.parse("clinical+combined")
    >>> spec.tables, spec.kinds
    (('clinical', 'radiomics', 'deep'), (None, 'radiomics', 'deep'))
    >>> post = FeatureSetSpec.parse("post:clinical+radiomics")
    >>> post.is_fusion, post.members, post.tables
    (True, ('clinical', 'radiomics'), ('clinical', 'radiomics'))
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Union

from alnm_ray import constants as C
from alnm_ray.exceptions import ConfigError
from alnm_ray.select.columns import KIND_DEEP, KIND_RADIOMICS

#: Prefix of post-fusion set names.
POST_PREFIX = "post:"
#: Separator of the tokens of a set name.
TOKEN_SEP = "+"
#: Named tokens -> ``(source table, column kind or None for all feature columns)`` parts.
SET_TOKENS: MappingProxyType[str, tuple[tuple[str, str | None], ...]] = MappingProxyType({
    "radiomics": ((C.TABLE_RADIOMICS, KIND_RADIOMICS),),
    "deep": ((C.TABLE_DEEP, KIND_DEEP),),
    "combined": ((C.TABLE_RADIOMICS, KIND_RADIOMICS), (C.TABLE_DEEP, KIND_DEEP)),
    "clinical": ((C.TABLE_CLINICAL, None),),
})


@dataclass(frozen=True)
class FeaturePart:
    """One part of a plain set: the feature columns of one kind from one table.

    Attributes:
        token: The token of the set name it comes from (``combined`` gives two parts).
        table: Store table holding the columns.
        kind: Column kind (``radiomics``, ``deep``) or None for every feature column.
    """

    token: str
    table: str
    kind: str | None


def _tokens(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in str(text).split(TOKEN_SEP) if t.strip())


def _parts(tokens: Iterable[str]) -> tuple[FeaturePart, ...]:
    return tuple(FeaturePart(tok, table, kind) for tok in tokens
                 for table, kind in SET_TOKENS.get(tok, ((tok, None),)))


@dataclass(frozen=True)
class FeatureSetSpec:
    """A parsed feature-set name.  Build it with :meth:`parse`.

    Attributes:
        name: The name, stripped (``"clinical+radiomics"``, ``"post:clinical+deep"``).
        parts: Plain sets: ``(token, table, kind)`` of each part, in order
            (a repeated token repeats its parts).  Empty for post-fusion sets.
        members: Post-fusion sets: the component plain set names, in order.
            Empty for plain sets.
    """

    name: str
    parts: tuple[FeaturePart, ...] = ()
    members: tuple[str, ...] = ()

    @classmethod
    def parse(cls, name: Union[str, "FeatureSetSpec"]) -> FeatureSetSpec:
        """Parse a set name (a spec is returned as it is).

        Raises:
            ConfigError: An empty name, or a post-fusion set without two distinct components.

        Example:
            >>> FeatureSetSpec.parse(" radiomics ").parts
            (FeaturePart(token='radiomics', table='radiomics', kind='radiomics'),)
        """
        if isinstance(name, FeatureSetSpec):
            return name
        text = str(name).strip()
        if text.startswith(POST_PREFIX):
            members = _tokens(text[len(POST_PREFIX):])
            if len(members) < 2 or len(set(members)) != len(members):
                raise ConfigError(f"feature set {text!r}: a post-fusion set needs at least two distinct "
                                  "components; expected e.g. 'post:clinical+radiomics+deep'.")
            return cls(text, members=members)
        tokens = _tokens(text)
        if not tokens:
            raise ConfigError(f"feature set: expected a name like 'radiomics' or 'clinical+deep'; got {name!r}.")
        return cls(text, parts=_parts(tokens))

    @property
    def is_fusion(self) -> bool:
        """Whether this is a post-fusion set (``post:…``)."""
        return bool(self.members)

    @property
    def member_specs(self) -> tuple[FeatureSetSpec, ...]:
        """The post-fusion components, parsed (empty for a plain set)."""
        return tuple(FeatureSetSpec.parse(m) for m in self.members)

    @property
    def tables(self) -> tuple[str, ...]:
        """Store tables the set reads (post-fusion: those of every member), without repeats."""
        parts = self.parts or tuple(p for m in self.member_specs for p in m.parts)
        return tuple(dict.fromkeys(p.table for p in parts))

    @property
    def kinds(self) -> tuple[str | None, ...]:
        """Column kind of each table in :attr:`tables` (None: every feature column)."""
        parts = self.parts or tuple(p for m in self.member_specs for p in m.parts)
        first: dict[str, str | None] = {}
        for p in parts:
            first.setdefault(p.table, p.kind)
        return tuple(first[t] for t in self.tables)

    def __str__(self) -> str:
        return self.name


def tables_needed(specs: Iterable[str | FeatureSetSpec]) -> list[str]:
    """Store tables any of ``specs`` reads, in first-use order.

    Example:
        >>> tables_needed(["deep", "clinical+combined"])
        ['deep', 'clinical', 'radiomics']
    """
    return list(dict.fromkeys(t for s in specs for t in FeatureSetSpec.parse(s).tables))
