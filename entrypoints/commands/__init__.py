"""One module per ``reidkit`` subcommand, each with ``register(subparsers)`` and ``run(args) -> int``."""
