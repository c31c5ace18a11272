"""Placeholder until its fixtures land."""
