"""Checks on scripts (programs that run and exit): output lines timestamped as they arrive."""

from __future__ import annotations
