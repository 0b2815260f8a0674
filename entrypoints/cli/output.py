"""What every command shares: its type, and how it prints results and refusals."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TypeAlias

import msgspec

from entrypoints.settings import Settings

__all__ = ["Handler", "Subcommands", "fail", "print_json"]

# What add_subparsers returns, as argparse names it; each command adds its own parser to it.
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Handler: TypeAlias = Callable[[Settings, argparse.Namespace], int]  # runs a command; returns its exit status


def print_json(value: object) -> None:
    """One JSON line on stdout, flushed at once so a pipe sees each line as it comes."""
    sys.stdout.buffer.write(msgspec.json.encode(value) + b"\n")
    sys.stdout.flush()


def fail(where: str, problem: object, status: int) -> int:
    """Say on stderr what went wrong (``where: problem``) and give the exit status to return."""
    print(f"{where}: {problem}", file=sys.stderr)
    return status
