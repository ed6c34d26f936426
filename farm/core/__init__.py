"""Pure logic, usable from any process: no Docker, network, subprocess or browser library.

The scheduling, matrix, durations, results and report assembly live here so they can be read and
tested without a farm; tests/unit/test_architecture.py holds the rule.
"""
