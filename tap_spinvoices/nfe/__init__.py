"""Brazilian NF-e documents read through nfelib's bindings (pure functions over bytes)."""
