"""The `farm` command: it parses, calls one function of farm.run or farm.infra, and prints."""
