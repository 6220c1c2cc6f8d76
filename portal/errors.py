"""Domain errors: each carries a stable code, which is also its translation key."""

from __future__ import annotations


class PortalError(Exception):
    """A business rule rejected an action; `code` names the rule, `params` the values."""

    def __init__(self, code: str, **params: object) -> None:
        super().__init__(f"{code} {params}" if params else code)
        self.code = code
        self.params = params


class NotFound(PortalError):
    """The object does not exist or is not visible to the caller; both look the same."""

    def __init__(self, what: str) -> None:
        super().__init__("error.not_found", what=what)


class Problems(PortalError):
    """Several problems found by one check, reported together."""

    def __init__(self, problems: list[PortalError]) -> None:
        super().__init__("error.problems", count=len(problems))
        self.problems = problems
