"""Command-line flags generated from config dataclasses: one flag per field, its help from the field."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any, Literal, get_args, get_origin


def add_dataclass_flags(parser: argparse.ArgumentParser, cls: type, group: str) -> None:
    g = parser.add_argument_group(group)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        tp, help_ = hints[f.name], f.metadata.get("help", "")
        default = f.default if f.default is not dataclasses.MISSING else None
        if tp is bool:
            g.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_)
        elif get_origin(tp) is Literal:
            g.add_argument(flag, choices=get_args(tp), default=default, help=f"{help_} (default: {default})")
        else:
            base = next((a for a in get_args(tp) if a is not type(None)), tp)  # `int | None` -> int
            g.add_argument(flag, type=base, default=default, help=f"{help_} (default: {default})")


def from_flags(cls: type, args: argparse.Namespace) -> Any:
    return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})
