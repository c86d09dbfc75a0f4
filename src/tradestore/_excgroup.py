"""Reading the exception groups that Trio's nurseries raise (nested, one level per nursery)."""

from __future__ import annotations

from collections.abc import Iterator


def first_leaf(exc: BaseException) -> BaseException:
    """The first exception that is not a group, inside any nesting of groups."""
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


def leaves(exc: BaseException) -> Iterator[BaseException]:
    """Every exception that is not a group, in order, inside any nesting of groups."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from leaves(inner)
    else:
        yield exc
