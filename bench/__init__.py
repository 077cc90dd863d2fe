"""The benchmark: what the relay costs, side by side with the upstream (`python -m bench`)."""
