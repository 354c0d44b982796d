"""The per-job pass, by step: gate, fold and fit, submit, confirm."""
