"""The stream's defaults, apart from the code that uses them: the command
line builds its options (and their help) from these without importing
numpy, pyarrow or nats-py, which a capture without --stream never needs."""

# producer (capture --stream)
DEFAULT_SPOOL_DIR = "/var/tmp/pyxring-spool"
DEFAULT_SPOOL_BYTES = 1_000_000_000
DEFAULT_MEMORY_BYTES = 64_000_000
DEFAULT_WAIT = 10.0
DEFAULT_DUPLICATE_WINDOW = 600.0

# collector (pyxring collect)
DEFAULT_DURABLE = "pyxring-collect"
DEFAULT_WINDOW = 2.0
DEFAULT_COMMIT_INTERVAL = 1.0
