"""Tools a model may call: one module per tool, each keeping the contract in `base`."""
