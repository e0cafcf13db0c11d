"""Placeholder replaced in this session."""

import argparse
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("requirements", help="(in progress)")
    p.set_defaults(handler=lambda args: 2)
