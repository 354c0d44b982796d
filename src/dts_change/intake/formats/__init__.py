"""One module per change-document format, each with one `parse(...)` entry."""
