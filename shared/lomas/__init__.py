"""Lomas core layer: domain types, ports, services, DP engines and adapters."""
