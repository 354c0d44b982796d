"""The base every trigger model shares."""

from pydantic import BaseModel, ConfigDict


class Wire(BaseModel):
    """Base: keep keys we do not model (the platform adds fields over time)."""

    # defer_build: a schema is built the first time a model validates, so an invocation pays only
    # for the trigger shapes it actually receives (cold start, bench/cold_import.py).
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True, defer_build=True)
