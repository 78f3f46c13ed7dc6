"""Composition root of the admin function: one Context per cold start."""

from functions.common.wiring import ContextHolder, from_environment

deps = ContextHolder(from_environment)
