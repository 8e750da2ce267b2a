"""Library helpers behind the notebooks, one module per group of findings (each tested)."""
