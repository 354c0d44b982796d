"""What survives an invocation: the ledger of changes, its stores and the dead letters."""
