"""dts-change-handler: merge schema changes into Alibaba Cloud DTS job object lists safely."""

__version__ = "0.1.0"

__all__ = ["__version__"]
