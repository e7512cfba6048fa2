"""Use-cases of reidkit: they talk only to the ports of ``reidkit.domain``."""
