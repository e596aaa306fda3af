"""A statement's `Action`/`NotAction` and `Resource`/`NotResource`, compiled for matching.

Actions match case-insensitively (`lambda:invokefunction` is `lambda:InvokeFunction`), resources
case-sensitively; both take `*` and `?` anywhere, a `*` spanning `:` and `/`. A `Resource` may hold
policy variables (2012-10-17 documents): an entry whose variable has no value in the request
matches nothing, and a `NotResource` whose variable has no value cannot say what it excludes, so
its statement does not apply (`UnresolvedVariable`).
"""

from __future__ import annotations

from collections.abc import Sequence

from ember.iam.conditions import UnresolvedVariable
from ember.iam.variables import Lookup, Template
from ember.iam.wildcards import Glob, has_wildcard


class ActionMatcher:
    """`Action` (or, negated, `NotAction`) of one statement."""

    __slots__ = ("patterns", "negated", "_any", "_exact", "_globs")

    def __init__(self, patterns: Sequence[str], *, negated: bool = False) -> None:
        self.patterns = tuple(patterns)
        self.negated = negated
        self._any = "*" in self.patterns
        self._exact = frozenset(pattern.lower() for pattern in self.patterns if not has_wildcard(pattern))
        self._globs = tuple(Glob(pattern, ignore_case=True) for pattern in self.patterns if has_wildcard(pattern))

    def names(self, action: str) -> bool:
        """Does the element list `action` (before any negation)?"""
        return self._any or action.lower() in self._exact or any(glob.matches(action) for glob in self._globs)

    def matches(self, action: str) -> bool:
        """Does the statement apply to `action`?"""
        return self.names(action) != self.negated


class ResourceMatcher:
    """`Resource` (or, negated, `NotResource`) of one statement."""

    __slots__ = ("patterns", "negated", "_any", "_fixed", "_templates")

    def __init__(self, patterns: Sequence[str], *, negated: bool = False, variables: bool = True) -> None:
        self.patterns = tuple(patterns)
        self.negated = negated
        templates = [Template(pattern, variables=variables) for pattern in self.patterns]
        self._any = "*" in self.patterns
        self._fixed = tuple(Glob(template.text) for template in templates if not template.has_variables)
        self._templates = tuple(template for template in templates if template.has_variables)

    def names(self, resource: str, lookup: Lookup) -> bool:
        """Does the element list `resource` (before any negation)?"""
        if self._any or any(glob.matches(resource) for glob in self._fixed):
            return True
        for template in self._templates:
            pieces = template.resolve(lookup)
            if pieces is None:
                if self.negated:
                    raise UnresolvedVariable(template.text)
                continue
            if Glob(pieces).matches(resource):
                return True
        return False

    def matches(self, resource: str, lookup: Lookup) -> bool:
        """Does the statement apply to `resource`? Raises UnresolvedVariable (see the module)."""
        return self.names(resource, lookup) != self.negated
