"""The core: policy, payload contracts, ports (Protocols), pure decisions and the use cases that take
ports as arguments. Imports no Azure SDK, no adapter, no devhost and not the wiring (tests/unit/test_import_rules.py)."""
