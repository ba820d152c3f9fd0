"""`vsr eval` (owned by the models work; placeholder until it lands)."""
