"""Pure domain of reidkit: value objects, ports and ranking maths (stdlib, numpy and attrs only)."""
