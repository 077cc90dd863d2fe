"""The generation engine: one place runs an answer from first byte to final write."""
