"""Command-line flags derived from a configuration dataclass.

A config dataclass is the one home of each setting: its name, type, default, validation
and help. A field that should be settable from the command line carries ``cli(...)`` in
its metadata; ``add_flags`` spells those fields as ``--flag-name`` options and
``given_flags`` returns only the ones the user actually typed, so the dataclass defaults
(or a config file underneath) are never shadowed by a copy of them in the parser.

This module lives at the package root, not in ``cli``, because the dataclasses that carry
the metadata (the recorder's and the fake exchange's configs) must not import the CLI.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_KEY = "cli"


@dataclass(frozen=True, slots=True)
class FlagSpec:
    """How one config field is spelled on the command line."""

    help: str
    name: str | None = None  # default: --field-name
    metavar: str | None = None
    group: str | None = None  # an argparse argument group title
    # A converter from the typed text; its ValueError becomes a usage error naming the flag.
    parse: Callable[[str], Any] | None = None


def cli(
    help: str,  # noqa: A002 - argparse's own word
    *,
    name: str | None = None,
    metavar: str | None = None,
    group: str | None = None,
    parse: Callable[[str], Any] | None = None,
) -> dict[str, FlagSpec]:
    """Field metadata that makes a config field a command-line flag."""
    return {_KEY: FlagSpec(help, name, metavar, group, parse)}


def flag_name(field: dataclasses.Field) -> str:
    spec: FlagSpec = field.metadata[_KEY]
    return spec.name or "--" + field.name.replace("_", "-")


def add_flags(
    parser: argparse.ArgumentParser,
    config_class: type,
    *,
    shown_defaults: Mapping[str, Any] | None = None,
    group_titles: Mapping[str, str] | None = None,
) -> None:
    """Add a flag for every field of ``config_class`` that carries ``cli(...)`` metadata.

    Unset flags leave no attribute on the namespace (``argparse.SUPPRESS``), which is how
    ``given_flags`` tells "not given" from "given the default". ``shown_defaults`` replaces
    the default the help text shows (for a command that applies its own, e.g. a port).
    """
    shown_defaults = shown_defaults or {}
    groups: dict[str, Any] = {}
    for field in dataclasses.fields(config_class):
        spec: FlagSpec | None = field.metadata.get(_KEY)
        if spec is None:
            continue
        target = parser
        if spec.group is not None:
            if spec.group not in groups:
                title = (group_titles or {}).get(spec.group, spec.group)
                groups[spec.group] = parser.add_argument_group(title)
            target = groups[spec.group]
        default = shown_defaults.get(field.name, _default(field))
        kind = _kind(field)
        options: dict[str, Any] = {"dest": field.name, "default": argparse.SUPPRESS}
        if kind == "bool":
            # A flag turns a setting away from its default: --allow-remote, --no-wait.
            options["action"] = "store_false" if default else "store_true"
            text = spec.help
        else:
            options["type"] = _explained(spec.parse) if spec.parse else _converter(kind)
            options["metavar"] = spec.metavar or _metavar(kind)
            unset = default is None or default == ()
            text = spec.help if unset else f"{spec.help} (default: {_shown(default)})"
        target.add_argument(flag_name(field), help=text.replace("%", "%%"), **options)


def given_flags(args: argparse.Namespace, config_class: type) -> dict[str, Any]:
    """{field name: value} for the flags of ``config_class`` present on the command line."""
    return {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(config_class)
        if _KEY in f.metadata and hasattr(args, f.name)
    }


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def _kind(field: dataclasses.Field) -> str:
    kind = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", "")
    return kind.replace(" | None", "")


def _converter(kind: str) -> Callable[[str], Any]:
    converters: dict[str, Callable[[str], Any]] = {
        "int": int,
        "float": float,
        "str": str,
        "Path": Path,
        "tuple[str, ...]": str,  # comma-separated; the dataclasses split and validate it
    }
    try:
        return converters[kind]
    except KeyError:
        raise TypeError(f"no command-line converter for a field of type {kind!r}") from None


def _explained(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """``parse`` with its ValueError's own message in argparse's usage error."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = getattr(parse, "__name__", "value")
    return convert


def off_if_zero(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """A converter for settings where the number 0 means "off" (None in the config)."""

    def convert(text: str) -> Any:
        value = parse(text)
        return None if value == 0 else value

    convert.__name__ = getattr(parse, "__name__", "value")
    return convert


def _metavar(kind: str) -> str:
    return {"int": "N", "float": "X", "Path": "PATH", "tuple[str, ...]": "A,B"}.get(kind, "TEXT")


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)
