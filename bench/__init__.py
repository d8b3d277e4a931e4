"""Benchmarks and load tools (issue 8): farms, runners, profiles."""
