"""From an invocation's bytes to change requests: trigger models, the split into envelopes,
reading bodies (inline, OSS object, `FileOssUrl`), format detection, one parser per format,
routing to a job."""
