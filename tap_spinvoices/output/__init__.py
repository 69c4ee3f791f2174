"""Singer output: the orjson message writer and the page fast path past the SDK per-record path."""
